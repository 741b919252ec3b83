"""The training loop's parts: the metric window, when periodic actions are due, stopping.

`LogWindow` averages every metric `train_step` returns over a log window (a partial window goes
into checkpoints); `Every` and `Schedule` say when to log, evaluate and save (big_vision's
`itstime` as objects); `StopRequest` turns SIGTERM/SIGINT into "finish the step, save, exit";
`Timer` gives images/sec.
"""

from __future__ import annotations

import dataclasses
import math
import signal
import sys
import time
from collections.abc import Mapping
from typing import Any

import jax
import ml_collections
import numpy as np


class TrainingDiverged(RuntimeError):
    """The training loss became NaN or infinite; the last good checkpoint is kept."""


class LogWindow:
    """Per-step train metrics since the last train line, summed on the host in float64.

    Every key `train_step` returns is averaged over the window (a new metric needs no change
    here). Windows end at global steps that are multiples of `log_every_steps` (and at the last
    step), and a partial window is stored in checkpoints, so a resumed run writes the same lines.
    """

    def __init__(self, pending: Mapping[str, Any] | None = None):
        pending = pending or {}
        self.sums = {k: float(v) for k, v in pending.get("sums", {}).items()}
        self.count = int(pending.get("count", 0))
        self._device: list[dict[str, jax.Array]] = []

    def add(self, metrics: dict[str, jax.Array]) -> None:
        self._device.append(metrics)

    def materialize(self) -> None:
        """Fetches the queued device metrics (blocks) into the host sums; raises
        TrainingDiverged at the first non-finite loss."""
        queued, self._device = self._device, []
        for m in jax.device_get(queued):
            loss = float(m["loss"])
            if not math.isfinite(loss):
                raise TrainingDiverged(f"loss is {loss}")
            for key, value in m.items():
                self.sums[key] = self.sums.get(key, 0.0) + float(np.mean(value))
            self.count += 1

    def pending(self) -> dict[str, Any]:
        """The partial window, as stored in a checkpoint's meta."""
        self.materialize()
        return {"sums": dict(self.sums), "count": self.count}

    def pop(self) -> dict[str, float]:
        """The window's mean of every metric; starts a new window."""
        self.materialize()
        out = {k: v / max(self.count, 1) for k, v in self.sums.items()}
        self.sums, self.count = {}, 0
        return out


@dataclasses.dataclass(frozen=True)
class Every:
    """When a periodic action (log, evaluate, checkpoint) is due: after global step s when
    `every` > 0 divides s, when s is the last step `total`, or when s is in `also`.

    big_vision's `itstime`, as one object per action, so the loop reads
    `if schedule.log(step): ...`.
    """

    every: int
    total: int
    also: frozenset[int] = frozenset()

    def __call__(self, step: int) -> bool:
        return (
            (self.every > 0 and step % self.every == 0) or step == self.total or step in self.also
        )


@dataclasses.dataclass(frozen=True)
class Schedule:
    """The run's periodic actions, in global steps (from the config's epochs and steps)."""

    log: Every
    evaluate: Every
    checkpoint: Every

    @classmethod
    def from_config(cls, config: ml_collections.ConfigDict, steps_per_epoch: int) -> Schedule:
        total = config.num_epochs * steps_per_epoch
        snapshots = frozenset(e * steps_per_epoch for e in config.snapshot_epochs)
        return cls(
            log=Every(config.log_every_steps, total),
            evaluate=Every(config.eval_every_epochs * steps_per_epoch, total),
            checkpoint=Every(config.checkpoint_every_epochs * steps_per_epoch, total, snapshots),
        )


class StopRequest:
    """SIGTERM/SIGINT handling: the step in flight finishes, a checkpoint is saved, the run exits.

    `received` (a list the signal names are appended to) may be shared with a handler installed
    earlier (the CLI installs one before its slow imports), so that no signal is lost. A second
    signal of the same kind, once this handler ran, gets the default action (abort).
    """

    def __init__(self, received: list[str] | None = None):
        self._received = received if received is not None else []
        self._previous: dict[int, Any] = {}

    @property
    def reason(self) -> str | None:
        """The first signal received ('SIGTERM' / 'SIGINT'), or None."""
        return self._received[0] if self._received else None

    def __enter__(self):
        if _in_main_thread():
            for sig in (signal.SIGTERM, signal.SIGINT):
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc):
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous = {}

    def _handle(self, signum, frame):
        self._received.append(signal.Signals(signum).name)
        print(
            f"\nnc-mixup train: received {self.reason}: finishing the current step, saving a "
            "checkpoint (send again to abort without saving)",
            file=sys.stderr,
            flush=True,
        )
        signal.signal(signum, signal.SIG_DFL)


def _in_main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


def _any_process(flag: bool) -> bool:
    """True if `flag` is True in any process (a collective: all processes must call it)."""
    if jax.process_count() == 1:
        return flag
    from jax.experimental import multihost_utils

    return bool(np.any(multihost_utils.process_allgather(np.asarray(flag))))


def progress_bar(total: int, initial: int, desc: str, enabled: bool):
    """The epoch's progress bar: on a terminal only (disable=None), so logs stay readable."""
    from tqdm.auto import tqdm

    return tqdm(
        total=total,
        initial=initial,
        desc=desc,
        disable=None if enabled else True,
        leave=False,
        dynamic_ncols=True,
    )


def stop_now(requested: bool, step: int, log_every_steps: int) -> bool:
    """Whether to stop before this step. Several processes agree at log steps (a collective),
    so that they all stop after the same step; a single process stops at once."""
    if jax.process_count() == 1:
        return requested
    return step % log_every_steps == 0 and _any_process(requested)


class Timer:
    """Wall time and steps since the last restart, for images/sec."""

    def __init__(self):
        self.restart()

    def restart(self) -> None:
        self.start, self.steps = time.perf_counter(), 0

    def rate(self, batch_size: int) -> float:
        return self.steps * batch_size / max(time.perf_counter() - self.start, 1e-9)
