"""`nc-mixup train` end to end in a subprocess: SIGTERM saves a loadable checkpoint, and running
the same command again resumes and finishes the run."""

import os
import signal
import subprocess
import sys
import time

from nc_mixup import train
from nc_mixup.checkpointing import Checkpointer
from nc_mixup.metrics_writer import METRICS_FILE, read_metrics

EPOCHS, STEPS_PER_EPOCH = 40, 20  # smoke: 2,000 images, batch 100


def test_sigterm_then_resume(tmp_path, fashion_mnist_dir):
    from conftest import REPO_ROOT

    workdir = tmp_path / "run"
    cmd = [sys.executable, "-m", "nc_mixup", "train"]
    cmd += ["--config", str(REPO_ROOT / "experiments/configs/smoke.py"), "--workdir", str(workdir)]
    cmd += [f"--config.num_epochs={EPOCHS}", "--config.log_every_steps=1"]
    cmd += ["--config.checkpoint_every_epochs=0", "--config.eval_every_epochs=0"]
    cmd += ["--config.snapshot_epochs=()"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    metrics = workdir / METRICS_FILE
    deadline = time.monotonic() + 180
    while not (metrics.exists() and metrics.stat().st_size > 0):
        assert proc.poll() is None, proc.communicate()[1][-3000:]
        assert time.monotonic() < deadline, "training did not start"
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGTERM)
    _, err = proc.communicate(timeout=180)
    assert proc.returncode == 0, err[-3000:]
    assert "Run the same command to resume" in err and "Traceback" not in err

    steps = Checkpointer(workdir, read_only=True).all_steps()
    assert len(steps) == 1 and 0 < steps[0] < EPOCHS * STEPS_PER_EPOCH
    run = train.load_run(workdir)
    assert run.step == steps[0] and run.epoch == steps[0] // STEPS_PER_EPOCH
    assert max(r["step"] for r in read_metrics(workdir)) == steps[0]

    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"resuming from step {steps[0]}" in done.stderr
    records = read_metrics(workdir)
    total = EPOCHS * STEPS_PER_EPOCH
    assert [r["step"] for r in records if "loss" in r] == list(range(1, total + 1))
    assert [r["epoch"] for r in records if "test_accuracy" in r] == [EPOCHS]
    assert train.load_run(workdir).step == total
