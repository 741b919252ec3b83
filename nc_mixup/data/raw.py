"""Readers for the original dataset files, in numpy only (no TensorFlow).

* MNIST / FashionMNIST: the four IDX files, gzip-compressed (`*.gz`) or not.
* CIFAR-10 / CIFAR-100: the "python version" tarballs (`cifar-10-python.tar.gz`,
  `cifar-100-python.tar.gz`) or the folders they extract to (`cifar-10-batches-py/`,
  `cifar-100-python/`). Their members are pickles; they are read with an unpickler that only
  accepts plain containers and numpy arrays, never arbitrary classes.
* SVHN (cropped digits): `train_32x32.mat` / `test_32x32.mat` via `scipy.io.loadmat`; label 10
  means the digit 0 and is mapped to 0, as in TFDS `svhn_cropped`.

Every problem with a file raises `DatasetError` naming the file and what is wrong (bad magic,
truncated, wrong size, count mismatch, ...). Missing files raise `RawFilesNotFound`. Arrays are
cached per (file, size, mtime) and returned read-only, so repeated loads are free and the cache
cannot be corrupted by a caller.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import io
import os
import pathlib
import pickle
import struct
import tarfile
import zlib
from collections.abc import Callable

import numpy as np

from nc_mixup.data.registry import DatasetError, DatasetInfo, check_split, get_info

# IDX magic numbers: 0x00 0x00, type 0x08 (unsigned byte), number of dimensions.
IDX_IMAGES_MAGIC = 0x00000803
IDX_LABELS_MAGIC = 0x00000801

Split = dict[str, np.ndarray]


class RawFilesNotFound(DatasetError):
    """The raw files of a dataset are not in the folder we were pointed at."""


def _readonly(a: np.ndarray) -> np.ndarray:
    a.flags.writeable = False
    return a


def content_hash(images: np.ndarray, labels: np.ndarray) -> str:
    """sha256 of a split's content: the uint8 NHWC image bytes, then int32 little-endian labels.

    Independent of how the files were compressed, so it identifies the data itself.
    """
    h = hashlib.sha256()
    h.update(np.ascontiguousarray(images, np.uint8).tobytes())
    h.update(np.ascontiguousarray(labels, "<i4").tobytes())
    return h.hexdigest()


def _file_key(path: pathlib.Path) -> tuple[str, int, int]:
    st = path.stat()
    return (str(path.resolve()), st.st_size, st.st_mtime_ns)


# ----------------------------------------------------------------------------- IDX (MNIST family)


def _maybe_gunzip(path: pathlib.Path, data: bytes) -> bytes:
    if data[:2] != b"\x1f\x8b":
        return data
    try:
        return gzip.decompress(data)
    except EOFError:
        raise DatasetError(
            f"{path}: truncated gzip stream (the file ends before the end-of-stream marker)"
        ) from None
    except (gzip.BadGzipFile, zlib.error, OSError) as e:
        raise DatasetError(f"{path}: corrupt gzip data ({e})") from None


@functools.lru_cache(maxsize=16)
def _read_idx_cached(key: tuple[str, int, int], magic: int) -> np.ndarray:
    path = pathlib.Path(key[0])
    data = _maybe_gunzip(path, path.read_bytes())
    if len(data) < 4:
        raise DatasetError(f"{path}: truncated: {len(data)} bytes, too short for an IDX header")
    got = int.from_bytes(data[:4], "big")
    if got != magic:
        what = "images (3-d)" if magic == IDX_IMAGES_MAGIC else "labels (1-d)"
        raise DatasetError(
            f"{path}: bad magic 0x{got:08x}, expected 0x{magic:08x} (IDX unsigned-byte {what})"
        )
    ndim = data[3]
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DatasetError(f"{path}: truncated: the IDX header is cut short")
    dims = struct.unpack(f">{ndim}I", data[4:header])
    want = int(np.prod(dims, dtype=np.int64))
    have = len(data) - header
    if have != want:
        kind = "truncated" if have < want else "wrong size"
        shape = " x ".join(map(str, dims))
        raise DatasetError(
            f"{path}: {kind}: the header says {shape} = {want} bytes of data, the file has {have}"
        )
    return _readonly(np.frombuffer(data, np.uint8, offset=header).reshape(dims))


def read_idx(path: str | os.PathLike, magic: int) -> np.ndarray:
    """The uint8 array stored in one IDX file (gzip-compressed or not), checked against `magic`."""
    path = pathlib.Path(path)
    return _read_idx_cached(_file_key(path), magic)


def _find_idx(folder: pathlib.Path, name: str) -> pathlib.Path | None:
    for candidate in (name, name.removesuffix(".gz")):
        if (folder / candidate).is_file():
            return folder / candidate
    return None


def _load_idx(info: DatasetInfo, split: str, folder: pathlib.Path, check_counts: bool) -> Split:
    image_name, label_name = info.raw_files[split]
    image_path, label_path = _find_idx(folder, image_name), _find_idx(folder, label_name)
    missing = [n for n, p in ((image_name, image_path), (label_name, label_path)) if p is None]
    if missing:
        raise RawFilesNotFound(
            f"{info.name} {split}: {', '.join(missing)} not found in {folder} (with or without "
            f".gz); get them with {info.raw_hint}"
        )
    out = _idx_pair(_file_key(image_path), _file_key(label_path), info.image_shape[:2])
    _check_count(info, split, out, check_counts)
    return out


@functools.lru_cache(maxsize=16)
def _idx_pair(image_key: tuple, label_key: tuple, hw: tuple[int, int]) -> Split:
    image_path, label_path = pathlib.Path(image_key[0]), pathlib.Path(label_key[0])
    images = _read_idx_cached(image_key, IDX_IMAGES_MAGIC)
    labels = _read_idx_cached(label_key, IDX_LABELS_MAGIC)
    if images.ndim != 3 or images.shape[1:] != hw:
        raise DatasetError(
            f"{image_path}: wrong size: images are {images.shape[1:]}, expected {hw}"
        )
    if labels.ndim != 1:
        raise DatasetError(f"{label_path}: wrong size: labels have shape {labels.shape}")
    if len(images) != len(labels):
        raise DatasetError(
            f"count mismatch: {len(images)} images in {image_path} "
            f"but {len(labels)} labels in {label_path}"
        )
    return {
        "image": _readonly(images[..., None]),
        "label": _readonly(labels.astype(np.int32)),
        "_file": image_path,
        "_label_file": label_path,
    }


# ----------------------------------------------------------------------------- CIFAR (python)

_CIFAR_MEMBERS = {
    "cifar10": {
        "train": tuple(f"data_batch_{i}" for i in range(1, 6)),
        "test": ("test_batch",),
        "meta": "batches.meta",
    },
    "cifar100": {"train": ("train",), "test": ("test",), "meta": "meta"},
}

# What the CIFAR pickles may reference: numpy arrays and dtypes (and `_codecs.encode`, which
# Python 3 uses for bytes under pickle protocol 2), nothing else.
_SAFE_GLOBALS = {
    ("_codecs", "encode"),
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
}


class _SafeUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        if (module, name) not in _SAFE_GLOBALS:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}")
        module = module.replace("numpy.core.", "numpy._core.")
        return super().find_class(module, name)


def _unpickle(raw: bytes, where: str) -> dict:
    try:
        obj = _SafeUnpickler(io.BytesIO(raw), encoding="bytes").load()
    except Exception as e:  # pickle raises many kinds of error on corrupt input
        raise DatasetError(f"{where}: corrupt pickle ({type(e).__name__}: {e})") from None
    if not isinstance(obj, dict):
        raise DatasetError(f"{where}: expected a dict, found {type(obj).__name__}")
    return {k.decode() if isinstance(k, bytes) else k: v for k, v in obj.items()}


def _cifar_source(info: DatasetInfo, folder: pathlib.Path) -> pathlib.Path:
    """The tarball or the extracted folder holding `info`'s CIFAR batches."""
    tar_name, dir_name = info.raw_files["train"]
    first = _CIFAR_MEMBERS[info.name]["test"][0]
    for candidate in (folder / dir_name, folder):
        if (candidate / first).is_file():
            return candidate
    if (folder / tar_name).is_file():
        return folder / tar_name
    raise RawFilesNotFound(
        f"{info.name}: neither {tar_name} nor an extracted {dir_name}/ found in {folder}; "
        f"get them with {info.raw_hint}"
    )


