"""Run configurations: load `path.py[:arg]`, apply `--config.KEY=VALUE` overrides, validate.

A config file is Python with `get_config(arg=None)` returning an `ml_collections.ConfigDict`
(big_vision style: one file can describe a family of runs through `arg`). Files usually start
from `default_config()` and change what differs; keys a file leaves out take the defaults below,
keys the defaults do not know are an error (typos), except under the free-form `meta` section.

The `model` section is `name` plus the keys of that model (nc_mixup.models: its Module's fields,
with their defaults); keys of other models are unknown keys. Overriding `model.name` on the
command line starts that section from the new model's defaults.

Command-line overrides are coerced to the type of the value they replace (bool, int, float, str,
tuple); `mixup.layer` takes an int or a layer name. Every value must be finite. Every problem
raises `ConfigError` (a ValueError) naming the offending key, or the config file and line; the
CLI prints it as one line and exits 2.
"""

from __future__ import annotations

import ast
import importlib.util
import json
import math
import pathlib
import traceback
from collections.abc import Iterable, Mapping
from typing import Any

import ml_collections


class ConfigError(ValueError):
    """Bad user input to a run (a config key, a config file, a workdir): one line naming it.

    The library raises it; only the CLI turns it into exit status 2.
    """


DATASET_NAMES = ("fashion_mnist", "mnist", "cifar10", "cifar100", "svhn_cropped")
DATA_SOURCES = ("auto", "tfds", "raw")
LOSS_NAMES = ("ce", "mse")
OPTIMIZER_NAMES = ("sgd", "adam", "adamw")
DECAY_MASKS = ("all", "no_classifier_bias", "deit")  # see nc_mixup/decay_mask.py
SCHEDULE_NAMES = ("constant", "multistep", "cosine")
DTYPES = ("float32", "bfloat16")

# Keys whose value may be an int or a string.
_INT_OR_STR = {"mixup.layer"}
# Sections whose contents are free-form (not checked against the defaults).
_FREE_FORM = {"meta"}


def default_config() -> ml_collections.ConfigDict:
    """Every key a run reads, with its default value."""
    c = ml_collections.ConfigDict()
    c.seed = 0

    c.dataset = ml_collections.ConfigDict()
    c.dataset.name = "fashion_mnist"
    c.dataset.n_per_class = 0  # training examples per class; 0 = all
    c.dataset.test_n_per_class = 0  # 0 = all
    c.dataset.data_dir = ""  # TFDS data_dir ('' = TFDS default)
    c.dataset.raw_dir = ""  # folder with the original raw files ('' = known places)
    c.dataset.source = "auto"  # 'auto' | 'tfds' | 'raw'
    c.dataset.image_size = 0  # 0 = native; e.g. 32 pads FashionMNIST 28 -> 32
    c.dataset.augment = False  # shorthand for augment.crop_padding=4 and augment.flip=True
    c.dataset.subset_seed = 0  # seed of the class-balanced subsets (same across training seeds)

    c.augment = ml_collections.ConfigDict()  # training batches only (nc_mixup/data/augment.py)
    c.augment.crop_padding = 0  # pad by this many black pixels, random crop back; 0 = off
    c.augment.flip = False  # random horizontal flip

    # The model: `name` (a key of nc_mixup.models.MODELS) and that model's own keys, whose
    # defaults are its Module's fields (e.g. mlp: width 1024, depth 3; wide_resnet: depth 40,
    # widen 10, dropout 0.0), filled in when the config is resolved (`resolve_model`).
    c.model = ml_collections.ConfigDict()
    c.model.name = "mlp"

    c.mixup = ml_collections.ConfigDict()
    c.mixup.alpha = 1.0  # lambda ~ Beta(alpha, alpha); 0 disables mixup
    c.mixup.per_example = False  # one lambda per example instead of per batch
    c.mixup.layer = 0  # 0 = input; k = output of the k-th named block; or a layer name

    c.loss = "ce"  # 'ce' | 'mse'

    c.optimizer = ml_collections.ConfigDict()
    c.optimizer.name = "sgd"  # 'sgd' | 'adam' | 'adamw'
    c.optimizer.learning_rate = 0.1
    c.optimizer.weight_decay = 5e-4  # sgd/adam: L2 added to the gradient; adamw: decoupled
    c.optimizer.momentum = 0.9  # sgd
    c.optimizer.nesterov = False  # sgd
    c.optimizer.decay_mask = "all"  # which parameters are decayed: 'all' | 'no_classifier_bias'
    #                                 | 'deit' (see nc_mixup/decay_mask.py)

    c.schedule = ml_collections.ConfigDict()
    c.schedule.name = "cosine"  # 'constant' | 'multistep' | 'cosine'
    c.schedule.warmup_epochs = 0.0  # linear warm-up from 0
    c.schedule.milestones = ()  # multistep: epochs at which lr *= decay_factor
    c.schedule.decay_factor = 0.1

    c.batch_size = 128  # global, over all devices and processes
    c.num_epochs = 10
    c.fixed_etf = False  # classifier frozen to a simplex ETF (b = 0)
    c.etf_norm = 1.0  # norm of each ETF classifier row
    c.dtype = "float32"  # compute dtype: 'float32' | 'bfloat16' (params and loss stay float32)

    c.checkpoint_every_epochs = 1  # 0 = only at the end (and on interruption)
    c.snapshot_epochs = ()  # epochs whose checkpoints are kept forever (0 = initialisation)
    c.eval_every_epochs = 1  # 0 = only at the end
    c.log_every_steps = 50

    c.meta = ml_collections.ConfigDict()  # free-form: experiment name, notes, ...
    return c


