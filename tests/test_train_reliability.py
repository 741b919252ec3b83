"""Bad input to `nc-mixup train` and reruns of a workdir (issue 15): one line, exit 2, nothing
written or lost; a workdir belongs to one run; metrics.jsonl and TensorBoard agree on resume."""

import json
import os

import numpy as np
import pytest

from nc_mixup import cli, train
from nc_mixup import config as config_lib
from nc_mixup import workdir as workdir_lib
from nc_mixup.config import ConfigError
from nc_mixup.metrics_writer import read_metrics

# 200 training images, 5 steps per epoch
BASE = {
    "dataset.n_per_class": 20,
    "dataset.test_n_per_class": 10,
    "model.name": "mlp",
    "model.width": 16,
    "model.depth": 1,
    "batch_size": 40,
    "num_epochs": 2,
    "optimizer.learning_rate": 0.05,
    "log_every_steps": 2,
}


def _config(**overrides):
    items = {**BASE, **overrides}
    return config_lib.apply_overrides(
        config_lib.default_config(), [(k, str(v)) for k, v in items.items()]
    )


def _argv(workdir, config="experiments/configs/smoke.py", **overrides):
    items = {**BASE, **overrides}
    return ["train", "--config", str(config), "--workdir", str(workdir)] + [
        f"--config.{k}={v}" for k, v in items.items()
    ]


def _cli(argv, capsys):
    """(exit status, stderr) of `nc-mixup ARGV`, run in this process."""
    capsys.readouterr()
    code = cli.main([str(a) for a in argv])
    return code, capsys.readouterr().err


def _one_line_error(err: str) -> str:
    lines = [line for line in err.splitlines() if "error:" in line]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


@pytest.fixture(scope="module")
def finished(tmp_path_factory, fashion_mnist_dir):
    """A finished 2-epoch run (10 steps)."""
    workdir = tmp_path_factory.mktemp("finished")
    train.train_and_evaluate(_config(), workdir)
    return workdir


def _snapshot(workdir):
    """Every file under `workdir` with its bytes (to show nothing was rewritten)."""
    out = {}
    for root, _, files in os.walk(workdir):
        for name in files:
            path = os.path.join(root, name)
            with open(path, "rb") as f:
                out[os.path.relpath(path, workdir)] = f.read()
    return out


# -- a workdir belongs to one run (issue 15, item 1)


@pytest.mark.parametrize(
    "overrides, keys",
    [
        ({"loss": "mse", "optimizer.learning_rate": 0.5}, ["loss", "optimizer.learning_rate"]),
        ({"model.width": 32}, ["model.width"]),
        ({"num_epochs": 1}, ["num_epochs"]),
    ],
)
def test_rerun_with_a_different_config_is_refused_and_rewrites_nothing(
    finished, capsys, overrides, keys
):
    before = _snapshot(finished)
    code, err = _cli(_argv(finished, **overrides), capsys)
    line = _one_line_error(err)
    assert code == 2
    assert all(k in line for k in keys) and "--allow-config-change" in line
    assert _snapshot(finished) == before


def test_rerun_with_the_same_config_or_neutral_keys_is_a_no_op(finished):
    before = _snapshot(finished)
    summary = train.train_and_evaluate(_config(log_every_steps=3), finished)
    assert summary["step"] == 10 and not summary["interrupted"]
    assert (finished / "config.json").read_bytes() == before["config.json"]
    assert read_metrics(finished) == [json.loads(x) for x in before["metrics.jsonl"].splitlines()]


