"""`reproduce` trusts a run's final checkpoint, not its marker file (issue 15, item 5).

The smoke `geometry` run (real FashionMNIST, seconds) is trained through `ensure_run`; then its
checkpoints are deleted, or its final checkpoint corrupted: the next `ensure_run` says why the
run is not finished after all and trains it again (resuming from the newest intact checkpoint),
so the analyses that need it are redone (the marker's `finished` changes).
"""

import json
import shutil

import pytest

from experiments import registry
from experiments.reproduce import MARKER, ensure_run, run_dir
from nc_mixup.checkpointing import check_checkpoint


@pytest.fixture
def trained(tmp_path, fashion_mnist_dir):
    run = registry.select("smoke", ["geometry"])["geometry"].runs[0]
    status = ensure_run(tmp_path, run, lambda line: None)
    assert status.ok and not status.cached
    return tmp_path, run


def _marker(out, run) -> dict:
    return json.loads((run_dir(out, run) / MARKER).read_text())


def test_finished_run_is_cached(trained):
    out, run = trained
    assert ensure_run(out, run, lambda line: None).cached


@pytest.mark.parametrize("damage", ["delete_checkpoints", "corrupt_final"])
def test_run_without_a_restorable_final_checkpoint_is_trained_again(trained, damage):
    out, run = trained
    workdir = run_dir(out, run)
    before = _marker(out, run)
    final = workdir / "checkpoints" / str(before["summary"]["step"])
    if damage == "delete_checkpoints":
        shutil.rmtree(workdir / "checkpoints")
    else:
        (final / "meta" / "metadata").write_text("garbage")
    logged = []
    status = ensure_run(out, run, logged.append)
    assert status.ok and not status.cached
    why = [line for line in logged if "does not restore" in line]
    assert len(why) == 1 and run.run_id in why[0], logged
    assert (str(workdir / "checkpoints") if damage == "delete_checkpoints" else str(final)) in why[
        0
    ]
    after = _marker(out, run)
    assert after["finished"] != before["finished"] or after["seconds"] != before["seconds"]
    assert after["summary"]["step"] == before["summary"]["step"]
    assert check_checkpoint(workdir, after["summary"]["step"]) is None
    assert ensure_run(out, run, logged.append).cached
