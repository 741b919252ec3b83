"""Datasets for nc-mixup: uint8 arrays from TFDS or the raw files, and a numpy input pipeline.

    images, labels = load_dataset("fashion_mnist", "train")          # uint8 NHWC, int32
    x, y, xt, yt, info = get_datasets(config.dataset)                # float32, preprocessed

Importing this package never imports TensorFlow; only the TFDS source does (`tfds_source`).
"""

from __future__ import annotations

import dataclasses
import os
import pathlib
from typing import Any

import numpy as np

from nc_mixup.data import raw
from nc_mixup.data.pipeline import class_balanced_subset, preprocess
from nc_mixup.data.registry import (
    DATASETS,
    SPLITS,
    DatasetError,
    DatasetInfo,
    check_split,
    get_info,
)

__all__ = [
    "DATASETS",
    "DEBIAN_DIRS",
    "SOURCES",
    "SPLITS",
    "DatasetError",
    "DatasetInfo",
    "Source",
    "default_tfds_dir",
    "get_datasets",
    "get_info",
    "load_dataset",
    "locate",
]

SOURCES = ("auto", "tfds", "raw")

# Where Debian packages put the raw files (`apt-get install dataset-fashion-mnist`).
DEBIAN_DIRS = {"fashion_mnist": pathlib.Path("/usr/share/datasets/fashion-mnist")}


def default_tfds_dir() -> str:
    """TFDS's default data_dir: $TFDS_DATA_DIR, else ~/tensorflow_datasets."""
    return os.environ.get("TFDS_DATA_DIR") or os.path.expanduser("~/tensorflow_datasets")


def _how_to_get(info: DatasetInfo) -> str:
    return (
        f"get the raw files ({info.raw_hint}) and pass raw_dir, or build a TFDS copy with "
        f"`nc-mixup data prepare {info.name} --raw-dir DIR --data-dir DIR` and pass data_dir"
    )


def _load_tfds(name: str, split: str, data_dir: str | None, download: bool):
    from nc_mixup.data import tfds_source  # imports TensorFlow

    return tfds_source.load_tfds(name, split, data_dir=data_dir, download=download)


@dataclasses.dataclass(frozen=True)
class Source:
    """Where a split is read from: kind 'tfds' (a TFDS data_dir; None is TFDS's default) or
    'raw' (a folder of original files); `download`: a TFDS download may be tried first."""

    kind: str
    location: str | None
    download: bool = False

    def describe(self) -> str:
        if self.kind == "raw":
            return f"raw files in {self.location}"
        where = self.location or f"the default TFDS data_dir ({default_tfds_dir()})"
        return f"{'a TFDS download into ' if self.download else 'TFDS data in '}{where}"