def test_extending_num_epochs_with_the_flag_is_recorded_not_overwritten(tmp_path, finished):
    import shutil

    workdir = tmp_path / "run"
    shutil.copytree(finished, workdir)
    config_json = (workdir / "config.json").read_text()
    with pytest.raises(ConfigError, match="num_epochs"):
        train.train_and_evaluate(_config(num_epochs=3), workdir)
    summary = train.train_and_evaluate(_config(num_epochs=3), workdir, allow_config_change=True)
    assert summary["step"] == 15
    assert (workdir / "config.json").read_text() == config_json
    changes = [json.loads(x) for x in (workdir / "config_changes.jsonl").read_text().splitlines()]
    assert changes == [{"changes": {"num_epochs": [2, 3]}}]
    before = _snapshot(workdir)
    with pytest.raises(ConfigError, match="model.width.*new workdir"):
        train.train_and_evaluate(
            _config(num_epochs=3, **{"model.width": 32}), workdir, allow_config_change=True
        )
    assert _snapshot(workdir) == before


# -- validation of values (items 3 and 10)


@pytest.mark.parametrize(
    "key, value", [("mixup.alpha", "nan"), ("mixup.alpha", "inf"), ("etf_norm", "nan")]
)
def test_non_finite_values_exit_2_naming_the_key(tmp_path, capsys, key, value):
    code, err = _cli(_argv(tmp_path / "w", **{key: value, "fixed_etf": "true"}), capsys)
    assert code == 2 and f"'{key}'" in _one_line_error(err) and "finite" in err
    assert not (tmp_path / "w").exists()


def test_batch_size_larger_than_the_dataset_exits_2_and_writes_nothing(tmp_path, capsys):
    code, err = _cli(_argv(tmp_path / "w", batch_size=400), capsys)
    line = _one_line_error(err)
    assert code == 2 and "'batch_size'" in line and "400" in line and "200" in line
    assert not (tmp_path / "w").exists()  # a failed start leaves no workdir behind


@pytest.mark.parametrize(
    "source, expected",
    [
        ("def get_config(:\n", "line 1: syntax error"),
        ("import not_a_module_anywhere\n", "line 1: loading it raised ModuleNotFoundError"),
        (
            "def get_config(arg=None):\n    raise RuntimeError('boom')\n",
            "line 2: get_config(None) raised RuntimeError: boom",
        ),
        ("def get_config(arg=None):\n    return None\n", "returned NoneType"),
    ],
)
def test_broken_config_files_exit_2_naming_file_and_line(tmp_path, capsys, source, expected):
    path = tmp_path / "bad_config.py"
    path.write_text(source)
    code, err = _cli(["train", "--config", path, "--workdir", tmp_path / "w"], capsys)
    line = _one_line_error(err)
    assert code == 2 and str(path) in line and expected in line, line
    assert not (tmp_path / "w").exists()


def test_a_workdir_that_is_a_file_exits_2(tmp_path, capsys):
    target = tmp_path / "file"
    target.write_text("keep me")
    for workdir in (target, target / "sub"):
        code, err = _cli(_argv(workdir), capsys)
        assert code == 2 and "is a file" in _one_line_error(err) and str(target) in err
    assert target.read_text() == "keep me"


def test_a_workdir_that_is_not_writable_exits_2(tmp_path, capsys, monkeypatch):
    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(workdir_lib.tempfile, "mkstemp", refuse)  # root ignores permission bits
    code, err = _cli(_argv(tmp_path / "w"), capsys)
    assert code == 2 and "not writable" in _one_line_error(err) and str(tmp_path) in err


def test_train_help_mentions_config_overrides(capsys):
    with pytest.raises(SystemExit):
        cli.main(["train", "--help"])
    out = capsys.readouterr().out
    assert "--config.KEY=VALUE" in out and "--allow-config-change" in out


# -- leftovers and logs of earlier attempts (items 4, 7, 12, 13)


def test_retry_of_a_run_without_checkpoint_starts_a_fresh_log(tmp_path, fashion_mnist_dir):
    workdir = tmp_path / "w"
    workdir.mkdir()
    # what a diverged attempt that saved no checkpoint left: its own lines
    (workdir / "metrics.jsonl").write_text(json.dumps({"step": 2, "epoch": 1, "loss": 1e30}) + "\n")
    train.train_and_evaluate(_config(), workdir)
    steps = [r["step"] for r in read_metrics(workdir) if "loss" in r]
    assert steps == [2, 4, 6, 8, 10]
    assert all(r["loss"] < 1e3 for r in read_metrics(workdir) if "loss" in r)