# --------------------------------------------------------------------------------------------
# Loading


def load_config(spec: str) -> ml_collections.ConfigDict:
    """The ConfigDict of `spec` = 'path/to/file.py[:arg]', merged onto `default_config()`.

    A bare name (e.g. 'smoke') is looked up as experiments/configs/NAME.py.
    """
    path_str, arg = spec, None
    if ":" in spec:
        head, tail = spec.rsplit(":", 1)
        if head.endswith(".py") or not spec.endswith(".py"):
            path_str, arg = head, tail
    path = pathlib.Path(path_str)
    if not path.exists() and "/" not in path_str:
        candidate = pathlib.Path(__file__).resolve().parents[1] / "experiments" / "configs"
        candidate = candidate / (path_str if path_str.endswith(".py") else f"{path_str}.py")
        if candidate.exists():
            path = candidate
    if not path.is_file():
        raise ConfigError(f"config file not found: {path_str}")
    module_spec = importlib.util.spec_from_file_location(f"_nc_mixup_config_{path.stem}", path)
    if module_spec is None or module_spec.loader is None:
        raise ConfigError(f"cannot load config file {path}")
    module = importlib.util.module_from_spec(module_spec)
    try:
        module_spec.loader.exec_module(module)
    except SyntaxError as e:
        raise ConfigError(f"config file {path}, line {e.lineno}: syntax error: {e.msg}") from None
    except Exception as e:  # noqa: BLE001 - any error of the user's file, named with its line
        raise ConfigError(_user_code_error(path, "loading it", e)) from None
    if not hasattr(module, "get_config"):
        raise ConfigError(f"config file {path} has no get_config(arg=None)")
    try:
        cfg = module.get_config(arg) if arg is not None else module.get_config()
    except ConfigError as e:
        raise ConfigError(f"config file {path} with arg {arg!r}: {e}") from None
    except Exception as e:  # noqa: BLE001
        raise ConfigError(_user_code_error(path, f"get_config({arg!r})", e)) from None
    if not isinstance(cfg, Mapping) and not hasattr(cfg, "to_dict"):
        raise ConfigError(
            f"config file {path}: get_config({arg!r}) returned {type(cfg).__name__}, "
            "expected an ml_collections.ConfigDict"
        )
    return merge_onto_defaults(cfg, source=str(path))


def _user_code_error(path: pathlib.Path, doing: str, error: BaseException) -> str:
    """'config file F, line N: while D: ErrorType: message' (the deepest frame in F)."""
    line = None
    for frame in traceback.extract_tb(error.__traceback__):
        if pathlib.Path(frame.filename).resolve() == path.resolve():
            line = frame.lineno
    where = f", line {line}" if line is not None else ""
    message = str(error).splitlines()[0] if str(error) else ""
    return f"config file {path}{where}: {doing} raised {type(error).__name__}: {message}"