def locate(
    name: str,
    split: str,
    *,
    data_dir: str | os.PathLike | None = None,
    raw_dir: str | os.PathLike | None = None,
    source: str = "auto",
    download: bool = True,
) -> Source:
    """Where `load_dataset` (same arguments) reads the split from, decided without reading it.

    An explicitly given folder is never skipped silently: in 'auto' mode, without a prepared
    TFDS copy, a `raw_dir` that does not exist or lacks the files is an error naming it (not a
    fall back to the Debian folder or a download); so is a `data_dir` without a prepared copy
    and no `raw_dir` (unless `download`, which downloads into it).

    Raises DatasetError as `load_dataset` does when nothing is found.
    """
    info = get_info(name)
    check_split(split)
    if source not in SOURCES:
        raise DatasetError(f"unknown source {source!r}; known sources: {', '.join(SOURCES)}")
    data_dir = os.fspath(data_dir) if data_dir else None
    raw_dir = pathlib.Path(raw_dir).expanduser() if raw_dir else None

    if source == "tfds":
        where = data_dir or default_tfds_dir()
        if not download and not _is_remote(where) and not _has_prepared(info, where):
            raise DatasetError(  # decided here, without importing TensorFlow
                f"{name}: no prepared TFDS dataset in {where} (no {_prepared_marker(info)}); "
                f"build one offline with `nc-mixup data prepare {name} --raw-dir DIR "
                f"--data-dir {where}` (raw files: {info.raw_hint})"
            )
        return Source("tfds", data_dir, download)
    debian = DEBIAN_DIRS.get(name)
    if source == "raw":
        folder = raw_dir or debian
        if folder is None:
            raise DatasetError(f"source='raw' needs raw_dir for {name}; {_how_to_get(info)}")
        return Source("raw", str(folder))

    tfds_dir = data_dir or default_tfds_dir()
    if _is_remote(tfds_dir) or _has_prepared(info, tfds_dir):
        return Source("tfds", tfds_dir)
    looked = [f"TFDS data in {tfds_dir}"]
    if raw_dir is not None:  # the user's folder: used, or an error naming it
        if raw.has_raw(name, split, raw_dir):
            return Source("raw", str(raw_dir))
        looked.append(f"raw files in {raw_dir} ({_why_not_raw(info, split, raw_dir)})")
        raise DatasetError(_not_found(info, split, looked))
    if data_dir is not None:  # the user's TFDS folder: a download into it, or an error
        looked[0] += f" ({_why_not_prepared(info, data_dir)})"
    elif debian is not None:
        if raw.has_raw(name, split, debian):
            return Source("raw", str(debian))
        looked.append(f"raw files in {debian}")
    if download:
        return Source("tfds", data_dir, download=True)
    raise DatasetError(_not_found(info, split, looked))


def _why_not_prepared(info: DatasetInfo, data_dir: str) -> str:
    folder = pathlib.Path(data_dir)
    if not folder.exists():
        return "no such folder"
    if not folder.is_dir():
        return "not a folder"
    return f"no {_prepared_marker(info)}"


def _why_not_raw(info: DatasetInfo, split: str, folder: pathlib.Path) -> str:
    if not folder.exists():
        return "no such folder"
    if not folder.is_dir():
        return "not a folder"
    if not any(folder.iterdir()):
        return "the folder is empty"
    return f"expected {', '.join(info.raw_files[split])}"


def _not_found(info: DatasetInfo, split: str, looked: list[str]) -> str:
    return (
        f"{info.name} {split} not found; looked for {'; '.join(looked)}. "
        f"To get it: {_how_to_get(info)}"
        + (" (or `apt-get install dataset-fashion-mnist`)" if info.name == "fashion_mnist" else "")
    )


