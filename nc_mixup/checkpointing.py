"""Checkpoints of a run in WORKDIR/checkpoints (orbax-checkpoint), named by global step.

Each checkpoint holds three items:
  variables  {'params', 'batch_stats'}: what analysis needs (`load_run` restores only this);
  train      {'opt_state', 'step'}: the rest of the train state, for resuming;
  meta       JSON: the data-iterator position ('epoch', 'step_in_epoch'), the global 'step', the
             training 'rng' key data and any extra state of the loop (e.g. a partial log window),
             so a resumed run continues exactly where the interrupted one stopped.

Kept: the latest checkpoint, and forever those at the steps of `snapshot_steps` (the
training-dynamics snapshots). Orbax writes each checkpoint to a temporary folder and renames it
when complete (on GCS, where renames are not atomic, it writes a commit_success file last
instead), so an interrupted save never leaves a half-written checkpoint behind.

Checkpoints are verified on restore: when the newest checkpoint does not restore (a truncated
or missing file, say), it is reported on stderr in one line naming it and the previous intact
one is used; a writable `Checkpointer` (training) also moves the corrupt one out of the way, to
WORKDIR/corrupt_checkpoints/STEP, so training can save that step again. A checkpoint that
restores against its own metadata but not against the caller's targets is not corrupt (the
model changed) and that error is raised as it is.

The workdir may be local or a URL such as gs://bucket/run: orbax reads and writes both.
"""

from __future__ import annotations

import contextlib
import logging
import os
import pathlib
import sys
from collections.abc import Iterable, Mapping
from typing import Any

import jax
import numpy as np
import orbax.checkpoint as ocp
from etils import epath
from orbax.checkpoint import checkpoint_managers as managers

from nc_mixup.metrics_writer import is_local

CHECKPOINT_DIR = "checkpoints"
CORRUPT_DIR = "corrupt_checkpoints"


class CheckpointError(ValueError):
    """No intact checkpoint to restore: the message (one line) names the corrupt one(s)."""


def checkpoint_dir(workdir: str | os.PathLike) -> epath.Path:
    """WORKDIR/checkpoints; a local WORKDIR made absolute (orbax needs absolute paths), a URL
    (gs://bucket/run) kept as it is (pathlib would turn it into /cwd/gs:/bucket/run)."""
    if is_local(workdir):
        workdir = pathlib.Path(workdir).resolve()
    return epath.Path(workdir) / CHECKPOINT_DIR


def rng_to_json(rng: jax.Array) -> list[int]:
    """A PRNG key (typed or raw uint32) as a JSON list of ints."""
    typed = jax.dtypes.issubdtype(rng.dtype, jax.dtypes.prng_key)
    data = jax.random.key_data(rng) if typed else rng
    return [int(x) for x in np.asarray(data).ravel()]


def rng_from_json(values: Iterable[int]) -> jax.Array:
    """Inverse of `rng_to_json` for the default PRNG implementation."""
    return jax.random.wrap_key_data(np.asarray(list(values), dtype=np.uint32))


