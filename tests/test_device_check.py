"""benchmarks/device_check.sh: the accelerator check's --cpu-smoke run, and its argument checks."""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import time

import pytest

REPO = pathlib.Path(__file__).resolve().parents[1]
SCRIPT = REPO / "benchmarks" / "device_check.sh"


def _run(*args: str, timeout: float) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "OUT"}  # OUT is the device tool's folder
    return subprocess.run(
        [str(SCRIPT), *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout
    )


def test_bad_arguments_exit_2():
    result = _run("--bogus", timeout=30)
    assert result.returncode == 2 and "unknown argument '--bogus'" in result.stderr
    result = _run("--cpu-smoke", "--epochs", "zero", timeout=30)
    assert result.returncode == 2 and "'zero' is not a positive integer" in result.stderr


@pytest.mark.slow
def test_cpu_smoke_runs_every_step_and_stops_training_at_its_deadline(tmp_path):
    """Bench at small shapes (both dtypes), a training stopped by its time limit, an analysis."""
    t0 = time.perf_counter()
    result = _run(
        "--cpu-smoke",
        "--out",
        str(tmp_path),
        "--epochs",
        "500",
        "--train-seconds",
        "30",
        timeout=240,
    )
    elapsed = time.perf_counter() - t0
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert elapsed < 180, f"--cpu-smoke took {elapsed:.0f} s"
    assert {p.name for p in tmp_path.iterdir()} == {
        "device.txt",
        "mfu.json",
        "train_metrics.jsonl",
        "metrics.json",
        "projection.png",
        "device_check.log",
    }
    assert "backend cpu" in (tmp_path / "device.txt").read_text()
    rows = json.loads((tmp_path / "mfu.json").read_text())
    assert sorted((r["model"], r["dtype"]) for r in rows) == [
        ("vit", "bfloat16"),
        ("vit", "float32"),
        ("wrn", "bfloat16"),
        ("wrn", "float32"),
    ]
    records = [
        json.loads(line)
        for line in (tmp_path / "train_metrics.jsonl").read_text().splitlines()
        if line.strip()
    ]
    last_step = max(r["step"] for r in records)
    assert 0 < last_step < 500 * 4  # stopped by the deadline, long before 500 epochs
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["step"] > 0 and len(metrics["classes"]) == 3
    assert (tmp_path / "projection.png").read_bytes()[:4] == b"\x89PNG"
    assert "epochs in 30 s" in result.stdout