def test_a_bad_line_in_metrics_does_not_block_a_resume(tmp_path, capsys, fashion_mnist_dir):
    workdir = tmp_path / "w"
    first = train.train_and_evaluate(_config(), workdir, stop_after_step=6)
    assert first["interrupted"]
    with (workdir / "metrics.jsonl").open("a") as f:
        f.write('{"step": 7, "loss": 0.\n')  # torn by kill -9
    capsys.readouterr()
    second = train.train_and_evaluate(_config(), workdir)
    assert second["step"] == 10
    assert "metrics.jsonl, line" in capsys.readouterr().err  # named
    steps = [r["step"] for r in read_metrics(workdir) if "loss" in r]
    assert steps == [2, 4, 6, 8, 10]


def test_tensorboard_holds_each_step_once_after_a_resume(tmp_path, fashion_mnist_dir):
    from tensorboard.backend.event_processing import event_accumulator

    workdir = tmp_path / "w"
    train.train_and_evaluate(_config(), workdir, stop_after_step=7)
    # as after kill -9 past the checkpoint: lines (and events) beyond step 7 exist
    from nc_mixup.metrics_writer import MetricsWriter

    w = MetricsWriter(workdir)
    w.write({"step": 8, "epoch": 2, "loss": 123.0}, step=8, prefix="train/")
    w.close()
    train.train_and_evaluate(_config(), workdir)
    acc = event_accumulator.EventAccumulator(str(workdir / "tensorboard"))
    acc.Reload()
    steps = [e.step for e in acc.Scalars("train/loss")]
    assert steps == [2, 4, 6, 8, 10]
    jsonl = {r["step"]: r["loss"] for r in read_metrics(workdir) if "loss" in r}
    assert [pytest.approx(jsonl[e.step], rel=1e-6) == e.value for e in acc.Scalars("train/loss")]
    assert all(e.value < 100 for e in acc.Scalars("train/loss"))


def test_leftover_orbax_temporary_folders_are_removed(tmp_path, fashion_mnist_dir):
    workdir = tmp_path / "w"
    train.train_and_evaluate(_config(), workdir, stop_after_step=5)
    leftover = workdir / "checkpoints" / "7.orbax-checkpoint-tmp-1234"
    leftover.mkdir()
    (leftover / "partial").write_text("x")
    summary = train.train_and_evaluate(_config(), workdir)
    assert summary["step"] == 10 and not leftover.exists()


# -- extension point: a metric added to train_step's output is logged (issue 14, item 2)


def test_a_new_train_step_metric_reaches_metrics_jsonl_and_tensorboard(
    tmp_path, monkeypatch, fashion_mnist_dir
):
    from tensorboard.backend.event_processing import event_accumulator

    original = train.train_step

    def train_step_with_norm(state, batch, rng):
        new_state, metrics = original(state, batch, rng)
        import jax
        import jax.numpy as jnp

        leaves = jax.tree.leaves(new_state.params)
        metrics["param_norm"] = jnp.sqrt(sum(jnp.sum(x**2) for x in leaves))
        return new_state, metrics

    monkeypatch.setattr(train, "train_step", train_step_with_norm)
    workdir = tmp_path / "w"
    train.train_and_evaluate(_config(), workdir)
    lines = [r for r in read_metrics(workdir) if "loss" in r]
    assert len(lines) == 5 and all(np.isfinite(r["param_norm"]) for r in lines)
    assert lines[0]["param_norm"] != lines[-1]["param_norm"]
    acc = event_accumulator.EventAccumulator(str(workdir / "tensorboard"))
    acc.Reload()
    assert [e.step for e in acc.Scalars("train/param_norm")] == [2, 4, 6, 8, 10]