class Checkpointer:
    """Saves and restores train states in WORKDIR/checkpoints."""

    def __init__(
        self,
        workdir: str | os.PathLike,
        *,
        snapshot_steps: Iterable[int] = (),
        read_only: bool = False,
        async_save: bool = True,
    ):
        self.directory = checkpoint_dir(workdir)
        self.read_only = read_only
        policy = managers.AnyPreservationPolicy(
            [managers.LatestN(1), managers.CustomSteps(sorted(set(snapshot_steps)))]
        )
        with _quiet_absl(read_only):  # orbax warns that a read-only manager is read-only
            options = ocp.CheckpointManagerOptions(
                preservation_policy=policy,
                create=not read_only,
                read_only=read_only,
                enable_async_checkpointing=async_save,
            )
            self.manager = ocp.CheckpointManager(
                self.directory,
                options=options,
                item_handlers={
                    "variables": ocp.StandardCheckpointHandler(),
                    "train": ocp.StandardCheckpointHandler(),
                    "meta": ocp.JsonCheckpointHandler(),
                },
            )

    def latest_step(self) -> int | None:
        """The newest complete checkpoint's step, or None."""
        return self.manager.latest_step()

    def all_steps(self) -> list[int]:
        return sorted(self.manager.all_steps())

    def save(
        self,
        step: int,
        variables: Mapping[str, Any],
        train: Mapping[str, Any],
        meta: Mapping[str, Any],
    ) -> None:
        """Saves checkpoint `step` (asynchronously; `wait()` blocks until it is on disk)."""
        self.manager.save(
            int(step),
            args=ocp.args.Composite(
                variables=ocp.args.StandardSave(dict(variables)),
                train=ocp.args.StandardSave(dict(train)),
                meta=ocp.args.JsonSave(dict(meta)),
            ),
            force=True,
        )

    def restore(
        self, step: int | None, variables_target: Any, train_target: Any
    ) -> tuple[Any, Any, dict[str, Any]]:
        """(variables, train, meta) of checkpoint `step`, shaped and sharded as the (abstract)
        targets.

        `step` None or the newest step means the newest checkpoint that restores: a corrupt
        newer one is reported (and, when writable, moved to WORKDIR/corrupt_checkpoints).
        Raises CheckpointError if no checkpoint restores, FileNotFoundError if there is none.
        """
        args = ocp.args.Composite(
            variables=ocp.args.StandardRestore(_abstract(variables_target)),
            train=ocp.args.StandardRestore(_abstract(train_target)),
            meta=ocp.args.JsonRestore(),
        )

        def read(s: int) -> tuple[Any, Any, dict[str, Any]]:
            out = self.manager.restore(s, args=args)
            return out["variables"], out["train"], dict(out["meta"])

        return self._first_intact(step, read)[0]

    def restore_variables(self, step: int | None = None) -> tuple[Any, dict[str, Any], int]:
        """(variables, meta, step) of checkpoint `step` (None: the newest that restores, a
        corrupt newer one being reported) on this process's first device, whatever the device
        topology it was saved from. Raises CheckpointError if the checkpoint does not restore."""

        def read(s: int) -> tuple[Any, dict[str, Any]]:
            out = self.manager.restore(
                s,
                args=ocp.args.Composite(
                    variables=ocp.args.StandardRestore(self._own_target(s, "variables")),
                    meta=ocp.args.JsonRestore(),
                ),
            )
            return out["variables"], dict(out["meta"])

        (variables, meta), found = self._first_intact(step, read, latest_only_if_none=True)
        return variables, meta, found

    def check(self, step: int) -> str | None:
        """None if every item of checkpoint `step` restores against its own metadata (all its
        arrays are read), else the reason, in one line."""
        try:
            self.manager.restore(
                step,
                args=ocp.args.Composite(
                    variables=ocp.args.StandardRestore(self._own_target(step, "variables")),
                    train=ocp.args.StandardRestore(self._own_target(step, "train")),
                    meta=ocp.args.JsonRestore(),
                ),
            )
        except Exception as e:  # noqa: BLE001 - orbax/tensorstore/json raise many kinds
            return _one_line(e)
        return None

    def _own_target(self, step: int, item: str) -> Any:
        """Abstract arrays of `item` of checkpoint `step` as saved, on the first local device."""
        with _quiet_absl(True):  # orbax warns about the items it cannot read, we raise
            metadata = self.manager.item_metadata(step)
        tree = metadata.get(item) if metadata is not None else None
        if tree is None:
            raise FileNotFoundError(f"item {item!r} missing")
        device = jax.sharding.SingleDeviceSharding(jax.local_devices()[0])
        return jax.tree.map(lambda m: jax.ShapeDtypeStruct(m.shape, m.dtype, sharding=device), tree)

    def _first_intact(
        self, step: int | None, read: Any, latest_only_if_none: bool = False
    ) -> tuple[Any, int]:
        """(read(s), s) for the checkpoint to restore: `step` itself when it is an older one
        (or when `latest_only_if_none` and it is given), else the newest that restores.

        A checkpoint that fails to restore is corrupt when it also fails `check`: it is reported
        and skipped; otherwise the caller's targets do not fit it and the error is re-raised.
        """
        steps = self.all_steps()
        if step is not None and (latest_only_if_none or not steps or int(step) != steps[-1]):
            candidates = [self._step(step)]
        else:
            candidates = steps[::-1] if step is None else [s for s in steps[::-1] if s <= step]
        if not candidates:
            raise FileNotFoundError(f"no checkpoint in {self.directory}")
        corrupt = []
        _filter_read_noise()
        for s in candidates:
            try:
                value = read(s)
            except Exception:  # noqa: BLE001 - see check()
                reason = self.check(s)
                if reason is None:
                    raise  # the checkpoint is intact: it does not fit the targets
                corrupt.append(self._report_corrupt(s, reason))
                continue
            for line in corrupt:
                print(
                    f"nc-mixup: {line}; using the previous intact checkpoint, step {s}",
                    file=sys.stderr,
                )
            return value, s
        last = ""
        if len(candidates) > 1 or step is None:
            last = "; no intact checkpoint left" + (
                "" if self.read_only else ": rerun to start over"
            )
        raise CheckpointError("; ".join(corrupt) + last)

    def _report_corrupt(self, step: int, reason: str) -> str:
        """One line naming corrupt checkpoint `step`; a writable Checkpointer also moves it to
        WORKDIR/corrupt_checkpoints/STEP (nothing is deleted) so the step can be saved again."""
        path = self.directory / str(step)
        line = f"checkpoint {path} is corrupt ({reason})"
        if not self.read_only:
            dest_dir = self.directory.parent / CORRUPT_DIR
            dest, n = dest_dir / str(step), 1
            while dest.exists():
                dest, n = dest_dir / f"{step}.{n}", n + 1
            _sync(f"nc_mixup_corrupt_{step}_named")  # every process has chosen the same `dest`
            if jax.process_index() == 0:
                dest_dir.mkdir(parents=True, exist_ok=True)
                path.rename(dest)
            _sync(f"nc_mixup_corrupt_{step}_moved")
            self.manager.reload()
            line += f", moved to {dest}"
        return line

    def _step(self, step: int | None) -> int:
        steps = self.all_steps()
        if step is None:
            if not steps:
                raise FileNotFoundError(f"no checkpoint in {self.directory}")
            return steps[-1]
        if int(step) not in steps:
            raise FileNotFoundError(
                f"no checkpoint for step {step} in {self.directory} (available: {steps})"
            )
        return int(step)

    def wait(self) -> None:
        """Blocks until pending asynchronous saves are complete."""
        self.manager.wait_until_finished()

    def close(self) -> None:
        self.manager.wait_until_finished()
        self.manager.close()


