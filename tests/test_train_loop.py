"""The loop's pieces: the periodic schedule and the metric window."""

import jax.numpy as jnp
import ml_collections
import pytest

from nc_mixup.loop import Every, LogWindow, Schedule, TrainingDiverged


def test_every_is_due_at_multiples_the_last_step_and_extra_steps():
    every = Every(every=4, total=10, also=frozenset({1}))
    assert [s for s in range(1, 11) if every(s)] == [1, 4, 8, 10]
    never = Every(every=0, total=10)
    assert [s for s in range(1, 11) if never(s)] == [10]


def test_schedule_from_config_in_steps():
    c = ml_collections.ConfigDict(
        dict(
            num_epochs=6,
            log_every_steps=7,
            eval_every_epochs=2,
            checkpoint_every_epochs=0,
            snapshot_epochs=(0, 1),
        )
    )
    s = Schedule.from_config(c, steps_per_epoch=5)
    assert [k for k in range(1, 31) if s.log(k)] == [7, 14, 21, 28, 30]
    assert [k for k in range(1, 31) if s.evaluate(k)] == [10, 20, 30]
    assert [k for k in range(1, 31) if s.checkpoint(k)] == [5, 30]


def test_log_window_averages_every_key_and_resumes_from_its_pending_state():
    w = LogWindow()
    for i in range(3):
        w.add(
            {"loss": jnp.float32(i), "train_accuracy": jnp.float32(1.0), "new": jnp.float32(2 * i)}
        )
    resumed = LogWindow(w.pending())
    resumed.add({"loss": jnp.float32(3), "train_accuracy": jnp.float32(0.0), "new": jnp.float32(6)})
    assert resumed.pop() == pytest.approx({"loss": 1.5, "train_accuracy": 0.75, "new": 3.0})
    assert resumed.count == 0


def test_log_window_raises_on_a_non_finite_loss():
    w = LogWindow()
    w.add({"loss": jnp.float32(1.0)})
    w.add({"loss": jnp.float32(float("nan"))})
    with pytest.raises(TrainingDiverged, match="nan"):
        w.pop()
