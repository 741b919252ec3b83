"""A run's workdir: the checks before anything is written, and who owns it.

A workdir belongs to one run (`claim_workdir`): config.json is written once, by the run that
starts in it, and a rerun with a config that differs in anything but `RUN_NEUTRAL_KEYS` is
refused naming the keys (unless the user allows the change, which is then recorded in
config_changes.jsonl). `check_workdir` refuses a workdir that is a file or not writable before
anything starts; `remove_orbax_leftovers` deletes the temporary folders of aborted saves.
"""

from __future__ import annotations

import json
import os
import pathlib
import shutil
import sys
import tempfile
from collections.abc import Mapping
from typing import Any

import ml_collections
from etils import epath

from nc_mixup import config as config_lib
from nc_mixup.checkpointing import CHECKPOINT_DIR
from nc_mixup.config import ConfigError
from nc_mixup.metrics_writer import is_local

CONFIG_FILE = "config.json"


def check_workdir(workdir: epath.Path) -> None:
    """ConfigError unless `workdir` is (or can become) a writable folder. Local paths only: a
    temporary file is created and removed in it (or in its nearest existing parent)."""
    if not is_local(workdir):
        return
    path = pathlib.Path(os.fspath(workdir))
    if path.exists() and not path.is_dir():
        raise ConfigError(f"workdir {path} is a file, not a folder")
    existing = path
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise ConfigError(f"workdir {path}: {existing} is a file, not a folder")
    try:
        fd, probe = tempfile.mkstemp(prefix=".nc_mixup_write_test_", dir=existing)
        os.close(fd)
        os.remove(probe)
    except OSError as e:
        raise ConfigError(f"workdir {path}: {existing} is not writable ({e.strerror})") from None


# Keys a rerun may change without changing what is trained (where the data is read from, how
# often things are logged, evaluated and saved), and the free-form 'meta' section.
RUN_NEUTRAL_KEYS = (
    "dataset.data_dir",
    "dataset.raw_dir",
    "dataset.source",
    "log_every_steps",
    "eval_every_epochs",
    "checkpoint_every_epochs",
)
# Keys whose change no flag allows: the checkpoint's state or data position would not fit.
STRUCTURAL_KEYS = (
    "model.",
    "optimizer.name",
    "dataset.name",
    "dataset.image_size",
    "dataset.n_per_class",
    "dataset.subset_seed",
    "batch_size",
)
CONFIG_CHANGES_FILE = "config_changes.jsonl"


def config_differences(
    old: ml_collections.ConfigDict, new: ml_collections.ConfigDict
) -> dict[str, tuple[Any, Any]]:
    """{dotted key: (old value, new value)} for the keys (not run-length neutral) that differ."""
    flat_old = _flatten(json.loads(config_lib.to_json(old)))
    flat_new = _flatten(json.loads(config_lib.to_json(new)))
    out = {}
    for key in sorted(set(flat_old) | set(flat_new)):
        if key in RUN_NEUTRAL_KEYS or key.startswith("meta."):
            continue
        a, b = flat_old.get(key), flat_new.get(key)
        if a != b:
            out[key] = (a, b)
    return out


def _flatten(tree: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out = {}
    for key, value in tree.items():
        if isinstance(value, Mapping):
            out.update(_flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def claim_workdir(
    workdir: epath.Path,
    config: ml_collections.ConfigDict,
    *,
    resuming: bool,
    allow_config_change: bool,
    main: bool,
) -> None:
    """Makes sure `workdir` belongs to `config`, then writes config.json if it is new (`main`:
    this process writes).

    A workdir belongs to one run: resuming with a config that differs in anything but
    RUN_NEUTRAL_KEYS raises ConfigError naming the keys, unless `allow_config_change` (e.g. to
    extend num_epochs; never for STRUCTURAL_KEYS), in which case config.json keeps the original
    and the change is appended to config_changes.jsonl. config.json of a run with a checkpoint is
    never rewritten; a workdir without a checkpoint holds no run yet and starts over.
    """
    path = workdir / CONFIG_FILE
    if resuming and path.exists():
        try:
            old = config_lib.from_json(path.read_text())
        except (ValueError, OSError) as e:
            raise ConfigError(f"{path}: unreadable ({e}); refusing to resume over it") from None
        diff = config_differences(old, config)
        structural = [k for k in diff if k.startswith(STRUCTURAL_KEYS)]
        if structural and allow_config_change:
            raise ConfigError(
                f"{workdir} holds a run whose checkpoints do not fit a different "
                f"{', '.join(structural)}; use a new workdir"
            )
        if diff and not allow_config_change:
            keys = ", ".join(f"{k} ({a!r} -> {b!r})" for k, (a, b) in diff.items())
            raise ConfigError(
                f"{workdir} holds a run with a different config: {keys}. Use a new workdir, "
                "or --allow-config-change to continue this run under the new settings"
            )
        if diff and main:
            record = {"changes": {k: [a, b] for k, (a, b) in diff.items()}}
            line = json.dumps(record, default=list) + "\n"
            changes = workdir / CONFIG_CHANGES_FILE
            previous = changes.read_text() if changes.exists() else ""
            changes.write_text(previous + line)
            print(
                f"nc-mixup train: note: continuing under changed config ({', '.join(diff)}); "
                f"recorded in {changes}, {path} is unchanged",
                file=sys.stderr,
            )
        return
    if main:
        write_config(workdir, config)


def write_config(workdir: epath.Path, config: ml_collections.ConfigDict) -> None:
    """WORKDIR/config.json, written atomically: locally through a temporary file and a rename;
    elsewhere (gs://) directly, since an object appears only once its upload is complete and
    object stores rename by copying."""
    text = config_lib.to_json(config)
    path = workdir / CONFIG_FILE
    if not is_local(path):
        path.write_text(text)
        return
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def remove_orbax_leftovers(workdir: epath.Path) -> None:
    """Deletes the temporary folders of checkpoint saves that were aborted (a second Ctrl-C):
    orbax never resumes or cleans them, and a complete checkpoint is never such a folder."""
    directory = workdir / CHECKPOINT_DIR
    if not is_local(directory) or not directory.is_dir():
        return
    for child in directory.iterdir():
        if ".orbax-checkpoint-tmp" in child.name and child.is_dir():
            shutil.rmtree(os.fspath(child), ignore_errors=True)