def _sync(name: str) -> None:
    """A barrier across the processes of a multi-process run (nothing with one process)."""
    if jax.process_count() > 1:
        ocp.multihost.sync_global_processes(name)


def check_checkpoint(workdir: str | os.PathLike, step: int | None = None) -> str | None:
    """None if checkpoint `step` (None: the newest) of the run in `workdir` restores completely,
    else why not, in one line (no checkpoint at all is a reason too)."""
    if not checkpoint_dir(workdir).is_dir():
        return f"no checkpoints: {checkpoint_dir(workdir)} does not exist"
    ckpt = Checkpointer(workdir, read_only=True, async_save=False)
    try:
        steps = ckpt.all_steps()
        if not steps or (step is not None and int(step) not in steps):
            which = "no checkpoint" if step is None else f"no checkpoint for step {step}"
            return f"{which} in {ckpt.directory} (available: {steps})"
        step = steps[-1] if step is None else int(step)
        reason = ckpt.check(step)
        return None if reason is None else f"checkpoint {ckpt.directory / str(step)}: {reason}"
    finally:
        ckpt.close()


def _one_line(e: BaseException, limit: int = 160) -> str:
    """`Type: first line of the message` of the root cause of `e`, cut to `limit` characters."""
    while e.__cause__ is not None:  # orbax wraps the TensorStore error that names the array
        e = e.__cause__
    # TensorStore appends a long repr of its spec ("See full TensorStore details: <...>").
    text = str(e).split(" See full TensorStore details")[0].strip().splitlines()
    line = f"{type(e).__name__}: {text[0] if text else ''}".rstrip(": ")
    return line if len(line) <= limit else line[: limit - 3] + "..."


@contextlib.contextmanager
def _quiet_absl(quiet: bool):
    logger = logging.getLogger("absl")
    level = logger.level
    if quiet:
        logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def _filter_read_noise() -> None:
    """Drops the "Exception ignored in <coroutine ...>" reports that orbax's failed concurrent
    reads of a corrupt checkpoint print (often at exit): the first error is raised and reported
    in one line; the others are its duplicates. Process-wide and idempotent; other unraisable
    errors still reach the previous hook."""
    if getattr(sys.unraisablehook, "nc_mixup_read_noise_filter", False):
        return
    previous = sys.unraisablehook

    def hook(unraisable):
        code = getattr(unraisable.object, "cr_code", None)
        if code is not None and "orbax" in code.co_filename:
            return
        exc = unraisable.exc_value
        if isinstance(exc, RuntimeError) and str(exc) == "Event loop is closed":
            return  # a read finishing after its failed batch's event loop was closed
        previous(unraisable)

    hook.nc_mixup_read_noise_filter = True
    sys.unraisablehook = hook
    logging.getLogger("asyncio").addFilter(_drop_orbax_task_errors)


def _drop_orbax_task_errors(record: logging.LogRecord) -> bool:
    """asyncio's "Task exception was never retrieved" for orbax reads: duplicates, see above."""
    message = record.getMessage()
    return not (message.startswith("Task exception was never retrieved") and "orbax" in message)


def _abstract(tree: Any) -> Any:
    return jax.tree.map(ocp.utils.to_shape_dtype_struct, tree)
