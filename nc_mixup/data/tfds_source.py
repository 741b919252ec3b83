"""TensorFlow Datasets: read prepared data, and prepare it offline from the raw files.

This is the only module of nc-mixup that imports TensorFlow, and it does so lazily, hiding every
GPU from TensorFlow first (the accelerators belong to JAX).

`prepare(name, raw_dir, data_dir)` writes a real TFDS dataset without any network access. It
cannot use the registered builders' download step: they fetch the original archives and check
their registered checksums, and e.g. the Debian FashionMNIST files are re-compressed, so their
.gz bytes differ while the decoded arrays are the originals. Instead it subclasses the registered
builder (same name, version, features, description and citation), replaces only the
download/generation step with one that yields our decoded raw arrays, and writes with the
ordinary TFDS writer into `data_dir/NAME/VERSION/`. Two differences from a TFDS download:
the examples keep the raw files' order (`disable_shuffling=True`), and the description records
the provenance and the content hash of each split. What is verified is the content, not the
compressed bytes: the number of examples per split, and where `DatasetInfo.sha256` knows the
hash of the real arrays (FashionMNIST), that hash; afterwards the written dataset is read back
and must hash to the same value.
"""

from __future__ import annotations

import functools
import io
import os
import pathlib
import shutil
import socket
import tempfile
import threading
from typing import Any

import numpy as np

from nc_mixup.data import default_tfds_dir, raw
from nc_mixup.data.registry import SPLITS, DatasetError, check_split, get_info


