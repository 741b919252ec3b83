"""Raw-file readers: corrupted copies of the real FashionMNIST files, and the CIFAR/SVHN formats.

There is no real CIFAR or SVHN here, so those readers are tested on small files written in the
real on-disk formats (a gzipped tar of pickled batches; a MATLAB v5 .mat).
"""

import gzip
import io
import pickle
import shutil
import tarfile

import numpy as np
import pytest
import scipy.io

from nc_mixup.data import DatasetError, load_dataset
from nc_mixup.data.raw import RawFilesNotFound, has_raw, read_raw_split

IMAGES, LABELS = "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"


@pytest.fixture()
def copy_dir(fashion_mnist_dir, tmp_path):
    """A copy of the real FashionMNIST test files, to be corrupted."""
    for f in (IMAGES, LABELS):
        shutil.copy(fashion_mnist_dir / f, tmp_path / f)
    return tmp_path


def _load(folder):
    return load_dataset("fashion_mnist", "test", raw_dir=folder, source="raw")


def _rewrite(path, transform):
    data = gzip.decompress(path.read_bytes())
    path.write_bytes(gzip.compress(transform(data), compresslevel=1))


def test_intact_copy_loads(copy_dir, fashion_mnist_dir):
    x, y = _load(copy_dir)
    x0, y0 = _load(fashion_mnist_dir)
    assert np.array_equal(x, x0) and np.array_equal(y, y0)


def test_uncompressed_idx_files_load(copy_dir, fashion_mnist_dir):
    for f in (IMAGES, LABELS):
        (copy_dir / f.removesuffix(".gz")).write_bytes(gzip.decompress((copy_dir / f).read_bytes()))
        (copy_dir / f).unlink()
    x, y = _load(copy_dir)
    assert np.array_equal(x, _load(fashion_mnist_dir)[0]) and y[:3].tolist() == [9, 2, 1]


def test_truncated_gzip(copy_dir):
    path = copy_dir / IMAGES
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(DatasetError, match="truncated gzip stream") as e:
        _load(copy_dir)
    assert str(path) in str(e.value)


def test_truncated_payload(copy_dir):
    path = copy_dir / IMAGES
    _rewrite(path, lambda d: d[:-1000])
    with pytest.raises(DatasetError) as e:
        _load(copy_dir)
    msg = str(e.value)
    assert str(path) in msg and "truncated" in msg
    assert "10000 x 28 x 28 = 7840000 bytes" in msg and "7839000" in msg


def test_extra_bytes_are_wrong_size(copy_dir):
    path = copy_dir / LABELS
    _rewrite(path, lambda d: d + b"\0" * 7)
    with pytest.raises(DatasetError, match="wrong size") as e:
        _load(copy_dir)
    assert str(path) in str(e.value)


def test_wrong_magic(copy_dir):
    path = copy_dir / IMAGES
    _rewrite(path, lambda d: b"\x00\x00\x09\x03" + d[4:])
    with pytest.raises(DatasetError) as e:
        _load(copy_dir)
    assert str(path) in str(e.value)
    assert "bad magic 0x00000903, expected 0x00000803" in str(e.value)


def test_swapped_files_are_bad_magic(copy_dir):
    shutil.copy(copy_dir / LABELS, copy_dir / IMAGES)
    with pytest.raises(DatasetError, match=f"{copy_dir / IMAGES}: bad magic 0x00000801"):
        _load(copy_dir)


def test_count_mismatch(copy_dir, fashion_mnist_dir):
    shutil.copy(fashion_mnist_dir / "train-labels-idx1-ubyte.gz", copy_dir / LABELS)
    with pytest.raises(DatasetError, match="count mismatch: 10000 images in .* 60000 labels") as e:
        _load(copy_dir)
    assert str(copy_dir / LABELS) in str(e.value)


def test_not_gzip_at_all(copy_dir):
    path = copy_dir / IMAGES
    path.write_bytes(b"\x1f\x8bnot really gzip")
    with pytest.raises(DatasetError, match="corrupt gzip data"):
        _load(copy_dir)


def test_missing_files(tmp_path):
    with pytest.raises(RawFilesNotFound, match="t10k-images-idx3-ubyte.gz.*not found in"):
        _load(tmp_path)
    with pytest.raises(RawFilesNotFound, match="does not exist"):
        _load(tmp_path / "nowhere")
    assert not has_raw("fashion_mnist", "test", tmp_path)


# ----------------------------------------------------------------------------- CIFAR


def _images(rng, n):
    return rng.integers(0, 256, size=(n, 32, 32, 3), dtype=np.uint8)


def _batch(images, labels, label_key):
    """One CIFAR python batch, as in the real files: a dict with bytes keys, CHW rows."""
    return {
        b"batch_label": b"testing batch",
        label_key: [int(v) for v in labels],
        b"data": images.transpose(0, 3, 1, 2).reshape(len(images), 3072),
        b"filenames": [f"img_{i}.png".encode() for i in range(len(images))],
    }


def _write_tar(path, prefix, members):
    with tarfile.open(path, "w:gz") as tar:
        for name, obj in members.items():
            raw = pickle.dumps(obj, protocol=2)
            info = tarfile.TarInfo(f"{prefix}/{name}")
            info.size = len(raw)
            tar.addfile(info, io.BytesIO(raw))