def _read_members(source: pathlib.Path, prefix: str, members: tuple[str, ...]) -> dict:
    """Raw bytes of each member, from an extracted folder or a (gzipped) tarball."""
    if source.is_dir():
        out = {}
        for m in members:
            if not (source / m).is_file():
                raise DatasetError(f"{source / m}: missing (the CIFAR folder is incomplete)")
            out[m] = (source / m).read_bytes()
        return out
    out = {}
    try:
        with tarfile.open(source, "r:*") as tar:
            names = {pathlib.PurePosixPath(n).name: n for n in tar.getnames()}
            for m in members:
                if m not in names:
                    raise DatasetError(f"{source}: member {prefix}/{m} missing from the archive")
                f = tar.extractfile(names[m])
                if f is None:
                    raise DatasetError(f"{source}: member {names[m]} is not a regular file")
                out[m] = f.read()
    except (tarfile.TarError, EOFError, zlib.error, OSError) as e:
        raise DatasetError(f"{source}: corrupt or truncated tar archive ({e})") from None
    return out


@functools.lru_cache(maxsize=8)
def _load_cifar_cached(name: str, split: str, key: tuple[str, int, int]) -> Split:
    info = get_info(name)
    source = pathlib.Path(key[0])
    spec = _CIFAR_MEMBERS[name]
    members = spec[split]
    raw = _read_members(source, info.raw_files[split][1], members)
    images, labels, coarse = [], [], []
    label_key = "labels" if name == "cifar10" else "fine_labels"
    for m in members:
        where = f"{source}:{m}" if not source.is_dir() else str(source / m)
        d = _unpickle(raw[m], where)
        if "data" not in d or label_key not in d:
            raise DatasetError(f"{where}: not a CIFAR batch (keys: {sorted(d)})")
        data = np.asarray(d["data"])
        if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072:
            raise DatasetError(
                f"{where}: wrong size: data is {data.dtype} {data.shape}, expected uint8 (N, 3072)"
            )
        lab = np.asarray(d[label_key], dtype=np.int64)
        if len(lab) != len(data):
            raise DatasetError(f"{where}: count mismatch: {len(data)} images, {len(lab)} labels")
        images.append(data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))
        labels.append(lab)
        if name == "cifar100":
            coarse.append(np.asarray(d.get("coarse_labels", np.zeros_like(lab)), np.int64))
    out = {
        "image": _readonly(np.ascontiguousarray(np.concatenate(images))),
        "label": _readonly(np.concatenate(labels).astype(np.int32)),
        "_file": source,
    }
    if name == "cifar100":
        out["coarse_label"] = _readonly(np.concatenate(coarse).astype(np.int32))
    return out


