"""Workdirs on GCS (gs://...): path handling and the buffered writer, tested without a network.

The non-local code path is exercised on a local tmp folder: `MetricsWriter(buffered=True)`, or
`is_local` patched to say False for a whole training run (orbax, which handles gs:// itself,
still gets the local folder).
"""

import json
import os
import pathlib

import jax
import numpy as np
import pytest

from nc_mixup import checkpointing, metrics_writer, train
from nc_mixup import config as config_lib
from nc_mixup.metrics_writer import METRICS_FILE, TENSORBOARD_DIR, MetricsWriter, read_metrics


@pytest.mark.parametrize(
    "path, local",
    [
        ("gs://bucket/run", False),
        ("s3://bucket/run", False),
        ("/tmp/run", True),
        ("runs/a", True),
        (pathlib.Path("runs/a"), True),
    ],
)
def test_is_local(path, local):
    assert metrics_writer.is_local(path) is local


def test_checkpoint_dir_never_resolves_a_gcs_workdir(monkeypatch):
    resolved = []
    real_resolve = pathlib.Path.resolve

    def spy(self, *args, **kwargs):
        resolved.append(str(self))
        return real_resolve(self, *args, **kwargs)

    monkeypatch.setattr(pathlib.Path, "resolve", spy)
    path = checkpointing.checkpoint_dir("gs://bucket/run")
    assert str(path) == "gs://bucket/run/checkpoints"
    assert os.fspath(path) == "gs://bucket/run/checkpoints"
    assert resolved == []


def test_checkpoint_dir_makes_a_local_workdir_absolute(tmp_path, monkeypatch):
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "real")
    monkeypatch.chdir(tmp_path)
    assert str(checkpointing.checkpoint_dir("link")) == str(
        (tmp_path / "real" / "checkpoints").resolve()
    )


def _records(start, stop):
    return [{"step": s, "loss": 1.0 / s, "flag": True, "note": "x"} for s in range(start, stop)]


def _write_all(writer, records):
    for r in records:
        writer.write(r, step=r["step"], prefix="train/")


def test_buffered_writer_rewrites_at_flush_points_and_matches_the_appending_one(tmp_path):
    local_dir, buffered_dir = tmp_path / "local", tmp_path / "buffered"
    metrics = buffered_dir / METRICS_FILE

    # the run that is preempted: records after the last flush are lost
    w = MetricsWriter(buffered_dir, buffered=True)
    _write_all(w, _records(1, 4))
    assert not metrics.exists()  # nothing appended
    w.flush()
    assert [r["step"] for r in read_metrics(buffered_dir)] == [1, 2, 3]
    _write_all(w, _records(4, 6))
    assert [r["step"] for r in read_metrics(buffered_dir)] == [1, 2, 3]  # not flushed yet
    w.flush()
    assert [r["step"] for r in read_metrics(buffered_dir)] == [1, 2, 3, 4, 5]
    assert list((buffered_dir / TENSORBOARD_DIR).iterdir())  # events copied to the workdir
    _write_all(w, _records(6, 8))  # the run dies here, without close()
    assert [r["step"] for r in read_metrics(buffered_dir)] == [1, 2, 3, 4, 5]

    # the resumed run (checkpoint at step 4) reads, truncates and goes on
    w = MetricsWriter(buffered_dir, buffered=True)
    w.truncate_after(4)
    assert [r["step"] for r in read_metrics(buffered_dir)] == [1, 2, 3, 4]
    _write_all(w, _records(5, 9))
    tb_local = w._tb_local
    w.close()
    assert not os.path.exists(tb_local)  # the local copy of the events is removed

    # the appending writer (local workdirs), through the same story
    w = MetricsWriter(local_dir)
    assert not w.buffered
    _write_all(w, _records(1, 8))
    w.close()
    w = MetricsWriter(local_dir)
    w.truncate_after(4)
    _write_all(w, _records(5, 9))
    w.close()
    assert metrics.read_text() == (local_dir / METRICS_FILE).read_text()
    assert [r["step"] for r in read_metrics(buffered_dir)] == list(range(1, 9))


def test_disabled_buffered_writer_writes_nothing(tmp_path):
    w = MetricsWriter(tmp_path / "run", enabled=False, buffered=True)
    _write_all(w, _records(1, 3))
    w.flush()
    w.close()
    assert not (tmp_path / "run").exists()


def _config():
    overrides = {
        "dataset.n_per_class": 40,
        "dataset.test_n_per_class": 20,
        "model.name": "mlp",
        "model.width": 32,
        "model.depth": 1,
        "batch_size": 40,
        "num_epochs": 2,
        "log_every_steps": 3,
        "checkpoint_every_epochs": 1,
        "snapshot_epochs": "1",
    }
    return config_lib.apply_overrides(
        config_lib.default_config(), [(k, str(v)) for k, v in overrides.items()]
    )


def test_training_with_the_non_local_code_path_resumes_exactly(
    tmp_path, monkeypatch, fashion_mnist_dir
):
    """Interrupted + resumed with the buffered writer and the direct config.json write equals an
    uninterrupted run with the local code path: same metrics, checkpoints and parameters."""
    straight = tmp_path / "straight"
    train.train_and_evaluate(_config(), straight)

    workdir = tmp_path / "remote"
    monkeypatch.setattr(metrics_writer, "is_local", lambda path: False)
    monkeypatch.setattr(train, "is_local", lambda path: False)
    copies = []
    real_copy_tree = metrics_writer._copy_tree
    monkeypatch.setattr(
        metrics_writer, "_copy_tree", lambda *a: copies.append(a) or real_copy_tree(*a)
    )
    first = train.train_and_evaluate(
        _config(), workdir, stop_after_step=13
    )  # mid-epoch 2, mid log window
    assert first["interrupted"] and first["step"] == 13
    assert max(r["step"] for r in read_metrics(workdir)) <= 13
    second = train.train_and_evaluate(_config(), workdir)
    assert not second["interrupted"] and second["step"] == 20

    def curve(w):
        return [{k: v for k, v in r.items() if k != "images_per_sec"} for r in read_metrics(w)]

    assert curve(workdir) == curve(straight)
    assert json.loads((workdir / "config.json").read_text()) == json.loads(
        (straight / "config.json").read_text()
    )
    assert not (workdir / "config.json.tmp").exists()
    assert copies and list((workdir / TENSORBOARD_DIR).iterdir())  # the buffered writer ran
    a, b = train.load_run(straight), train.load_run(workdir)
    assert (b.step, b.epoch) == (20, 2)
    for x, y in zip(jax.tree.leaves(a.variables), jax.tree.leaves(b.variables), strict=True):
        np.testing.assert_array_equal(x, y)
