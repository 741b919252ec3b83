"""Offline data commands and data messages (issue 15, items 9 and 11), on real FashionMNIST.

- `data check` never downloads: a dataset that is nowhere (`mnist`), `--source tfds` on an empty
  or missing folder: exit 2 in seconds, one line with the `nc-mixup data prepare` command,
  nothing written;
- `data check --raw-dir` with a mistyped or empty folder is an error naming that folder, not
  the system FashionMNIST read silently; a good one says which source it read;
- a TFDS download on an offline machine fails fast, and a failed download removes what it wrote;
- a too-large `test_n_per_class` is reported under its own name; a bad label byte is blamed on
  the labels file.
"""

import gzip
import pathlib
import shutil
import sys
import time
import types

import pytest

from nc_mixup.cli import main
from nc_mixup.data import DatasetError, get_datasets, load_dataset, locate


@pytest.fixture
def no_tfds_home(tmp_path, monkeypatch):
    """An empty default TFDS data_dir, so 'auto' cannot find a prepared copy."""
    monkeypatch.setenv("TFDS_DATA_DIR", str(tmp_path / "tfds_home"))
    return tmp_path / "tfds_home"


def _check(capsys, *argv) -> tuple[int, list[str], list[str], float]:
    start = time.perf_counter()
    status = main(["data", "check", *argv])
    seconds = time.perf_counter() - start
    captured = capsys.readouterr()
    return status, captured.out.splitlines(), captured.err.strip().splitlines(), seconds


def test_check_says_which_source_it_read(fashion_mnist_dir, no_tfds_home, capsys):
    status, out, err, _ = _check(capsys, "fashion_mnist", "--raw-dir", str(fashion_mnist_dir))
    assert status == 0, err
    assert out[-1] == f"fashion_mnist: read from raw files in {fashion_mnist_dir}"
    status, out, err, _ = _check(capsys, "fashion_mnist")  # the Debian location, said so
    assert status == 0 and out[-1].startswith("fashion_mnist: read from raw files in /usr/share")


@pytest.mark.parametrize("folder", ["typo", "empty"])
def test_check_with_a_bad_raw_dir_names_it(
    fashion_mnist_dir, no_tfds_home, tmp_path, capsys, folder
):
    raw_dir = tmp_path / folder
    if folder == "empty":
        raw_dir.mkdir()
    status, out, err, seconds = _check(capsys, "fashion_mnist", "--raw-dir", str(raw_dir))
    assert status == 2 and out == [] and len(err) == 1, (out, err)
    assert f"raw files in {raw_dir}" in err[0]
    assert ("no such folder" if folder == "typo" else "empty") in err[0]
    assert str(fashion_mnist_dir) not in err[0].split("To get it")[0]
    assert seconds < 10
    assert not (tmp_path / "typo").exists() and not no_tfds_home.exists()