def _load_cifar(info: DatasetInfo, split: str, folder: pathlib.Path, check_counts: bool) -> Split:
    source = _cifar_source(info, folder)
    out = dict(_load_cifar_cached(info.name, split, _file_key(source)))
    _check_count(info, split, out, check_counts)
    return out


def cifar_label_names(name: str, raw_dir: str | os.PathLike) -> dict[str, list[str]] | None:
    """Class names from the CIFAR meta pickle ({'label': [...], 'coarse_label': [...]}), if any."""
    info = get_info(name)
    source = _cifar_source(info, pathlib.Path(raw_dir))
    meta = _CIFAR_MEMBERS[name]["meta"]
    try:
        raw = _read_members(source, info.raw_files["train"][1], (meta,))[meta]
    except DatasetError:
        return None
    d = _unpickle(raw, f"{source}:{meta}")
    keys = (
        {"label": "label_names"}
        if name == "cifar10"
        else {"label": "fine_label_names", "coarse_label": "coarse_label_names"}
    )
    out = {}
    for feature, key in keys.items():
        if key in d:
            out[feature] = [n.decode() if isinstance(n, bytes) else str(n) for n in d[key]]
    return out or None


# ----------------------------------------------------------------------------- SVHN (.mat)


@functools.lru_cache(maxsize=4)
def _load_svhn_cached(key: tuple[str, int, int]) -> Split:
    import scipy.io  # only needed for SVHN

    path = pathlib.Path(key[0])
    try:
        mat = scipy.io.loadmat(path)
    except Exception as e:  # scipy raises ValueError, MatReadError, OSError, ...
        msg = f"{path}: not a readable MATLAB file ({type(e).__name__}: {e})"
        raise DatasetError(msg) from None
    if "X" not in mat or "y" not in mat:
        raise DatasetError(f"{path}: missing the 'X'/'y' variables of SVHN cropped digits")
    x, y = mat["X"], np.asarray(mat["y"]).reshape(-1)
    if x.dtype != np.uint8 or x.ndim != 4 or x.shape[:3] != (32, 32, 3):
        raise DatasetError(f"{path}: wrong size: X is {x.dtype} {x.shape}, expected (32,32,3,N)")
    if x.shape[3] != len(y):
        raise DatasetError(f"{path}: count mismatch: {x.shape[3]} images, {len(y)} labels")
    images = np.ascontiguousarray(np.transpose(x, (3, 0, 1, 2)))
    labels = np.where(y == 10, 0, y).astype(np.int32)
    return {"image": _readonly(images), "label": _readonly(labels), "_file": path}


