"""`nc-mixup data prepare`: a real TFDS dataset built offline, read back identical to the raw files.

(Imports TensorFlow, ~5 s; writing the 70,000 FashionMNIST images as TFDS records takes ~12 s.)
"""

import gzip
import io
import pickle
import shutil
import tarfile

import numpy as np
import pytest

from nc_mixup.cli import main
from nc_mixup.data import DATASETS, DatasetError, load_dataset, tfds_source


@pytest.fixture(scope="module")
def prepared(fashion_mnist_dir, tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("tfds")
    argv = [
        "data",
        "prepare",
        "fashion_mnist",
        "--raw-dir",
        str(fashion_mnist_dir),
        "--data-dir",
        str(data_dir),
        "--quiet",
        "--no-verify",
    ]  # the tests read it back
    assert main(argv) == 0
    return data_dir


def test_prepare_then_tfds_equals_raw(prepared, fashion_mnist_dir):
    for split in ("train", "test"):
        x, y = load_dataset("fashion_mnist", split, data_dir=prepared, source="tfds")
        xr, yr = load_dataset("fashion_mnist", split, raw_dir=fashion_mnist_dir, source="raw")
        assert x.dtype == np.uint8 and y.dtype == np.int32
        assert x.shape == xr.shape and np.array_equal(x, xr) and np.array_equal(y, yr)
    # `auto` prefers the prepared copy when given its data_dir.
    x, _ = load_dataset("fashion_mnist", "test", data_dir=prepared)
    assert np.array_equal(x, xr)
    import tensorflow as tf

    assert tf.config.get_visible_devices("GPU") == []  # TensorFlow never holds an accelerator


def test_prepared_copy_is_a_standard_tfds_dataset(prepared):
    import tensorflow_datasets as tfds

    builder = tfds.builder("fashion_mnist", data_dir=str(prepared))
    assert builder.is_prepared() and str(builder.version) == DATASETS["fashion_mnist"].tfds_version
    assert builder.info.splits["train"].num_examples == 60000
    assert builder.info.splits["test"].num_examples == 10000
    assert builder.info.features["label"].names[9] == "Ankle boot"
    assert builder.info.disable_shuffling  # the raw files' order is kept
    # The provenance is recorded in the dataset's own metadata (dataset_info.json).
    stored = tfds.builder_from_directory(builder.data_dir)
    assert DATASETS["fashion_mnist"].sha256["train"] in stored.info.description
    assert "nc-mixup" in stored.info.description
    first = next(iter(tfds.as_numpy(builder.as_dataset(split="train", shuffle_files=False))))
    assert first["label"] == 9 and first["image"].shape == (28, 28, 1)


def test_prepare_refuses_to_overwrite(prepared, fashion_mnist_dir, capsys):
    argv = [
        "data",
        "prepare",
        "fashion_mnist",
        "--raw-dir",
        str(fashion_mnist_dir),
        "--data-dir",
        str(prepared),
        "--quiet",
    ]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "already exists" in err[0] and "--overwrite" in err[0]


@pytest.mark.parametrize(
    "name, raw_dir, expected",
    [
        ("fmnist", None, "unknown dataset 'fmnist'; known datasets: cifar10"),
        ("fashion_mnist", "missing", "raw folder .*missing does not exist"),
        ("mnist", "empty", "train-images-idx3-ubyte.gz, .* not found in"),
    ],
)
def test_prepare_bad_input_is_one_line_exit_2(name, raw_dir, expected, tmp_path, capsys):
    import re

    (tmp_path / "empty").mkdir()
    raw = str(tmp_path / raw_dir) if raw_dir else str(tmp_path)
    assert main(["data", "prepare", name, "--raw-dir", raw, "--data-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("nc-mixup data: error: ")
    assert re.search(expected, err[0]), err[0]


def test_prepare_rejects_data_that_is_not_the_real_dataset(fashion_mnist_dir, tmp_path):
    """Well-formed files with the right counts but altered content fail the hash check."""
    raw = tmp_path / "raw"
    raw.mkdir()
    for f in fashion_mnist_dir.iterdir():
        shutil.copy(f, raw / f.name)
    path = raw / "train-labels-idx1-ubyte.gz"
    data = bytearray(gzip.decompress(path.read_bytes()))
    data[8], data[9] = data[9], data[8]  # swap the first two labels (9, 0)
    path.write_bytes(gzip.compress(bytes(data), compresslevel=1))
    with pytest.raises(DatasetError, match="train: content hash .* differs from the real data"):
        tfds_source.prepare("fashion_mnist", raw, tmp_path / "out", progress=False)
    assert not (tmp_path / "out" / "fashion_mnist").exists()


def test_registered_tfds_versions_match_ours():
    import tensorflow_datasets as tfds

    for name, info in DATASETS.items():
        assert str(tfds.builder_cls(name).VERSION) == info.tfds_version, name


def test_prepare_cifar100_from_the_python_tarball(tmp_path):
    """The CIFAR records (id, fine and coarse labels, class names) on a small tarball in the real
    format (there is no real CIFAR here; counts are not checked for it)."""
    import tensorflow_datasets as tfds

    rng = np.random.default_rng(0)
    truth = {}
    with tarfile.open(tmp_path / "cifar-100-python.tar.gz", "w:gz") as tar:
        members = {
            "meta": {
                b"fine_label_names": [f"fine{i}".encode() for i in range(100)],
                b"coarse_label_names": [f"coarse{i}".encode() for i in range(20)],
            }
        }
        for split, n in (("train", 7), ("test", 3)):
            x = rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8)
            y, c = rng.integers(0, 100, n), rng.integers(0, 20, n)
            truth[split] = (x, y, c)
            members[split] = {
                b"data": x.transpose(0, 3, 1, 2).reshape(n, 3072),
                b"fine_labels": y.tolist(),
                b"coarse_labels": c.tolist(),
            }
        for name, obj in members.items():
            raw = pickle.dumps(obj, protocol=2)
            info = tarfile.TarInfo(f"cifar-100-python/{name}")
            info.size = len(raw)
            tar.addfile(info, io.BytesIO(raw))
    out = tfds_source.prepare(
        "cifar100", tmp_path, tmp_path / "tfds", progress=False, check_counts=False
    )
    assert out["num_examples"] == {"train": 7, "test": 3}
    builder = tfds.builder("cifar100", data_dir=str(tmp_path / "tfds"))
    assert builder.info.features["label"].names[3] == "fine3"
    assert builder.info.features["coarse_label"].names[19] == "coarse19"
    rows = list(tfds.as_numpy(builder.as_dataset(split="train", shuffle_files=False)))
    x, y, c = truth["train"]
    assert [r["id"].decode() for r in rows] == [f"train_{i:05d}" for i in range(7)]
    assert np.array_equal(np.stack([r["image"] for r in rows]), x)
    assert [int(r["label"]) for r in rows] == y.tolist()
    assert [int(r["coarse_label"]) for r in rows] == c.tolist()


def test_check_says_it_read_the_prepared_copy(prepared, capsys):
    """`data check` names its source (issue 15, item 9): here the prepared TFDS copy, which
    'auto' prefers when given its data_dir."""
    assert main(["data", "check", "fashion_mnist", "--data-dir", str(prepared)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].endswith("(the real data)")
    assert out[-1] == f"fashion_mnist: read from TFDS data in {prepared}"