@pytest.fixture()
def cifar10_dir(tmp_path):
    rng = np.random.default_rng(0)
    truth = {"train": [], "test": []}
    members = {}
    for i in range(1, 6):
        x, y = _images(rng, 3), rng.integers(0, 10, 3)
        members[f"data_batch_{i}"] = _batch(x, y, b"labels")
        truth["train"].append((x, y))
    x, y = _images(rng, 4), rng.integers(0, 10, 4)
    members["test_batch"] = _batch(x, y, b"labels")
    truth["test"].append((x, y))
    members["batches.meta"] = {b"label_names": [f"c{i}".encode() for i in range(10)]}
    _write_tar(tmp_path / "cifar-10-python.tar.gz", "cifar-10-batches-py", members)
    truth = {s: tuple(map(np.concatenate, zip(*parts, strict=True))) for s, parts in truth.items()}
    return tmp_path, truth


def test_cifar10_tarball(cifar10_dir):
    folder, truth = cifar10_dir
    for split in ("train", "test"):
        out = read_raw_split("cifar10", split, folder, check_counts=False)
        assert out["image"].shape == truth[split][0].shape and out["image"].dtype == np.uint8
        assert np.array_equal(out["image"], truth[split][0])  # HWC, channels in RGB order
        assert np.array_equal(out["label"], truth[split][1]) and out["label"].dtype == np.int32


def test_cifar10_extracted_folder(cifar10_dir):
    folder, truth = cifar10_dir
    with tarfile.open(folder / "cifar-10-python.tar.gz") as tar:
        tar.extractall(folder / "x", filter="data")
    for where in (folder / "x", folder / "x" / "cifar-10-batches-py"):
        out = read_raw_split("cifar10", "train", where, check_counts=False)
        assert np.array_equal(out["image"], truth["train"][0])


def test_cifar10_counts_checked_by_default(cifar10_dir):
    folder, _ = cifar10_dir
    with pytest.raises(DatasetError, match="cifar-10-python.tar.gz: count mismatch: 15 .* 50000"):
        load_dataset("cifar10", "train", raw_dir=folder, source="raw")


def test_cifar10_truncated_tarball(cifar10_dir):
    folder, _ = cifar10_dir
    path = folder / "cifar-10-python.tar.gz"
    path.write_bytes(path.read_bytes()[:-200])
    with pytest.raises(DatasetError, match="cifar-10-python.tar.gz: corrupt or truncated tar"):
        read_raw_split("cifar10", "test", folder, check_counts=False)


def test_cifar_refuses_pickled_code(tmp_path):
    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    members = {"test_batch": {b"data": Evil(), b"labels": []}}
    _write_tar(tmp_path / "cifar-10-python.tar.gz", "cifar-10-batches-py", members)
    with pytest.raises(DatasetError, match=r"corrupt pickle .*refusing to load \w+\.print"):
        read_raw_split("cifar10", "test", tmp_path, check_counts=False)


def test_cifar100_fine_and_coarse_labels(tmp_path):
    rng = np.random.default_rng(1)
    members, truth = {}, {}
    for split, n in (("train", 6), ("test", 4)):
        x, y, c = _images(rng, n), rng.integers(0, 100, n), rng.integers(0, 20, n)
        batch = _batch(x, y, b"fine_labels")
        batch[b"coarse_labels"] = [int(v) for v in c]
        members[split], truth[split] = batch, (x, y, c)
    _write_tar(tmp_path / "cifar-100-python.tar.gz", "cifar-100-python", members)
    for split, (x, y, c) in truth.items():
        out = read_raw_split("cifar100", split, tmp_path, check_counts=False)
        assert np.array_equal(out["image"], x) and np.array_equal(out["label"], y)
        assert np.array_equal(out["coarse_label"], c)


# ----------------------------------------------------------------------------- SVHN


def test_svhn_mat(tmp_path):
    rng = np.random.default_rng(2)
    x = _images(rng, 5)
    digits = np.array([1, 10, 3, 10, 9])  # SVHN writes the digit 0 as label 10
    scipy.io.savemat(
        tmp_path / "test_32x32.mat",
        {"X": x.transpose(1, 2, 3, 0), "y": digits[:, None].astype(np.uint8)},
    )
    out = read_raw_split("svhn_cropped", "test", tmp_path, check_counts=False)
    assert np.array_equal(out["image"], x)
    assert out["label"].tolist() == [1, 0, 3, 0, 9]
    with pytest.raises(DatasetError, match="test_32x32.mat: count mismatch: 5 .* 26032"):
        read_raw_split("svhn_cropped", "test", tmp_path)
    with pytest.raises(RawFilesNotFound, match="train_32x32.mat not found"):
        read_raw_split("svhn_cropped", "train", tmp_path)


def test_svhn_corrupt_mat(tmp_path):
    (tmp_path / "test_32x32.mat").write_bytes(b"MATLAB 5.0 MAT-file" + b"\0" * 10)
    with pytest.raises(DatasetError, match="test_32x32.mat: not a readable MATLAB file"):
        read_raw_split("svhn_cropped", "test", tmp_path, check_counts=False)