@functools.cache
def _tfds():
    """Imports tensorflow (hiding its GPUs) and tensorflow_datasets; returns the tfds module."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    try:
        tf.config.set_visible_devices([], "GPU")
    except (RuntimeError, ValueError):  # devices already initialised: already CPU-only for us
        pass
    import tensorflow_datasets as tfds

    return tfds


# ----------------------------------------------------------------------------- reading


def is_prepared(name: str, data_dir: str | None) -> bool:
    """Whether `data_dir` (default: TFDS's) holds the prepared dataset `name`."""
    tfds = _tfds()
    return tfds.builder(name, data_dir=data_dir).is_prepared()


def _one_line(e: BaseException) -> str:
    text = str(e).strip()
    return f"{type(e).__name__}: {text.splitlines()[0] if text else ''}"


# What a TFDS download needs to reach first (its mirror of the datasets' files).
DOWNLOAD_HOST = ("storage.googleapis.com", 443)


def _offline_reason(timeout: float = 5.0) -> str | None:
    """None if DOWNLOAD_HOST answers within `timeout` seconds, else why not (one line).

    Checked before a download so that an offline machine fails in seconds instead of sitting
    in TFDS's download retries for minutes."""
    result: list[str | None] = []

    def probe() -> None:
        try:
            socket.create_connection(DOWNLOAD_HOST, timeout=timeout).close()
            result.append(None)
        except OSError as e:
            result.append(f"{type(e).__name__}: {e}")

    thread = threading.Thread(target=probe, daemon=True)  # name resolution has no timeout
    thread.start()
    thread.join(timeout + 1.0)
    if not result:
        return f"no answer from {DOWNLOAD_HOST[0]} in {timeout:g} s"
    return None if result[0] is None else f"{DOWNLOAD_HOST[0]} unreachable ({result[0]})"


def _snapshot(data_dir: str) -> dict[pathlib.Path, set[str]]:
    """The entries of the folders a TFDS download writes into (local data_dir only)."""
    root = pathlib.Path(data_dir)
    folders = [root, root / "downloads", root / "downloads" / "extracted"]
    return {f: set(os.listdir(f)) if f.is_dir() else set() for f in folders}


def _remove_new(before: dict[pathlib.Path, set[str]], data_dir_existed: bool) -> None:
    """Removes what a failed download added to the folders of `before` (deepest first)."""
    for folder in sorted(before, key=lambda f: len(f.parts), reverse=True):
        if not folder.is_dir():
            continue
        for name in set(os.listdir(folder)) - before[folder]:
            path = folder / name
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
    root = min(before, key=lambda f: len(f.parts))
    if not data_dir_existed and root.is_dir() and not any(root.iterdir()):
        root.rmdir()


def _download(name: str, data_dir: str | None) -> None:
    """TFDS's own download_and_prepare of `name`, if it is not already in `data_dir`.

    Fails fast (DatasetError, one line with the offline alternative) when the network is
    unreachable; a failed download removes what it wrote into a local data_dir."""
    info = get_info(name)
    where = data_dir or default_tfds_dir()
    offline = (
        f"build it offline with `nc-mixup data prepare {name} --raw-dir DIR --data-dir DIR` "
        f"(raw files: {info.raw_hint})"
    )
    tfds = _tfds()
    try:
        builder = tfds.builder(name, data_dir=data_dir)
        if builder.is_prepared():
            return
    except Exception as e:  # a bad data_dir, a gs:// path without credentials, ...
        raise DatasetError(f"{name}: TFDS data_dir {where}: {_one_line(e)}") from e
    reason = _offline_reason()
    if reason is not None:
        raise DatasetError(
            f"{name}: not in {where} and no network to download it ({reason}); " + offline
        )
    local = "://" not in where
    existed = local and os.path.isdir(where)
    before = _snapshot(where) if local else None
    try:
        builder.download_and_prepare()
    except BaseException as e:  # no disk space, a lost connection, Ctrl-C: leave nothing
        if before is not None:
            _remove_new(before, existed)
        if not isinstance(e, Exception):
            raise
        raise DatasetError(
            f"{name}: TFDS download into {where} failed: {_one_line(e)}; " + offline
        ) from e


@functools.lru_cache(maxsize=8)
def _load_cached(name: str, split: str, data_dir: str | None):
    tfds = _tfds()
    info = get_info(name)
    where = data_dir or "the default TFDS data_dir"
    try:
        builder = tfds.builder(name, data_dir=data_dir)
        if not builder.is_prepared():
            raise DatasetError(
                f"{name}: no prepared TFDS dataset in {where}; build one offline with "
                f"`nc-mixup data prepare {name} --raw-dir DIR --data-dir DIR` "
                f"(raw files: {info.raw_hint})"
            )
        ds = builder.as_dataset(split=split, batch_size=-1, as_supervised=True, shuffle_files=False)
        images, labels = tfds.as_numpy(ds)
    except DatasetError:
        raise
    except Exception as e:  # TFDS/TF raise many kinds; keep the message, drop the traceback
        raise DatasetError(f"{name} {split} via TFDS ({where}): {_one_line(e)}") from e
    images = np.asarray(images, np.uint8)
    if images.ndim == 3:
        images = images[..., None]
    images.flags.writeable = False
    labels = np.asarray(labels, np.int32)
    labels.flags.writeable = False
    return images, labels


def load_tfds(
    name: str, split: str, *, data_dir: str | os.PathLike | None = None, download: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """(images uint8 NHWC, labels int32) of a TFDS dataset, via `tfds.as_numpy` (cached).

    Args:
      name, split: as in `load_dataset`.
      data_dir: TFDS data_dir (local or gs://); None is TFDS's default.
      download: prepare it with TFDS's own download if it is not there (needs the internet).
    """
    get_info(name)
    check_split(split)
    data_dir = os.fspath(data_dir) if data_dir else None
    if download:
        _download(name, data_dir)
    return _load_cached(name, split, data_dir)


# ----------------------------------------------------------------------------- preparing


def _png(image: np.ndarray) -> bytes | np.ndarray:
    """PNG bytes of one uint8 HWC image via Pillow (several times faster than TFDS's per-image
    TensorFlow op; lossless, and checked by the read-back hash); the array if Pillow is absent."""
    try:
        from PIL import Image
    except ImportError:  # pragma: no cover - Pillow comes with matplotlib
        return image
    buf = io.BytesIO()
    Image.fromarray(image[..., 0] if image.shape[-1] == 1 else image).save(buf, format="PNG")
    return buf.getvalue()


def _record(name: str, split: str, index: int, fields: dict[str, np.ndarray]) -> dict[str, Any]:
    rec: dict[str, Any] = {
        "image": _png(fields["image"][index]),
        "label": int(fields["label"][index]),
    }
    if name in ("cifar10", "cifar100"):
        rec["id"] = f"{split}_{index:05d}"
    if name == "cifar100":
        rec["coarse_label"] = int(fields["coarse_label"][index])
    return rec


@functools.cache
def _offline_builder_cls(name: str):
    """A subclass of the registered TFDS builder for `name` that generates from numpy arrays."""
    tfds = _tfds()
    base = tfds.builder_cls(name)

    class OfflineBuilder(base, skip_registration=True):
        __doc__ = f"{base.__name__} generated offline from the raw files by nc-mixup."

        def __init__(self, *, splits, provenance, label_names=None, **kwargs):
            self._nc_splits = splits
            self._nc_provenance = provenance
            self._nc_label_names = label_names or {}
            super().__init__(**kwargs)

        def _info(self):
            official = super()._info()
            return tfds.core.DatasetInfo(
                builder=self,
                description=f"{official.description}\n\n{self._nc_provenance}",
                features=official.features,
                supervised_keys=official.supervised_keys,
                disable_shuffling=True,
                homepage=official.homepage,
                citation=official.citation,
            )

        def _split_generators(self, dl_manager):
            del dl_manager  # nothing to download
            for feature, names in self._nc_label_names.items():
                self.info.features[feature].names = names
            return {split: self._generate_examples(split) for split in self._nc_splits}

        def _generate_examples(self, split):
            fields = self._nc_splits[split]
            for i in range(len(fields["label"])):
                yield i, _record(name, split, i, fields)

    # Same name (so it is written to data_dir/NAME/VERSION) and module (recorded in
    # dataset_info.json) as the registered builder, which is what reads the result back.
    OfflineBuilder.name = base.name
    OfflineBuilder.__module__ = base.__module__
    OfflineBuilder.__name__ = OfflineBuilder.__qualname__ = f"Offline{base.__name__}"
    return OfflineBuilder


def verify_splits(
    name: str, splits: dict[str, dict[str, np.ndarray]], *, check_counts: bool = True
) -> dict[str, str]:
    """The content hash of each split; a `DatasetError` if a count or a known hash is wrong."""
    info = get_info(name)
    hashes = {}
    for split, fields in splits.items():
        n = len(fields["label"])
        if check_counts and n != info.num_examples[split]:
            raise DatasetError(
                f"{name} {split}: count mismatch: {n} examples, expected {info.num_examples[split]}"
            )
        hashes[split] = raw.content_hash(fields["image"], fields["label"])
        want = info.sha256.get(split)
        if want and hashes[split] != want:
            raise DatasetError(
                f"{name} {split}: content hash {hashes[split]} differs from the real data's "
                f"{want}: these are not the original {name} arrays"
            )
    return hashes


def prepare(
    name: str,
    raw_dir: str | os.PathLike,
    data_dir: str | os.PathLike,
    *,
    overwrite: bool = False,
    verify: bool = True,
    progress: bool = True,
    check_counts: bool = True,
) -> dict[str, Any]:
    """Writes the TFDS dataset `name` into `data_dir` from the raw files in `raw_dir`, offline.

    Args:
      name: dataset name.
      raw_dir: folder with the original files (see `nc_mixup.data.raw`).
      data_dir: TFDS data_dir to write into (`data_dir/NAME/VERSION/`); local or gs://.
      overwrite: replace an existing prepared copy (otherwise that is an error).
      verify: read the written dataset back and check it hashes like the raw arrays.
      progress: show TFDS's progress bars.
      check_counts: require the official number of examples per split (off only for tests).

    Returns:
      dict(path=..., version=..., num_examples={split: n}, sha256={split: hash}).
    """
    info = get_info(name)
    splits = {s: raw.read_raw_split(name, s, raw_dir, check_counts=check_counts) for s in SPLITS}
    hashes = verify_splits(name, splits, check_counts=check_counts)
    label_names = raw.cifar_label_names(name, raw_dir) if name.startswith("cifar") else None
    provenance = (
        f"Prepared offline by nc-mixup (`nc-mixup data prepare`) from the raw files in {raw_dir}; "
        "examples are in the raw files' order. Content sha256 (uint8 NHWC image bytes, then "
        "int32 little-endian labels): " + ", ".join(f"{s}={h}" for s, h in hashes.items())
    )

    tfds = _tfds()
    tfds.display_progress_bar(progress)
    data_dir = os.fspath(data_dir)
    builder = _offline_builder_cls(name)(
        splits=splits, provenance=provenance, label_names=label_names, data_dir=data_dir
    )
    if builder.is_prepared():
        if not overwrite:
            raise DatasetError(
                f"{name}: a prepared copy already exists at {builder.data_dir}; "
                "pass --overwrite to replace it"
            )
    if str(builder.version) != info.tfds_version:
        raise DatasetError(
            f"{name}: this tensorflow-datasets writes version {builder.version}, nc-mixup expects "
            f"{info.tfds_version}"
        )
    mode = (
        tfds.download.GenerateMode.FORCE_REDOWNLOAD
        if overwrite
        else tfds.download.GenerateMode.REUSE_DATASET_IF_EXISTS
    )
    # TFDS wants a download folder even though nothing is downloaded; use a throw-away one.
    download_dir = pathlib.Path(tempfile.mkdtemp(prefix="nc_mixup_prepare_"))
    config = tfds.download.DownloadConfig(
        download_mode=mode,
        try_download_gcs=False,
        compute_stats=tfds.download.ComputeStatsMode.SKIP,
    )
    try:
        builder.download_and_prepare(download_dir=download_dir, download_config=config)
    except Exception as e:  # disk full, permissions, a bad gs:// path, ...
        raise DatasetError(
            f"{name}: writing the TFDS dataset into {data_dir} failed: {_one_line(e)}"
        ) from e
    finally:
        shutil.rmtree(download_dir, ignore_errors=True)
    if verify:
        _load_cached.cache_clear()
        for split, want in hashes.items():
            images, labels = load_tfds(name, split, data_dir=data_dir)
            got = raw.content_hash(images, labels)
            if got != want:
                raise DatasetError(
                    f"{name} {split}: the prepared TFDS copy in {builder.data_dir} reads back with "
                    f"hash {got}, not the raw arrays' {want}"
                )
    return {
        "path": os.fspath(builder.data_dir),
        "version": str(builder.version),
        "num_examples": {s: len(f["label"]) for s, f in splits.items()},
        "sha256": hashes,
    }
