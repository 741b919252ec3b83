"""The networks, by name: `MODELS` is the registry, `create_model(model_config, num_classes,
dtype)` builds one from its config section.

A config's `model` section is `name` plus the keyword fields of that model's Module (big_vision
style, `Model(num_classes=..., **config.model)`): e.g. {'name': 'mlp', 'width': 1024, 'depth': 3}.
Each model module owns its defaults (its dataclass fields) and its rules (an optional
`config_problems(values)` staticmethod returning (key, why) pairs); `model_config_problems`
checks a section against them, so a typo (`model.widht`) is an error naming the key. Adding an
architecture: one file defining the Module, one line in `MODELS` (docs/architecture.md).

Every model is a Flax linen Module with the same interface (see docs/architecture.md):

    model.layer_names       # hidden capture/mix points, in order (not 'input', not 'penultimate')
    model.apply(variables, x, train=False, mix=None, capture=False, rngs=..., mutable=...)
        -> logits, or (logits, feats) with feats[name] for every name in layer_names and
           'penultimate' (the classifier's input)

`mix` (a nc_mixup.mixup.MixSpec) mixes the activations at one point: 'input' (or 0), a name in
layer_names, or 'penultimate'; the features captured there are the mixed ones. The classifier is
one Dense layer named 'classifier' with bias; logits and penultimate features are float32 whatever
the compute `dtype`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import flax.linen as nn
import jax.numpy as jnp

from nc_mixup.models.cnn import CNN
from nc_mixup.models.mlp import MLP
from nc_mixup.models.vit import ViT
from nc_mixup.models.wide_resnet import WideResNet

# The registry: config name -> Module class. The only list of architectures.
MODELS: dict[str, type[nn.Module]] = {
    "mlp": MLP,
    "cnn": CNN,
    "wide_resnet": WideResNet,
    "vit": ViT,
}
# Module fields that are not config keys: set by create_model, or by Flax itself.
_NOT_CONFIG = ("num_classes", "dtype", "parent", "name")


def model_class(name: str) -> type[nn.Module]:
    """The Module class registered as `name`; ValueError naming the known ones otherwise."""
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}: expected one of {', '.join(MODELS)}")
    return MODELS[name]


def model_defaults(name: str) -> dict[str, Any]:
    """{key: default} of model `name`'s config keys (its Module's fields with a default)."""
    out = {}
    for field in dataclasses.fields(model_class(name)):
        if field.name in _NOT_CONFIG or not field.init:
            continue
        if field.default is dataclasses.MISSING:
            raise TypeError(f"model {name!r}: field {field.name!r} needs a default")
        out[field.name] = field.default
    return out


def _items(model_config: Any) -> dict[str, Any]:
    """A ConfigDict, dict or object with attributes as a plain dict."""
    if hasattr(model_config, "to_dict"):
        return model_config.to_dict()
    if isinstance(model_config, Mapping):
        return dict(model_config)
    return dict(vars(model_config))


def model_config_problems(model_config: Any) -> list[tuple[str, str]]:
    """(key, why) for each problem of a `model` section: unknown keys (not fields of the named
    model), sizes (int keys with a default >= 1) < 1, dropout outside [0, 1), and the model's own
    `config_problems`."""
    values = _items(model_config)
    name = values.get("name")
    if name not in MODELS:
        return [("name", f"expected one of {', '.join(MODELS)}")]
    defaults = model_defaults(name)
    problems = [
        (key, f"unknown key for model {name!r} (its keys: {', '.join(defaults)})")
        for key in values
        if key != "name" and key not in defaults
    ]
    if problems:
        return problems
    merged = {**defaults, **values}
    for key, default in defaults.items():
        value = merged[key]
        if isinstance(default, bool) or not isinstance(default, int | float):
            continue
        if key == "dropout" or key.endswith("_rate"):
            if not 0.0 <= value < 1.0:
                problems.append((key, "must be in [0, 1)"))
        elif isinstance(default, int) and default >= 1 and value < 1:  # a size
            problems.append((key, "must be >= 1"))
    check = getattr(MODELS[name], "config_problems", None)
    if check is not None and not problems:
        problems += list(check(merged))
    return problems


def create_model(model_config: Any, num_classes: int, dtype: Any = jnp.float32) -> nn.Module:
    """Model `model_config['name']` with its config keys (the rest take the module's defaults).

    Raises ValueError for an unknown name or key.
    """
    values = _items(model_config)
    name = values.pop("name", None)
    cls = model_class(name)
    defaults = model_defaults(name)
    unknown = sorted(set(values) - set(defaults))
    if unknown:
        raise ValueError(f"model {name!r} has no config key(s) {', '.join(unknown)}")
    kwargs = {**defaults, **values}
    if "dtype" in {f.name for f in dataclasses.fields(cls)}:
        kwargs["dtype"] = dtype
    return cls(num_classes=num_classes, **kwargs)


__all__ = [
    "CNN",
    "MLP",
    "MODELS",
    "ViT",
    "WideResNet",
    "create_model",
    "model_class",
    "model_config_problems",
    "model_defaults",
]
