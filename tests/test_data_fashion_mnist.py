"""`load_dataset` on the real FashionMNIST (the Debian raw files), and its error messages."""

import subprocess
import sys
import textwrap

import numpy as np
import pytest

from nc_mixup.data import DATASETS, DatasetError, load_dataset
from nc_mixup.data.raw import content_hash


@pytest.fixture(scope="module")
def train(fashion_mnist_dir):
    return load_dataset("fashion_mnist", "train", raw_dir=fashion_mnist_dir, source="raw")


@pytest.fixture(scope="module")
def test(fashion_mnist_dir):
    return load_dataset("fashion_mnist", "test", raw_dir=fashion_mnist_dir, source="raw")


def test_shapes_and_dtypes(train, test):
    (x, y), (xt, yt) = train, test
    assert x.shape == (60000, 28, 28, 1) and x.dtype == np.uint8
    assert y.shape == (60000,) and y.dtype == np.int32
    assert xt.shape == (10000, 28, 28, 1) and xt.dtype == np.uint8
    assert yt.shape == (10000,) and yt.dtype == np.int32


def test_exactly_balanced(train, test):
    assert np.bincount(train[1]).tolist() == [6000] * 10
    assert np.bincount(test[1]).tolist() == [1000] * 10


def test_label_sequence_and_pixel_statistics(train):
    x, y = train
    assert y[:6].tolist() == [9, 0, 0, 3, 0, 2]
    pixels = x.astype(np.float64) / 255.0
    assert pixels.mean() == pytest.approx(0.2860, abs=5e-4)
    assert pixels.mean() == pytest.approx(DATASETS["fashion_mnist"].mean[0], abs=5e-4)
    assert pixels.std() == pytest.approx(DATASETS["fashion_mnist"].std[0], abs=5e-4)
    assert x.min() == 0 and x.max() == 255


def test_content_hash_is_the_documented_one(train, test):
    info = DATASETS["fashion_mnist"]
    assert content_hash(*train) == info.sha256["train"]
    assert content_hash(*test) == info.sha256["test"]


def test_auto_and_default_locations_agree(train, tmp_path, monkeypatch):
    monkeypatch.setenv("TFDS_DATA_DIR", str(tmp_path))  # an empty TFDS dir: auto falls to raw
    x, y = load_dataset("fashion_mnist", "train")
    assert np.array_equal(x, train[0]) and np.array_equal(y, train[1])
    x, y = load_dataset("fashion_mnist", "train", source="raw")  # the Debian location
    assert np.array_equal(x, train[0])


def test_cached_and_read_only(fashion_mnist_dir, train):
    again = load_dataset("fashion_mnist", "train", raw_dir=fashion_mnist_dir, source="raw")
    assert again[0] is train[0]  # decoded once per process
    with pytest.raises(ValueError, match="read-only"):
        again[0][0, 0, 0, 0] = 1


def test_unknown_name_lists_known_ones():
    with pytest.raises(DatasetError, match="unknown dataset 'fmnist'.*fashion_mnist.*svhn_cropped"):
        load_dataset("fmnist", "train")


def test_unknown_split_and_source():
    with pytest.raises(DatasetError, match="unknown split 'validation'.*train, test"):
        load_dataset("fashion_mnist", "validation")
    with pytest.raises(DatasetError, match="unknown source 'disk'"):
        load_dataset("fashion_mnist", "train", source="disk")


def test_not_found_says_where_and_how(tmp_path, monkeypatch):
    monkeypatch.setenv("TFDS_DATA_DIR", str(tmp_path / "tfds"))
    with pytest.raises(DatasetError) as e:
        load_dataset("mnist", "train", raw_dir=tmp_path, download=False)
    msg = str(e.value)
    assert "mnist train not found" in msg
    assert str(tmp_path / "tfds") in msg and f"raw files in {tmp_path}" in msg
    assert "nc-mixup data prepare mnist" in msg
    with pytest.raises(DatasetError, match="train-images-idx3-ubyte.gz.*not found in"):
        load_dataset("mnist", "train", raw_dir=tmp_path, source="raw")


def test_fashion_mnist_not_found_mentions_apt(tmp_path, monkeypatch):
    import nc_mixup.data as data

    monkeypatch.setenv("TFDS_DATA_DIR", str(tmp_path))
    monkeypatch.setitem(data.DEBIAN_DIRS, "fashion_mnist", tmp_path / "absent")
    with pytest.raises(DatasetError, match="apt-get install dataset-fashion-mnist"):
        load_dataset("fashion_mnist", "test", download=False)


def test_importing_and_loading_never_imports_tensorflow(fashion_mnist_dir):
    code = textwrap.dedent(f"""
        import sys
        import nc_mixup.data
        from nc_mixup.data import get_datasets, load_dataset, pipeline
        x, y = load_dataset("fashion_mnist", "train", raw_dir={str(fashion_mnist_dir)!r})
        assert x.shape == (60000, 28, 28, 1)
        cfg = dict(name="fashion_mnist", n_per_class=10, test_n_per_class=10, image_size=32,
                   raw_dir={str(fashion_mnist_dir)!r}, source="raw")
        get_datasets(cfg)
        bad = [m for m in sys.modules if m.split(".")[0] in ("tensorflow", "tensorflow_datasets")]
        assert not bad, bad
    """)
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_cli_check_and_list(fashion_mnist_dir, capsys):
    from nc_mixup.cli import main

    assert main(["data", "check", "fashion_mnist", "--raw-dir", str(fashion_mnist_dir)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("fashion_mnist train: 60000x28x28x1 uint8, 6000..6000 per class")
    assert out[0].endswith("(the real data)") and "mean pixel 0.2860" in out[0]
    assert main(["data", "list"]) == 0
    assert "svhn_cropped" in capsys.readouterr().out
    assert main(["data", "check", "nope"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "unknown dataset 'nope'" in err[0]