@pytest.mark.parametrize("folder", ["typo", "file"])
def test_check_with_a_bad_data_dir_names_it(fashion_mnist_dir, tmp_path, capsys, folder):
    data_dir = tmp_path / folder
    if folder == "file":
        data_dir.write_text("not a folder")
    status, out, err, seconds = _check(capsys, "fashion_mnist", "--data-dir", str(data_dir))
    assert status == 2 and out == [] and len(err) == 1, (out, err)
    assert f"TFDS data in {data_dir}" in err[0] and seconds < 10
    assert ("no such folder" if folder == "typo" else "not a folder") in err[0]
    assert str(fashion_mnist_dir) not in err[0].split("To get it")[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ([] if folder == "typo" else ["file"])


def test_check_of_a_dataset_that_is_nowhere_fails_fast(no_tfds_home, capsys):
    status, out, err, seconds = _check(capsys, "mnist")
    assert status == 2 and len(err) == 1, err
    assert "nc-mixup data prepare mnist" in err[0] and seconds < 10
    assert not no_tfds_home.exists()


@pytest.mark.parametrize("exists", [True, False])
def test_check_tfds_source_on_an_unprepared_folder(tmp_path, capsys, exists):
    data_dir = tmp_path / "tfds"
    if exists:
        data_dir.mkdir()
    status, out, err, seconds = _check(
        capsys, "fashion_mnist", "--source", "tfds", "--data-dir", str(data_dir)
    )
    assert status == 2 and len(err) == 1, err
    assert str(data_dir) in err[0] and "nc-mixup data prepare fashion_mnist" in err[0]
    assert seconds < 10
    assert (list(data_dir.iterdir()) == []) if exists else not data_dir.exists()


def test_unprepared_tfds_folder_is_decided_without_tensorflow(tmp_path):
    import subprocess

    code = (
        "import sys\n"
        "from nc_mixup.data import DatasetError, load_dataset\n"
        "try:\n"
        f"    load_dataset('fashion_mnist', 'train', source='tfds', data_dir={str(tmp_path)!r},"
        " download=False)\n"
        "except DatasetError as e:\n"
        "    print(e)\n"
        "assert 'tensorflow' not in sys.modules\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    assert "no prepared TFDS dataset" in res.stdout


def _fake_tfds(monkeypatch, download):
    """tfds_source with a stand-in for tensorflow_datasets whose builder is never prepared and
    whose download runs `download(data_dir)`."""
    from nc_mixup.data import tfds_source

    class Builder:
        def __init__(self, data_dir):
            self.data_dir = data_dir

        def is_prepared(self):
            return False

        def download_and_prepare(self):
            download(self.data_dir)

    fake = types.SimpleNamespace(builder=lambda name, data_dir=None: Builder(data_dir))
    monkeypatch.setattr(tfds_source, "_tfds", lambda: fake)
    return tfds_source


def test_download_offline_fails_fast_and_writes_nothing(tmp_path, monkeypatch):
    calls = []
    tfds_source = _fake_tfds(monkeypatch, calls.append)
    monkeypatch.setattr(tfds_source, "DOWNLOAD_HOST", ("nc-mixup-offline.invalid", 443))
    data_dir = tmp_path / "tfds"
    start = time.perf_counter()
    with pytest.raises(DatasetError) as e:
        load_dataset("mnist", "train", source="tfds", data_dir=data_dir)
    assert time.perf_counter() - start < 10 and calls == []
    msg = str(e.value)
    assert "no network" in msg and "nc-mixup data prepare mnist" in msg and "\n" not in msg
    assert not data_dir.exists()


def test_failed_download_removes_what_it_wrote(tmp_path, monkeypatch):
    def partial_download(data_dir):
        root = tmp_path / "tfds"
        (root / "downloads" / "extracted" / "x").mkdir(parents=True)
        (root / "downloads" / "mnist.tmp").write_text("partial")
        (root / "mnist" / "3.0.1.incomplete").mkdir(parents=True)
        raise ConnectionError("Connection reset by peer")

    tfds_source = _fake_tfds(monkeypatch, partial_download)
    monkeypatch.setattr(tfds_source, "_offline_reason", lambda: None)
    data_dir = tmp_path / "tfds"
    (data_dir / "downloads").mkdir(parents=True)
    (data_dir / "downloads" / "kept.bin").write_text("an earlier download")
    (data_dir / "cifar10").mkdir()
    with pytest.raises(DatasetError, match="download into .* failed: ConnectionError"):
        load_dataset("mnist", "train", source="tfds", data_dir=data_dir)
    left = sorted(str(p.relative_to(data_dir)) for p in data_dir.rglob("*"))
    assert left == ["cifar10", "downloads", "downloads/kept.bin"]
    shutil.rmtree(data_dir)
    with pytest.raises(DatasetError):
        load_dataset("mnist", "train", source="tfds", data_dir=data_dir)
    assert not data_dir.exists()  # created by the download, removed with it


def test_locate_describes_the_source(fashion_mnist_dir, no_tfds_home, tmp_path):
    where = locate("fashion_mnist", "train", raw_dir=fashion_mnist_dir)
    assert where.describe() == f"raw files in {fashion_mnist_dir}"
    with pytest.raises(DatasetError, match="no such folder"):
        locate("fashion_mnist", "train", raw_dir=tmp_path / "nope")


@pytest.mark.parametrize("key", ["n_per_class", "test_n_per_class"])
def test_too_large_subset_named_by_its_key(fashion_mnist_dir, key):
    cfg = dict(
        name="fashion_mnist",
        n_per_class=10,
        test_n_per_class=10,
        source="raw",
        raw_dir=str(fashion_mnist_dir),
    )
    cfg[key] = 6001 if key == "n_per_class" else 1001
    with pytest.raises(DatasetError) as e:
        get_datasets(cfg)
    msg = str(e.value)
    assert f"'dataset.{key}'" in msg and str(cfg[key]) in msg, msg
    split = "train" if key == "n_per_class" else "test"
    assert f"fashion_mnist {split}" in msg
    cfg[key] = -1
    with pytest.raises(DatasetError, match=f"'dataset.{key}': must be >= 0"):
        get_datasets(cfg)


def test_bad_label_byte_blames_the_labels_file(fashion_mnist_dir, tmp_path):
    for name in ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        shutil.copy(fashion_mnist_dir / name, tmp_path / name)
    labels = tmp_path / "t10k-labels-idx1-ubyte.gz"
    data = bytearray(gzip.decompress(labels.read_bytes()))
    data[8 + 123] = 42  # header of 8 bytes, then one byte per label
    labels.write_bytes(gzip.compress(bytes(data)))
    with pytest.raises(DatasetError) as e:
        load_dataset("fashion_mnist", "test", raw_dir=tmp_path, source="raw")
    msg = str(e.value)
    assert msg.startswith(f"{labels}:") and "example 123: 42" in msg, msg
    assert "images" not in msg


def test_train_with_too_large_test_subset_is_one_line_exit_2(fashion_mnist_dir, tmp_path, capsys):
    config = str(pathlib.Path(__file__).resolve().parents[1] / "experiments/configs/smoke.py")
    argv = ["train", "--config", config, "--workdir", str(tmp_path / "run")]
    assert main([*argv, "--config.dataset.test_n_per_class=2000"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "'dataset.test_n_per_class': 2000" in err[0], err
    assert "'dataset.n_per_class'" not in err[0]