def merge_onto_defaults(
    cfg: Mapping[str, Any] | Any, source: str = "config", *, legacy_model_keys: bool = False
) -> Any:
    """`cfg` (ConfigDict or nested dict) on top of the defaults, types coerced, validated.

    `legacy_model_keys`: drop `model` keys the named model does not have (a config.json of the
    time when one flat `model` section served every architecture) instead of refusing them.
    """
    values = cfg.to_dict() if hasattr(cfg, "to_dict") else dict(cfg)
    values = dict(values)
    model = values.pop("model", None)
    merged = default_config().to_dict()
    _merge(merged, values, prefix="", source=source)
    merged["model"] = resolve_model(model or {}, source, drop_unknown=legacy_model_keys)
    validate(merged)
    return ml_collections.ConfigDict(merged)


def resolve_model(
    model: Mapping[str, Any] | Any, source: str = "config", *, drop_unknown: bool = False
) -> dict[str, Any]:
    """A `model` section with every key of its model: the model's defaults (from its Module,
    nc_mixup.models) overlaid with `model`'s values, coerced to the defaults' types."""
    from nc_mixup.models import MODELS, model_defaults

    values = model.to_dict() if hasattr(model, "to_dict") else dict(model)
    name = values.get("name", default_config().model.name)
    if name not in MODELS:
        raise ConfigError(
            f"invalid value for config key 'model.name': {name!r} "
            f"(expected one of {', '.join(MODELS)})"
        )
    resolved = {"name": name, **model_defaults(name)}
    for key, value in values.items():
        if key == "name":
            continue
        if key not in resolved:
            if drop_unknown:
                continue
            raise ConfigError(
                f"unknown config key 'model.{key}' (in {source}): model {name!r} has "
                f"{', '.join(k for k in resolved if k != 'name')}"
            )
        resolved[key] = _coerce(f"model.{key}", value, resolved[key])
    return resolved


def _merge(into: dict, values: Mapping[str, Any], prefix: str, source: str) -> None:
    for key, value in values.items():
        full = f"{prefix}{key}"
        if prefix.rstrip(".") in _FREE_FORM:
            into[key] = value
            continue
        if key not in into:
            raise ConfigError(f"unknown config key '{full}' (in {source})")
        if isinstance(into[key], dict):
            if not isinstance(value, Mapping):
                raise ConfigError(f"config key '{full}' is a section, got {value!r}")
            _merge(into[key], value, prefix=f"{full}.", source=source)
        else:
            into[key] = _coerce(full, value, into[key])


# --------------------------------------------------------------------------------------------
# Overrides


def parse_overrides(extra: Iterable[str]) -> list[tuple[str, str]]:
    """[(key, value)] from '--config.KEY=VALUE' or '--config.KEY VALUE' command-line words."""
    words, pairs = list(extra), []
    i = 0
    while i < len(words):
        word = words[i]
        if not word.startswith("--config."):
            raise ConfigError(f"unrecognized argument: {word}")
        body = word[len("--config.") :]
        if "=" in body:
            key, value = body.split("=", 1)
        elif i + 1 < len(words) and not words[i + 1].startswith("--config."):
            key, value = body, words[i + 1]
            i += 1
        else:
            raise ConfigError(f"config override '{body}' has no value (use --config.{body}=VALUE)")
        if not key:
            raise ConfigError(f"empty config key in {word!r}")
        pairs.append((key, value))
        i += 1
    return pairs