def _load_svhn(info: DatasetInfo, split: str, folder: pathlib.Path, check_counts: bool) -> Split:
    (file_name,) = info.raw_files[split]
    path = folder / file_name
    if not path.is_file():
        raise RawFilesNotFound(
            f"{info.name} {split}: {file_name} not found in {folder}; get it from {info.raw_hint}"
        )
    out = dict(_load_svhn_cached(_file_key(path)))
    _check_count(info, split, out, check_counts)
    return out


# ----------------------------------------------------------------------------- entry points


def _check_count(info: DatasetInfo, split: str, out: Split, check_counts: bool) -> None:
    n = len(out["image"])
    if check_counts and n != info.num_examples[split]:
        raise DatasetError(
            f"{out['_file']}: count mismatch: {n} examples in the {split} split, "
            f"expected {info.num_examples[split]} for {info.name}"
        )


_READERS: dict[str, Callable[[DatasetInfo, str, pathlib.Path, bool], Split]] = {
    "mnist": _load_idx,
    "fashion_mnist": _load_idx,
    "cifar10": _load_cifar,
    "cifar100": _load_cifar,
    "svhn_cropped": _load_svhn,
}


def read_raw_split(
    name: str, split: str, raw_dir: str | os.PathLike, *, check_counts: bool = True
) -> dict[str, np.ndarray]:
    """All fields of one split from the raw files: 'image' (uint8 NHWC), 'label' (int32), and
    'coarse_label' for CIFAR-100. Arrays are read-only (they are cached).

    Args:
      name: dataset name (see `DATASETS`).
      split: 'train' or 'test'.
      raw_dir: the folder holding the original files.
      check_counts: also require the official number of examples of the split.
    """
    info = get_info(name)
    check_split(split)
    folder = pathlib.Path(raw_dir).expanduser()
    if not folder.is_dir():
        raise RawFilesNotFound(
            f"{info.name}: raw folder {folder} does not exist; get the files: {info.raw_hint}"
        )
    out = _READERS[name](info, split, folder, check_counts)
    labels = out["label"]
    bad = np.flatnonzero((labels < 0) | (labels >= info.num_classes)) if len(labels) else []
    if len(bad):
        raise DatasetError(
            f"{out.get('_label_file', out['_file'])}: {len(bad)} label(s) outside "
            f"[0, {info.num_classes}), the first at example {int(bad[0])}: {int(labels[bad[0]])}"
        )
    return {k: v for k, v in out.items() if not k.startswith("_")}


def load_raw(
    name: str, split: str, raw_dir: str | os.PathLike, *, check_counts: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """(images uint8 NHWC, labels int32) of one split from the raw files in `raw_dir`."""
    out = read_raw_split(name, split, raw_dir, check_counts=check_counts)
    return out["image"], out["label"]


def has_raw(name: str, split: str, raw_dir: str | os.PathLike) -> bool:
    """Whether `raw_dir` seems to hold the raw files for (name, split) (without reading them)."""
    info = get_info(name)
    folder = pathlib.Path(raw_dir).expanduser()
    if not folder.is_dir():
        return False
    if name in ("mnist", "fashion_mnist"):
        return all(_find_idx(folder, f) is not None for f in info.raw_files[split])
    if name in ("cifar10", "cifar100"):
        try:
            _cifar_source(info, folder)
        except RawFilesNotFound:
            return False
        return True
    return (folder / info.raw_files[split][0]).is_file()
