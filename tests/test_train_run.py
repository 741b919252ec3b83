"""Whole runs on real FashionMNIST subsets: learning, resume == uninterrupted, NaN, load_run."""

import json

import jax
import numpy as np
import pytest

from nc_mixup import config as config_lib
from nc_mixup import train
from nc_mixup.checkpointing import Checkpointer
from nc_mixup.metrics_writer import read_metrics

TRAIN_KEYS = {"step", "epoch", "loss", "train_accuracy", "learning_rate", "images_per_sec"}
EVAL_KEYS = {"epoch", "test_accuracy", "test_loss"}


def _config(**overrides):
    base = {
        "dataset.n_per_class": 60,
        "dataset.test_n_per_class": 30,
        "model.name": "mlp",
        "model.width": 64,
        "model.depth": 2,
        "batch_size": 40,
        "num_epochs": 3,
        "optimizer.learning_rate": 0.05,
        "log_every_steps": 4,
        "checkpoint_every_epochs": 1,
        "snapshot_epochs": "1",
    }
    base.update(overrides)
    return config_lib.apply_overrides(
        config_lib.default_config(), [(k, str(v)) for k, v in base.items()]
    )


def _train_lines(workdir):
    return [r for r in read_metrics(workdir) if "loss" in r]


def _eval_lines(workdir):
    return [r for r in read_metrics(workdir) if "test_accuracy" in r]


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory, fashion_mnist_dir):
    """3 epochs (45 steps) of input mixup, uninterrupted."""
    workdir = tmp_path_factory.mktemp("straight")
    summary = train.train_and_evaluate(_config(), workdir)
    return workdir, summary


def test_short_run_learns_and_writes_the_workdir(finished_run):
    workdir, summary = finished_run
    assert not summary["interrupted"] and summary["step"] == 45
    lines = _train_lines(workdir)
    assert all(TRAIN_KEYS <= set(r) for r in lines)
    assert all(r["images_per_sec"] > 0 for r in lines)
    assert [r["step"] for r in lines] == [4 * i for i in range(1, 12)] + [45]
    assert lines[-1]["loss"] < lines[0]["loss"] - 0.3
    evals = _eval_lines(workdir)
    assert [r["epoch"] for r in evals] == [1, 2, 3] and all(EVAL_KEYS <= set(r) for r in evals)
    assert evals[-1]["test_accuracy"] > 0.5  # chance: 0.1
    assert summary["test_accuracy"] == evals[-1]["test_accuracy"]
    resolved = json.loads((workdir / "config.json").read_text())
    assert resolved["model"]["width"] == 64 and resolved["snapshot_epochs"] == [1]
    assert (workdir / "tensorboard").is_dir()
    # the epoch-1 snapshot and the final checkpoint are kept; the epoch-2 one is not
    assert Checkpointer(workdir, read_only=True).all_steps() == [15, 45]


def test_load_run_gives_the_trained_model(finished_run, fashion_mnist_dir):
    from nc_mixup.data import get_datasets

    workdir, summary = finished_run
    run = train.load_run(workdir)
    assert (run.step, run.epoch) == (45, 3)
    assert set(run.variables) == {"params"}
    config = run.config
    _, _, x, y, _ = get_datasets(config.dataset)
    logits = jax.jit(run.model.apply)(run.variables, x)
    acc = float(np.mean(np.argmax(logits, -1) == y))
    assert acc == pytest.approx(summary["test_accuracy"], abs=1e-6)
    early = train.load_run(workdir, step=15)
    assert early.epoch == 1
    with pytest.raises(FileNotFoundError, match="step 30"):
        train.load_run(workdir, step=30)
    with pytest.raises(FileNotFoundError, match="config.json"):
        train.load_run(workdir / "nothing")


def test_resume_gives_the_same_curve_and_parameters(finished_run, tmp_path, monkeypatch):
    straight, _ = finished_run
    workdir = tmp_path / "interrupted"
    first = train.train_and_evaluate(
        _config(), workdir, stop_after_step=22
    )  # mid-epoch 2, mid log window
    assert first["interrupted"] and first["step"] == 22
    assert max(r["step"] for r in read_metrics(workdir)) <= 22
    second = train.train_and_evaluate(_config(), workdir)
    assert not second["interrupted"] and second["step"] == 45

    def curve(w):
        return [{k: v for k, v in r.items() if k != "images_per_sec"} for r in read_metrics(w)]

    assert curve(workdir) == curve(straight)
    a, b = train.load_run(straight), train.load_run(workdir)
    for x, y in zip(jax.tree.leaves(a.variables), jax.tree.leaves(b.variables), strict=True):
        np.testing.assert_array_equal(x, y)


def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(tmp_path, fashion_mnist_dir):
    config = _config(
        **{"optimizer.learning_rate": 1e12, "snapshot_epochs": "0", "mixup.alpha": 0.0}
    )
    with pytest.raises(train.TrainingDiverged, match="last good checkpoint \\(step 0\\)"):
        train.train_and_evaluate(config, tmp_path)
    assert Checkpointer(tmp_path, read_only=True).all_steps() == [0]
    assert all(np.isfinite(r["loss"]) for r in _train_lines(tmp_path))
    run = train.load_run(tmp_path)
    assert run.step == 0


def test_checkpointer_round_trip_with_batch_stats(tmp_path):
    rng = np.random.default_rng(0)
    variables = {
        "params": {"conv": {"kernel": rng.normal(size=(3, 3, 2, 4)).astype(np.float32)}},
        "batch_stats": {"bn": {"mean": rng.normal(size=4).astype(np.float32)}},
    }
    train_part = {"opt_state": {"mu": np.ones(3, np.float32)}, "step": np.asarray(7, np.int32)}
    ckpt = Checkpointer(tmp_path, snapshot_steps=[1])
    for step in (1, 2, 7):
        ckpt.save(step, variables, train_part, {"step": step, "rng": [0, 1]})
    ckpt.close()
    reader = Checkpointer(tmp_path, read_only=True)
    assert reader.all_steps() == [1, 7]  # the snapshot and the latest
    got, meta, step = reader.restore_variables()
    assert step == 7 and meta["rng"] == [0, 1]
    for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(variables), strict=True):
        np.testing.assert_array_equal(a, b)
    _, got_train, _ = reader.restore(1, variables, train_part)
    assert int(got_train["step"]) == 7 and got_train["opt_state"]["mu"].shape == (3,)
    with pytest.raises(FileNotFoundError, match="step 3"):
        reader.restore_variables(3)
