"""scripts/tpu_launch.sh: the dry run prints the expected gcloud commands (no gcloud needed)."""

from __future__ import annotations

import pathlib
import shlex
import shutil
import subprocess

import pytest

SCRIPT = pathlib.Path(__file__).resolve().parents[1] / "scripts" / "tpu_launch.sh"


def bare_path(tmp_path: pathlib.Path, **fakes: str) -> str:
    """A PATH with a few core tools only (so no gcloud or git), plus fake executables."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    for tool in ("cat", "dirname", "mkdir"):
        (bin_dir / tool).symlink_to(shutil.which(tool))
    for name, body in fakes.items():
        (bin_dir / name).write_text("#!/bin/bash\n" + body)
        (bin_dir / name).chmod(0o755)
    return str(bin_dir)


def launch(tmp_path: pathlib.Path, *args: str, **fakes: str) -> subprocess.CompletedProcess:
    env = {"PATH": bare_path(tmp_path, **fakes), "HOME": str(tmp_path)}
    return subprocess.run(
        ["/bin/bash", str(SCRIPT), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=30,
        check=False,
        cwd=tmp_path,
    )


def dry_run(tmp_path: pathlib.Path, *args: str) -> list[list[str]]:
    """Runs the launcher with --dry-run and returns the printed commands, each split into words."""
    proc = launch(tmp_path, "--dry-run", *args)
    assert proc.returncode == 0, proc.stderr
    return [shlex.split(line[2:]) for line in proc.stdout.splitlines() if line.startswith("+ ")]


def gcloud(cmds: list[list[str]], verb: str) -> list[list[str]]:
    return [c for c in cmds if c[:4] == ["gcloud", "compute", "tpus", "tpu-vm"] and c[4] == verb]


def flag(cmd: list[str], name: str) -> str | None:
    return next((w.split("=", 1)[1] for w in cmd if w.startswith(name + "=")), None)


def test_dry_run_v4_32_pod_prints_the_gcloud_commands(tmp_path):
    cmds = dry_run(
        tmp_path,
        "--name",
        "nc-test",
        "--zone",
        "us-central2-b",
        "--accelerator-type",
        "v4-32",
        "--spot",
        "--project",
        "my-proj",
        "--config",
        "experiments/configs/smoke.py",
        "--workdir",
        "gs://bkt/runs/smoke",
        "--data-dir",
        "gs://bkt/tfds",
        "--delete",
        "--",
        "--config.num_epochs=2",
    )
    (create,) = gcloud(cmds, "create")
    assert create[5] == "nc-test"
    assert flag(create, "--accelerator-type") == "v4-32"
    assert flag(create, "--zone") == "us-central2-b"
    assert flag(create, "--project") == "my-proj"
    assert flag(create, "--version") == "tpu-ubuntu2204-base"
    assert "--spot" in create

    (scp,) = gcloud(cmds, "scp")
    assert "--worker=all" in scp and scp[6] == "nc-test:nc-mixup.tar.gz"
    ssh = gcloud(cmds, "ssh")
    assert len(ssh) == 3  # unpack, install, run
    assert all(c[5] == "nc-test" and "--worker=all" in c for c in ssh)
    assert 'pip install -q -e ".[tpu]"' in flag(ssh[1], "--command")

    remote = flag(ssh[2], "--command")
    assert remote.startswith("cd ~/nc-mixup && ")
    words = shlex.split(remote.split("&&", 1)[1])
    assert "TFDS_DATA_DIR=gs://bkt/tfds" in words
    train = words[words.index(".venv/bin/nc-mixup") :]
    assert train == [
        ".venv/bin/nc-mixup",
        "train",
        "--config",
        "experiments/configs/smoke.py",
        "--workdir",
        "gs://bkt/runs/smoke",
        "--config.dataset.data_dir=gs://bkt/tfds",
        "--config.num_epochs=2",
    ]
    assert [
        "gcloud",
        "storage",
        "cp",
        "--recursive",
        "gs://bkt/runs/smoke",
        "results/tpu/nc-test/",
    ] in cmds
    (delete,) = gcloud(cmds, "delete")
    assert delete[5] == "nc-test" and "--quiet" in delete
    # Order: create, copy, install, run, fetch, delete.
    order = [cmds.index(c) for c in (create, scp, *ssh, delete)]
    assert order == sorted(order)


def test_dry_run_header_counts_pod_workers(tmp_path):
    proc = launch(
        tmp_path,
        "--dry-run",
        "--accelerator-type",
        "v4-32",
        "--workdir",
        "gs://b/r",
        "--steps",
        "run",
    )
    assert "v4-32 in us-central2-b, 4 worker(s)" in proc.stdout


def test_dry_run_reproduce_prepare_and_odd_characters_round_trip(tmp_path):
    cmds = dry_run(
        tmp_path,
        "--command",
        "reproduce",
        "--out",
        "gs://bkt/out it's",
        "--steps",
        "data,run,fetch",
        "--prepare",
        "cifar10,cifar100",
        "--raw-dir",
        "/raw",
        "--data-dir",
        "gs://bkt/tfds",
    )
    prepares = [c for c in cmds if c[1:3] == ["data", "prepare"]]
    assert [c[3] for c in prepares] == ["cifar10", "cifar100"]
    assert ["gcloud", "storage", "rsync", "--recursive"] == cmds[2][:4]
    (run,) = gcloud(cmds, "ssh")
    words = shlex.split(flag(run, "--command").split("&&", 1)[1])
    assert words[-5:] == ["reproduce", "--profile", "paper", "--out", "gs://bkt/out it's"]


@pytest.mark.parametrize(
    "args, message",
    [
        (["--command", "train"], "--workdir is required"),
        (["--workdir", "w", "--steps", "run,bogus"], "unknown step"),
        (["--workdir", "w", "--name", "Bad_Name"], "--name must be"),
        (["--workdir", "w", "--prepare", "cifar10"], "--prepare needs --raw-dir"),
        (["--workdir", "w", "--frobnicate"], "unknown option"),
    ],
)
def test_bad_options_exit_2_with_a_message(tmp_path, args, message):
    proc = launch(tmp_path, "--dry-run", *args)
    assert proc.returncode == 2 and message in proc.stderr


def test_without_dry_run_a_missing_gcloud_is_a_clear_error(tmp_path):
    proc = launch(tmp_path, "--workdir", "gs://b/r", "--steps", "run")
    assert proc.returncode == 2 and "gcloud not found" in proc.stderr


def test_pod_slice_needs_a_gcs_workdir(tmp_path):
    proc = launch(
        tmp_path,
        "--accelerator-type",
        "v4-32",
        "--workdir",
        "runs/x",
        "--steps",
        "run",
        gcloud="exit 0\n",
    )
    assert proc.returncode == 2 and "needs a shared workdir" in proc.stderr


# A fake gcloud that logs its arguments, fails the first training launch and then reports the
# TPU as preempted: the launcher must recreate it and relaunch the same command.
FAKE_GCLOUD = """\
log="$HOME/gcloud.log"
echo "$*" >>"$log"
case "$*" in
  *"tpu-vm ssh"*"nc-mixup train"*)
    [ -e "$HOME/ran-once" ] && exit 0
    : >"$HOME/ran-once"
    exit 255 ;;
  *"tpu-vm describe"*) echo PREEMPTED ;;
esac
exit 0
"""


def test_preempted_run_is_recreated_and_relaunched(tmp_path):
    proc = launch(
        tmp_path,
        "--name",
        "nc-spot",
        "--accelerator-type",
        "v4-32",
        "--spot",
        "--max-restarts",
        "2",
        "--workdir",
        "gs://bkt/runs/a",
        gcloud=FAKE_GCLOUD,
        git="exit 0\n",
    )
    assert proc.returncode == 0, proc.stderr
    assert "PREEMPTED: recreating (restart 1 of 2)" in proc.stderr
    calls = [line.split() for line in (tmp_path / "gcloud.log").read_text().splitlines()]
    verbs = [w[3] if w[0] == "compute" else f"{w[0]} {w[1]}" for w in calls]
    first = ["create", "scp", "ssh", "ssh", "ssh"]  # create, copy, install, run (preempted)
    again = ["describe", "delete", *first]  # recreate, then the same run resumes
    assert verbs == [*first, *again, "storage cp"]  # and the results are fetched
    runs = [c for c in calls if "nc-mixup" in " ".join(c) and "train" in c]
    assert len(runs) == 2 and runs[0] == runs[1]