def apply_overrides(
    config: ml_collections.ConfigDict,
    overrides: Mapping[str, Any] | Iterable[tuple[str, Any]] | Iterable[str],
) -> ml_collections.ConfigDict:
    """A new config with the overrides applied, coerced and validated.

    `overrides`: '--config.KEY=VALUE' words, or (dotted key, value) pairs / a mapping, where a
    string value is parsed as on the command line and any other value is used as it is.
    """
    items = list(overrides.items()) if isinstance(overrides, Mapping) else list(overrides)
    if items and isinstance(items[0], str):
        items = parse_overrides(items)  # type: ignore[arg-type]
    values = config.to_dict()
    values["model"] = resolve_model(values.get("model", {}))
    # A new model.name starts from that model's defaults; the other model.* overrides of the
    # same call apply on top (whatever their order).
    for key, raw in items:
        if key == "model.name":
            name = raw.strip() if isinstance(raw, str) else raw
            if name != values["model"]["name"]:
                values["model"] = resolve_model({"name": name})
    for key, raw in items:
        if key == "model.name":
            continue
        parent, leaf = _locate(values, key)
        if leaf in parent and isinstance(parent[leaf], dict):
            raise ConfigError(f"config key '{key}' is a section, not a value")
        current = parent.get(leaf)
        value = _parse_string(key, raw, current) if isinstance(raw, str) else raw
        parent[leaf] = _coerce(key, value, current)
    validate(values)
    return ml_collections.ConfigDict(values)


def _locate(values: dict, key: str) -> tuple[dict, str]:
    parts = key.split(".")
    node = values
    for i, part in enumerate(parts[:-1]):
        sub = node.get(part)
        if not isinstance(sub, dict):
            raise ConfigError(f"unknown config key '{key}'")
        node = sub
        if ".".join(parts[: i + 1]) in _FREE_FORM:
            return _free_form_parent(node, parts[i + 1 :], key)
    if parts[-1] not in node:
        raise ConfigError(f"unknown config key '{key}'")
    return node, parts[-1]


def _free_form_parent(node: dict, parts: list[str], key: str) -> tuple[dict, str]:
    for part in parts[:-1]:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise ConfigError(f"config key '{key}': '{part}' is a value, not a section")
    return node, parts[-1]


def _parse_string(key: str, raw: str, current: Any) -> Any:
    """A command-line string as a value of the type of `current`."""
    text = raw.strip()
    if key in _INT_OR_STR:
        try:
            return int(text)
        except ValueError:
            return text
    if isinstance(current, bool):
        low = text.lower()
        if low in ("true", "1", "yes", "on"):
            return True
        if low in ("false", "0", "no", "off"):
            return False
        raise ConfigError(f"invalid value for config key '{key}': {raw!r} is not a bool")
    if isinstance(current, int):
        try:
            return int(text)
        except ValueError:
            raise ConfigError(
                f"invalid value for config key '{key}': {raw!r} is not an int"
            ) from None
    if isinstance(current, float):
        try:
            return float(text)
        except ValueError:
            raise ConfigError(
                f"invalid value for config key '{key}': {raw!r} is not a number"
            ) from None
    if isinstance(current, tuple | list):
        if text in ("", "()", "[]"):
            return ()
        if text[0] in "([":
            try:
                parsed = ast.literal_eval(text)
            except (ValueError, SyntaxError):
                raise ConfigError(
                    f"invalid value for config key '{key}': {raw!r} is not a tuple"
                ) from None
            return tuple(parsed) if isinstance(parsed, tuple | list) else (parsed,)
        return tuple(_parse_scalar(part.strip()) for part in text.split(",") if part.strip())
    if isinstance(current, str):
        return raw
    return _parse_scalar(text)


def _parse_scalar(text: str) -> Any:
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def _coerce(key: str, value: Any, default: Any) -> Any:
    """`value` as the type of `default` (int -> float, list -> tuple); ConfigError if impossible."""
    bad = ConfigError(
        f"invalid value for config key '{key}': {value!r} "
        f"(expected {type(default).__name__}, like the default {default!r})"
    )
    if key in _INT_OR_STR:
        if isinstance(value, bool) or not isinstance(value, int | str):
            raise ConfigError(f"invalid value for config key '{key}': {value!r} (int or name)")
        return value
    if default is None:
        return value
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise bad
        return value
    if isinstance(default, int):
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer():
                return int(value)
            raise bad
        return value
    if isinstance(default, float):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise bad
        return float(value)
    if isinstance(default, str):
        if not isinstance(value, str):
            raise bad
        return value
    if isinstance(default, tuple | list):
        if not isinstance(value, tuple | list):
            raise bad
        return tuple(value)
    return value


# --------------------------------------------------------------------------------------------
# Validation