def load_dataset(
    name: str,
    split: str,
    *,
    data_dir: str | os.PathLike | None = None,
    raw_dir: str | os.PathLike | None = None,
    source: str = "auto",
    download: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """One split of a dataset as (images uint8 (N, H, W, C), labels int32 (N,)).

    Args:
      name: 'fashion_mnist', 'mnist', 'cifar10', 'cifar100' or 'svhn_cropped'.
      split: 'train' or 'test'.
      data_dir: a TFDS data_dir (local or gs://) holding a prepared copy.
      raw_dir: a folder with the original files (see `nc_mixup.data.raw`).
      source: 'tfds' (prepared TFDS data; downloaded if `download`), 'raw' (raw files in
        `raw_dir`, or the Debian location), or 'auto': prepared TFDS data in `data_dir` (or the
        default TFDS dir) if there, else raw files in `raw_dir` (an error if that folder lacks
        them), else (without `data_dir`) the Debian location, else a TFDS download (if
        `download`).
      download: whether the TFDS paths may download. A download fails fast (no retries) when
        the network is unreachable, and a failed one leaves nothing behind.

    `locate` (same arguments) says which source this reads, without reading it.
    Returned arrays are read-only when they come from the in-process cache; copy to modify.
    Raw files keep their original order; TFDS data prepared by `nc-mixup data prepare` too
    (TFDS's own downloads use TFDS's shuffled order).

    Raises:
      DatasetError: unknown name/split/source, data not found (the message says where we looked
        and how to get it), or corrupt files (the message names the file and the problem).
    """
    where = locate(
        name, split, data_dir=data_dir, raw_dir=raw_dir, source=source, download=download
    )
    if where.kind == "raw":
        return raw.load_raw(name, split, where.location)
    if not where.download or source == "tfds":
        return _load_tfds(name, split, where.location, where.download)
    try:  # 'auto' found nothing local: the download is the last resort
        return _load_tfds(name, split, where.location, download=True)
    except DatasetError as e:
        tfds_dir = os.fspath(data_dir) if data_dir else default_tfds_dir()
        looked = [f"TFDS data in {tfds_dir}"]
        if data_dir is None and DEBIAN_DIRS.get(name) is not None:
            looked.append(f"raw files in {DEBIAN_DIRS[name]}")
        looked.append(f"a TFDS download ({e})")
        raise DatasetError(_not_found(get_info(name), split, looked)) from None


def _is_remote(path: str) -> bool:
    return "://" in path


def _prepared_marker(info: DatasetInfo) -> str:
    return f"{info.name}/{info.tfds_version}/dataset_info.json"


def _has_prepared(info: DatasetInfo, data_dir: str) -> bool:
    """Whether `data_dir` holds a prepared TFDS copy of `info` (checked without TensorFlow)."""
    return (pathlib.Path(data_dir) / _prepared_marker(info)).is_file()


def _check_subset_size(key: str, n: int, labels: np.ndarray, num_classes: int, what: str) -> None:
    """DatasetError naming config `key` if `n` examples per class cannot be drawn from
    `labels` (0 means all)."""
    if n < 0:
        raise DatasetError(f"config key {key!r}: must be >= 0 (0 = all), got {n}")
    counts = np.bincount(labels, minlength=num_classes)
    if n and len(counts) and counts.min() < n:
        c = int(counts.argmin())
        raise DatasetError(
            f"config key {key!r}: {n} per class, but class {c} of {what} has only "
            f"{int(counts[c])} examples"
        )


def get_datasets(
    dataset_config: Any, *, seed: int | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, DatasetInfo]:
    """Train and test arrays ready for training, from a `config.dataset` ConfigDict (or dict).

    Reads `name`, `data_dir`, `raw_dir`, `source`, `n_per_class`, `test_n_per_class`,
    `image_size` (see docs/architecture.md). The class-balanced subsets are drawn from `seed`
    (default: `dataset_config.subset_seed` if set, else 0), so the subset is the same across
    training seeds.

    Augmentation (`augment`) is not applied here: pass it to `pipeline.EpochIterator`, which
    draws it per (seed, epoch, step).

    Returns:
      (train_images, train_labels, test_images, test_labels, info): images float32 NHWC,
      normalised and padded/resized; labels int32; `info` is the dataset's `DatasetInfo` with
      `image_shape` set to the shape of the returned images.
    """
    cfg = dataset_config
    name = cfg["name"]
    kwargs = dict(
        data_dir=cfg.get("data_dir") or None,
        raw_dir=cfg.get("raw_dir") or None,
        source=cfg.get("source") or "auto",
    )
    if seed is None:
        seed = int(cfg.get("subset_seed", 0) or 0)
    image_size = int(cfg.get("image_size", 0) or 0)
    out = []
    for split, key in (("train", "n_per_class"), ("test", "test_n_per_class")):
        images, labels = load_dataset(name, split, **kwargs)
        n = int(cfg.get(key, 0) or 0)
        _check_subset_size(
            f"dataset.{key}", n, labels, get_info(name).num_classes, f"{name} {split}"
        )
        images, labels = class_balanced_subset(images, labels, n, seed)
        out += [preprocess(images, name, image_size=image_size), np.asarray(labels, np.int32)]
    info = dataclasses.replace(get_info(name), image_shape=tuple(out[0].shape[1:]))
    return out[0], out[1], out[2], out[3], info
