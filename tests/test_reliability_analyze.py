"""`nc-mixup analyze` on bad input (issue 15, items 8, 10, 13), on a real `smoke` run.

- `--pairs-per-class` too large for the memory: exit 2 in seconds, before any heavy work, one
  line with the estimate and the limit (the issue's case grew to 24 GB and was OOM-killed);
- `--out FILE`, `--out FILE/sub`: exit 2, one line naming the file, the file untouched;
- a corrupt config.json: exit 2, one line naming the file;
- a failed analysis leaves nothing behind (no new folder, no staging folder) and an earlier
  analysis in the same --out is intact.

The memory estimate itself is checked against the smoke run's measured peak.
"""

import json
import pathlib
import shutil
import time

import pytest

from nc_mixup.analysis import budget
from nc_mixup.cli import main
from nc_mixup.train import load_config

REPO = pathlib.Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory, fashion_mnist_dir):
    workdir = tmp_path_factory.mktemp("smoke") / "run"
    argv = ["train", "--config", str(REPO / "experiments/configs/smoke.py")]
    assert main([*argv, "--workdir", str(workdir)]) == 0
    return workdir


def _analyze(workdir, out, *more):
    argv = ["analyze", "--workdir", str(workdir), "--out", str(out), "--classes", "0,1,2"]
    return main(argv + ["--lambdas", "0:1:3", "--no-progress", *more])


def _one_line(capsys) -> str:
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(err) == 1, err
    return err[0]


def test_too_many_pairs_refused_fast_with_estimate_and_limit(smoke_run, tmp_path, capsys):
    out = tmp_path / "new" / "analysis"
    start = time.perf_counter()
    argv = ["analyze", "--workdir", str(smoke_run), "--out", str(out)]
    assert main([*argv, "--pairs-per-class", "100000", "--no-progress"]) == 2
    assert time.perf_counter() - start < 30
    line = _one_line(capsys)
    assert "--pairs-per-class 100000" in line and "limit" in line and line.count("GiB") >= 2
    assert not (tmp_path / "new").exists()


def test_memory_limit_flag(smoke_run, tmp_path, capsys):
    out = tmp_path / "analysis"
    assert _analyze(smoke_run, out, "--pairs-per-class", "2", "--max-memory-gb", "0.1") == 2
    line = _one_line(capsys)
    assert "--max-memory-gb" in line and "102 MiB" in line, line
    assert not out.exists()
    assert _analyze(smoke_run, out, "--pairs-per-class", "2", "--max-memory-gb", "0") == 2
    assert "--max-memory-gb" in _one_line(capsys)


def test_estimate_covers_the_measured_peak(smoke_run):
    """Peak resident memory of the smoke analysis (11 lambdas), measured with /usr/bin/time:
    0.57 GB at 64 pairs per class, 2.11 GB at 4000. The estimate is within 25 % of both."""
    config = load_config(smoke_run)
    for pairs, measured in ((64, 0.574e9), (4000, 2.16e9)):
        est = budget.analysis_memory(config, pairs_per_class=pairs, num_lambdas=11)
        assert est.layers == ("block1",) and est.floats_per_row == 10 + 128 + 128
        assert 0.9 * measured < est.bytes < 1.25 * measured, (pairs, est.bytes)


@pytest.mark.parametrize("below", [False, True])
def test_out_is_a_file(smoke_run, tmp_path, capsys, below):
    target = tmp_path / "taken"
    target.write_text("keep me")
    out = target / "sub" if below else target
    assert _analyze(smoke_run, out, "--pairs-per-class", "2") == 2
    line = _one_line(capsys)
    assert "--out" in line and str(target) in line and "file" in line, line
    assert target.read_text() == "keep me"


@pytest.mark.parametrize("content", ["{not json", "[1, 2]", '{"model": 3}', ""])
def test_corrupt_config_json_named(smoke_run, tmp_path, capsys, content):
    run = tmp_path / "run"
    shutil.copytree(smoke_run, run)
    (run / "config.json").write_text(content)
    out = tmp_path / "analysis"
    assert _analyze(run, out, "--pairs-per-class", "2") == 2
    line = _one_line(capsys)
    assert str(run / "config.json") in line, line
    assert not out.exists()


def test_failed_analysis_leaves_nothing_and_keeps_the_earlier_one(smoke_run, tmp_path, capsys):
    out = tmp_path / "a" / "b" / "analysis"
    assert _analyze(smoke_run, out, "--pairs-per-class", "2", "--step", "999") == 2
    assert "999" in _one_line(capsys)
    assert list(tmp_path.iterdir()) == []  # not even the parents

    out = tmp_path / "analysis"
    assert _analyze(smoke_run, out, "--pairs-per-class", "2") == 0
    capsys.readouterr()
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    assert "metrics.json" in before and json.loads(before["metrics.json"])["step"] == 60
    assert _analyze(smoke_run, out, "--pairs-per-class", "2", "--step", "999") == 2
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["analysis"]  # no staging folder
    assert _analyze(smoke_run, out, "--pairs-per-class", "3", "--step", "20") == 0
    assert json.loads((out / "metrics.json").read_text())["step"] == 20
    assert sorted(p.name for p in tmp_path.iterdir()) == ["analysis"]


def test_failure_while_writing_leaves_nothing(smoke_run, tmp_path, capsys, monkeypatch):
    """A failure after the first results were written (here the figures: a full disk, say)."""
    from nc_mixup.analysis import runner

    out = tmp_path / "analysis"
    assert _analyze(smoke_run, out, "--pairs-per-class", "2") == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}

    def broken(*args, **kwargs):
        raise OSError("No space left on device")

    monkeypatch.setattr(runner, "make_figures", broken)
    with pytest.raises(OSError, match="No space"):
        _analyze(smoke_run, out, "--pairs-per-class", "3")
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    with pytest.raises(OSError, match="No space"):
        _analyze(smoke_run, tmp_path / "new" / "analysis", "--pairs-per-class", "3")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["analysis"]


def test_feature_mix_layer_flag(smoke_run, tmp_path, capsys):
    """--feature-mix-layer: a bad layer exits 2 naming it and the model's layers; a good one
    (by number or by name) adds feature_mixup_kl to every class triple."""
    out = tmp_path / "bad"
    assert _analyze(smoke_run, out, "--pairs-per-class", "2", "--feature-mix-layer", "7") == 2
    line = _one_line(capsys)
    assert "feature-mix layer" in line and "block1" in line and not out.exists()
    assert _analyze(smoke_run, out, "--pairs-per-class", "2", "--feature-mix-layer", "input") == 2
    assert "name a hidden layer" in _one_line(capsys)
    for layer in ("1", "block1"):
        out = tmp_path / f"ok{layer}"
        assert _analyze(smoke_run, out, "--pairs-per-class", "2", "--feature-mix-layer", layer) == 0
        m = json.loads((out / "metrics.json").read_text())
        assert m["feature_mix_layer"] == "block1"
        assert all(t["feature_mixup_kl"] > 0 for t in m["triples"])
