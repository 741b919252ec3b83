"""Corrupt checkpoints (issue 15, items 5 and 6), on a real `smoke` run (checkpoints at steps
20 and 60).

- `analyze` of a run whose latest checkpoint is corrupt reports it in one line (naming it) and
  analyses the previous intact one; the corrupt one is left where it is (analyze writes nothing
  into the run).
- `analyze --step N` of a corrupt checkpoint N, or a run with no intact checkpoint: exit 2, one
  line naming the checkpoint(s), no output folder.
- `train` resuming a run whose latest checkpoint is corrupt moves it to
  WORKDIR/corrupt_checkpoints/STEP (nothing deleted), resumes from the previous intact one and
  ends with the same weights as the uninterrupted run.
- `check_checkpoint` (what `reproduce` uses to decide that a run is finished) tells an intact
  checkpoint from a corrupt or missing one.
"""

import json
import pathlib
import shutil

import jax
import numpy as np
import pytest

from nc_mixup.checkpointing import Checkpointer, check_checkpoint
from nc_mixup.cli import main

REPO = pathlib.Path(__file__).resolve().parents[1]
SMOKE = str(REPO / "experiments/configs/smoke.py")


def _truncate_arrays(ckpt: pathlib.Path, item: str = "variables") -> None:
    """Cuts every array data file of `item` of checkpoint folder `ckpt` to 10 bytes."""
    files = [f for f in (ckpt / item).rglob("*") if f.is_file() and f.parent.name == "d"]
    assert files
    for f in files:
        f.write_bytes(f.read_bytes()[:10])


CORRUPTIONS = {
    "truncated_arrays": _truncate_arrays,
    "garbage_meta": lambda ckpt: (ckpt / "meta" / "metadata").write_text("garbage"),
    "missing_item": lambda ckpt: shutil.rmtree(ckpt / "variables"),
    "missing_metadata": lambda ckpt: (ckpt / "variables" / "_METADATA").unlink(),
}


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory, fashion_mnist_dir):
    workdir = tmp_path_factory.mktemp("smoke") / "run"
    assert main(["train", "--config", SMOKE, "--workdir", str(workdir)]) == 0
    assert sorted(p.name for p in (workdir / "checkpoints").iterdir()) == ["20", "60"]
    return workdir


@pytest.fixture
def run_copy(smoke_run, tmp_path):
    dest = tmp_path / "run"
    shutil.copytree(smoke_run, dest)
    return dest


def _variables(workdir, step):
    ckpt = Checkpointer(workdir, read_only=True, async_save=False)
    try:
        variables, _, _ = ckpt.restore_variables(step)
    finally:
        ckpt.close()
    return variables


def _analyze(workdir, out, *more):
    argv = ["analyze", "--workdir", str(workdir), "--out", str(out), "--classes", "0,1,2"]
    return main(argv + ["--lambdas", "0:1:3", "--pairs-per-class", "2", "--no-progress", *more])


def _lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


@pytest.mark.parametrize("corruption", sorted(CORRUPTIONS))
def test_analyze_uses_previous_intact_checkpoint(run_copy, tmp_path, capsys, corruption):
    latest = run_copy / "checkpoints" / "60"
    CORRUPTIONS[corruption](latest)
    before = sorted(str(p) for p in run_copy.rglob("*"))
    out = tmp_path / "analysis"
    assert _analyze(run_copy, out) == 0
    err = _lines(capsys.readouterr().err)
    assert len(err) == 1, err
    assert str(latest) in err[0] and "corrupt" in err[0] and "step 20" in err[0]
    assert json.loads((out / "metrics.json").read_text())["step"] == 20
    assert sorted(str(p) for p in run_copy.rglob("*")) == before  # nothing moved or written


def test_analyze_of_a_corrupt_explicit_step_exits_2(run_copy, tmp_path, capsys):
    latest = run_copy / "checkpoints" / "60"
    _truncate_arrays(latest)
    out = tmp_path / "analysis"
    assert _analyze(run_copy, out, "--step", "60") == 2
    err = _lines(capsys.readouterr().err)
    assert len(err) == 1 and str(latest) in err[0] and "corrupt" in err[0], err
    assert not out.exists()


def test_analyze_without_an_intact_checkpoint_exits_2(run_copy, tmp_path, capsys):
    for step in ("20", "60"):
        _truncate_arrays(run_copy / "checkpoints" / step)
    out = tmp_path / "analysis"
    assert _analyze(run_copy, out) == 2
    err = _lines(capsys.readouterr().err)
    assert len(err) == 1 and "no intact checkpoint" in err[0], err
    assert all(str(run_copy / "checkpoints" / s) in err[0] for s in ("20", "60"))
    assert not out.exists()


def test_train_resumes_from_previous_intact_checkpoint(smoke_run, run_copy, capsys):
    latest = run_copy / "checkpoints" / "60"
    _truncate_arrays(latest, "train")  # the optimizer state: analysis would not notice
    capsys.readouterr()
    assert main(["train", "--config", SMOKE, "--workdir", str(run_copy)]) == 0
    err = capsys.readouterr().err
    corrupt = [line for line in _lines(err) if "corrupt" in line]
    assert len(corrupt) == 1 and str(latest) in corrupt[0] and "step 20" in corrupt[0], err
    assert "resuming from step 20" in err
    moved = run_copy / "corrupt_checkpoints" / "60"
    assert (moved / "train").is_dir()  # kept, not deleted
    assert check_checkpoint(run_copy, 60) is None  # retrained and saved again
    a, b = _variables(smoke_run, 60), _variables(run_copy, 60)
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


def test_train_without_an_intact_checkpoint_exits_2(run_copy, capsys):
    for step in ("20", "60"):
        _truncate_arrays(run_copy / "checkpoints" / step)
    assert main(["train", "--config", SMOKE, "--workdir", str(run_copy)]) == 2
    err = _lines(capsys.readouterr().err)
    assert len(err) == 1 and "no intact checkpoint" in err[0], err
    assert sorted(p.name for p in (run_copy / "corrupt_checkpoints").iterdir()) == ["20", "60"]


def test_check_checkpoint(run_copy):
    assert check_checkpoint(run_copy) is None
    assert check_checkpoint(run_copy, 20) is None
    _truncate_arrays(run_copy / "checkpoints" / "60", "train")
    reason = check_checkpoint(run_copy, 60)
    assert reason and str(run_copy / "checkpoints" / "60") in reason
    assert "step 7" in check_checkpoint(run_copy, 7)
    shutil.rmtree(run_copy / "checkpoints")
    assert str(run_copy / "checkpoints") in check_checkpoint(run_copy)
