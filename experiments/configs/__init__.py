"""Config files (big_vision style): each `NAME.py` defines `get_config(arg=None)`.

One file describes a family of runs through its argument string, e.g.
`experiments/configs/quick.py:loss=mse,opt=adam`. This package holds the two helpers the files
share: `parse_arg` (the argument string -> typed values) and `load` (a `FILE.py[:ARG]` spec -> the
resolved ConfigDict, exactly as `nc-mixup train --config` reads it: `nc_mixup.config`).
"""

from __future__ import annotations

import pathlib
from typing import Any

import ml_collections

CONFIG_DIR = pathlib.Path(__file__).resolve().parent
REPO_ROOT = CONFIG_DIR.parents[1]

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def _convert(key: str, text: str, default: Any) -> Any:
    """Converts one `key=text` value to the type of its default."""
    if isinstance(default, bool):
        low = text.lower()
        if low in _TRUE:
            return True
        if low in _FALSE:
            return False
        raise ValueError(f"config arg {key}={text!r}: expected a boolean (1/0/true/false)")
    if isinstance(default, int):
        return int(text)
    if isinstance(default, float):
        return float(text)
    return text


def parse_arg(arg: str | None, **defaults: Any) -> ml_collections.ConfigDict:
    """Parses `"k1=v1,k2=v2"` into a ConfigDict of `defaults` updated with typed values.

    Every key must be one of `defaults` (a typo fails loudly); values take the type of the default
    (bool accepts 1/0/true/false). `None` or `""` returns the defaults.
    """
    out = dict(defaults)
    for item in filter(None, (arg or "").split(",")):
        if "=" not in item:
            raise ValueError(f"config arg {item!r}: expected KEY=VALUE")
        key, text = item.split("=", 1)
        key = key.strip()
        if key not in defaults:
            raise ValueError(f"config arg {key!r}: unknown, expected one of {sorted(defaults)}")
        out[key] = _convert(key, text.strip(), defaults[key])
    return ml_collections.ConfigDict(out)


def resolve_path(path: str | pathlib.Path) -> pathlib.Path:
    """A config file path as given, else relative to the repository root, else by bare name."""
    candidates = [pathlib.Path(path), REPO_ROOT / path, CONFIG_DIR / pathlib.Path(path).name]
    for candidate in candidates:
        if candidate.is_file():
            return candidate.resolve()
    raise FileNotFoundError(f"config file {path!s} not found (looked in . and {REPO_ROOT})")


def split_spec(spec: str) -> tuple[str, str | None]:
    """`"dir/NAME.py:ARG"` -> `("dir/NAME.py", "ARG")`; `"dir/NAME.py"` -> `(..., None)`."""
    path, sep, arg = spec.partition(".py:")
    if sep:
        return path + ".py", arg
    return spec, None


def load(spec: str) -> ml_collections.ConfigDict:
    """Loads `FILE.py[:ARG]` exactly as `nc-mixup train --config` does (defaults merged, checked).

    A relative FILE is looked up from the working directory, then from the repository root.
    """
    from nc_mixup.config import load_config

    path, arg = split_spec(spec)
    file = resolve_path(path)
    return load_config(str(file) if arg is None else f"{file}:{arg}")