def validate(config: Mapping[str, Any] | Any) -> None:
    """Checks names and ranges of every key; raises ConfigError naming the first bad key."""
    c = config.to_dict() if hasattr(config, "to_dict") else config
    _check_finite(c, "")

    def get(key: str) -> Any:
        node = c
        for part in key.split("."):
            node = node[part]
        return node

    def fail(key: str, why: str) -> None:
        raise ConfigError(f"invalid value for config key '{key}': {get(key)!r} ({why})")

    def one_of(key: str, names: tuple[str, ...]) -> None:
        if get(key) not in names:
            fail(key, f"expected one of {', '.join(names)}")

    def at_least(key: str, low: float) -> None:
        if get(key) < low:
            fail(key, f"must be >= {low}")

    one_of("dataset.name", DATASET_NAMES)
    one_of("dataset.source", DATA_SOURCES)
    for key in ("dataset.n_per_class", "dataset.test_n_per_class", "dataset.image_size"):
        at_least(key, 0)

    at_least("augment.crop_padding", 0)

    from nc_mixup.models import model_config_problems

    for key, why in model_config_problems(get("model")):
        node = get("model")
        shown = repr(node[key]) if key in node else "(not set)"
        if why.startswith("unknown key"):
            raise ConfigError(f"unknown config key 'model.{key}': {why}")
        raise ConfigError(f"invalid value for config key 'model.{key}': {shown} ({why})")

    at_least("mixup.alpha", 0.0)
    layer = get("mixup.layer")
    if isinstance(layer, int) and layer < 0:
        fail("mixup.layer", "must be >= 0 or a layer name")
    one_of("loss", LOSS_NAMES)

    one_of("optimizer.name", OPTIMIZER_NAMES)
    at_least("optimizer.learning_rate", 0.0)
    at_least("optimizer.weight_decay", 0.0)
    if not 0.0 <= get("optimizer.momentum") < 1.0:
        fail("optimizer.momentum", "must be in [0, 1)")
    one_of("optimizer.decay_mask", DECAY_MASKS)

    one_of("schedule.name", SCHEDULE_NAMES)
    at_least("schedule.warmup_epochs", 0.0)
    milestones = get("schedule.milestones")
    if any(not isinstance(m, int | float) or m < 0 for m in milestones) or list(
        milestones
    ) != sorted(milestones):
        fail("schedule.milestones", "must be increasing non-negative epochs")
    if get("schedule.decay_factor") <= 0:
        fail("schedule.decay_factor", "must be > 0")

    at_least("batch_size", 1)
    at_least("num_epochs", 1)
    if get("fixed_etf") and get("etf_norm") <= 0:
        fail("etf_norm", "must be > 0")
    one_of("dtype", DTYPES)
    at_least("checkpoint_every_epochs", 0)
    at_least("eval_every_epochs", 0)
    at_least("log_every_steps", 1)
    if any(isinstance(e, bool) or not isinstance(e, int) or e < 0 for e in get("snapshot_epochs")):
        fail("snapshot_epochs", "must be non-negative integer epochs")


def _check_finite(tree: Mapping[str, Any], prefix: str) -> None:
    """ConfigError naming the first key (outside 'meta') holding NaN or an infinity."""
    for key, value in tree.items():
        full = f"{prefix}{key}"
        if full in _FREE_FORM:
            continue
        if isinstance(value, Mapping):
            _check_finite(value, f"{full}.")
            continue
        values = value if isinstance(value, tuple | list) else (value,)
        for v in values:
            if isinstance(v, float) and not math.isfinite(v):
                raise ConfigError(
                    f"invalid value for config key '{full}': {value!r} (must be finite)"
                )


# --------------------------------------------------------------------------------------------
# JSON


def to_json(config: ml_collections.ConfigDict) -> str:
    """The resolved config as pretty JSON (tuples become lists)."""
    return json.dumps(config.to_dict(), indent=2, sort_keys=True) + "\n"


def from_json(text: str) -> ml_collections.ConfigDict:
    """Inverse of `to_json` (lists become tuples again where the defaults have tuples)."""
    return merge_onto_defaults(json.loads(text), source="config.json", legacy_model_keys=True)
