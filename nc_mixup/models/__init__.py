"""The networks: `create_model(model_config, num_classes, dtype)` picks one by `model.name`.

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

from typing import Any

import flax.linen as nn
import jax.numpy as jnp

from nc_mixup.models.cnn import CNN
from nc_mixup.models.mlp import MLP
from nc_mixup.models.vit import ViT
from nc_mixup.models.wide_resnet import WideResNet

MODELS = ("mlp", "cnn", "wide_resnet", "vit")


def _get(cfg: Any, key: str, default: Any) -> Any:
    """cfg.key for a ConfigDict, a dict or any object; `default` when absent."""
    if isinstance(cfg, dict):
        return cfg.get(key, default)
    try:
        return cfg[key]
    except (KeyError, TypeError, AttributeError):
        return getattr(cfg, key, default)


def create_model(model_config: Any, num_classes: int, dtype: Any = jnp.float32) -> nn.Module:
    """The model `model_config.name` with the sizes in `model_config` (unused keys ignored)."""
    name = _get(model_config, "name", None)
    g = lambda key, default: _get(model_config, key, default)
    if name == "mlp":
        return MLP(num_classes, width=g("width", 1024), depth=g("depth", 3), dtype=dtype)
    if name == "cnn":
        return CNN(
            num_classes,
            width=g("width", 32),
            depth=g("depth", 2),
            norm=g("norm", "none"),
            dense=g("dense", 0),
            dtype=dtype,
        )
    if name == "wide_resnet":
        return WideResNet(
            num_classes,
            depth=g("depth", 40),
            widen=g("widen", 10),
            dropout=g("dropout", 0.0),
            dtype=dtype,
        )
    if name == "vit":
        return ViT(
            num_classes,
            patch_size=g("patch_size", 4),
            width=g("width", 768),
            depth=g("depth", 12),
            num_heads=g("num_heads", 12),
            mlp_dim=g("mlp_dim", 3072),
            dropout=g("dropout", 0.0),
            dtype=dtype,
        )
    raise ValueError(f"unknown model {name!r}: expected one of {MODELS}")


__all__ = ["CNN", "MLP", "MODELS", "ViT", "WideResNet", "create_model"]
