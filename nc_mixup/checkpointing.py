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

The workdir may be local or a URL such as gs://bucket/run: orbax reads and writes both.
"""

from __future__ import annotations

import contextlib
import logging
import os
import pathlib
from collections.abc import Iterable, Mapping
from typing import Any

import jax
import numpy as np
import orbax.checkpoint as ocp
from etils import epath
from orbax.checkpoint import checkpoint_managers as managers

from nc_mixup.metrics_writer import is_local

CHECKPOINT_DIR = "checkpoints"


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
        """(variables, train, meta) of checkpoint `step` (None: latest), shaped and sharded as
        the (abstract) targets."""
        step = self._step(step)
        out = self.manager.restore(
            step,
            args=ocp.args.Composite(
                variables=ocp.args.StandardRestore(_abstract(variables_target)),
                train=ocp.args.StandardRestore(_abstract(train_target)),
                meta=ocp.args.JsonRestore(),
            ),
        )
        return out["variables"], out["train"], dict(out["meta"])

    def restore_variables(self, step: int | None = None) -> tuple[Any, dict[str, Any], int]:
        """(variables, meta, step) of checkpoint `step` (None: latest) on this process's first
        device, whatever the device topology it was saved from."""
        step = self._step(step)
        device = jax.sharding.SingleDeviceSharding(jax.local_devices()[0])
        target = jax.tree.map(
            lambda m: jax.ShapeDtypeStruct(m.shape, m.dtype, sharding=device),
            self.manager.item_metadata(step)["variables"],
        )
        out = self.manager.restore(
            step,
            args=ocp.args.Composite(
                variables=ocp.args.StandardRestore(target), meta=ocp.args.JsonRestore()
            ),
        )
        return out["variables"], dict(out["meta"]), step

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


def _abstract(tree: Any) -> Any:
    return jax.tree.map(ocp.utils.to_shape_dtype_struct, tree)
