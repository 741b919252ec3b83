"""Training and evaluation (flax/examples style): small pure functions, then the loop.

Reading order: `TrainState`; `create_train_state` (model init, the fixed simplex-ETF classifier,
the optimizer); `step_randomness` and `train_step` (the one place where mixup, the loss and the
update meet: the loss is computed on the logits of the MIXED forward pass); `eval_step`;
`train_and_evaluate`, which runs `_setup` (checks and the initial state; writes nothing),
`claim_workdir` (a workdir belongs to one run: nc_mixup.workdir), `_restore` and `_Loop.run`
(batches prefetched on a background thread, the step, and the periodic log / evaluate / save
actions, scheduled by nc_mixup.loop's `Every`); `load_run`. The loop's parts (the metric window,
the schedule, the stop request) are in nc_mixup.loop.

Randomness is explicit: `jax.random.key(config.seed)` splits into an init key and a train key,
and step s uses `fold_in(train_key, s)`, so a resumed run draws exactly what an uninterrupted one
would have. The data order is a function of (seed, epoch) (nc_mixup.data.pipeline.EpochIterator).

The workdir is an `etils.epath.Path`: a local folder or a URL such as gs://bucket/run (needed on
multi-host TPU pod slices, whose hosts have separate disks).
"""

from __future__ import annotations

import dataclasses
import functools
import os
import shutil
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from etils import epath
from flax import struct
from flax.training import train_state

from nc_mixup import config as config_lib
from nc_mixup import losses, mixup, optim, sharding
from nc_mixup.checkpointing import CHECKPOINT_DIR, Checkpointer, rng_to_json
from nc_mixup.config import ConfigError
from nc_mixup.data import augment
from nc_mixup.data.pipeline import Prefetcher
from nc_mixup.loop import (
    Every,
    LogWindow,
    Schedule,
    StopRequest,
    Timer,
    TrainingDiverged,
    progress_bar,
    stop_now,
)
from nc_mixup.metrics_writer import MetricsWriter, is_local, read_metrics
from nc_mixup.models import create_model
from nc_mixup.models.conv import cpu_compiler_options
from nc_mixup.workdir import CONFIG_FILE, check_workdir, claim_workdir, remove_orbax_leftovers

# Batches prepared ahead of the step on the background thread.
PREFETCH_BATCHES = 2
# Fallback of `stop_after_step` for callers that cannot pass it (reproduce's tests): deprecated.
STOP_AFTER_STEP_ENV = "NC_MIXUP_STOP_AFTER_STEP"


# --------------------------------------------------------------------------------------------
# Train state


@dataclasses.dataclass(frozen=True)
class TrainSpec:
    """The static settings `train_step` needs (part of the compiled program)."""

    num_classes: int
    loss: str
    mixup_alpha: float
    mixup_per_example: bool
    mixup_layer: str
    learning_rate_fn: Callable[[jax.Array], jax.Array]


class TrainState(train_state.TrainState):
    """flax's TrainState (step, params, opt_state, apply_fn, tx) + BatchNorm statistics."""

    batch_stats: Any = None
    spec: TrainSpec = struct.field(pytree_node=False, default=None)


def compute_dtype(name: str) -> Any:
    """'float32' | 'bfloat16' -> the jnp dtype the model computes in."""
    return {"float32": jnp.float32, "bfloat16": jnp.bfloat16}[name]


def simplex_etf_classifier(
    num_features: int, num_classes: int, norm: float, seed: int
) -> np.ndarray:
    """Kernel (d, K) whose columns w_k form a simplex ETF of row norm `norm` in R^d.

    W = E Q^T with E = simplex_etf(K, norm) (K x K) and Q a fixed random orthonormal (d, K)
    basis drawn from `seed`; needs d >= K. float32, with no negative zeros (so adding a zero
    update leaves it bit-identical).
    """
    if num_features < num_classes:
        raise ValueError(
            f"fixed_etf needs penultimate width d >= number of classes K, got d={num_features} "
            f"< K={num_classes}"
        )
    from theory import simplex_etf

    etf = np.asarray(simplex_etf(num_classes, norm=norm), np.float64)  # (K, K) rows
    rng = np.random.default_rng([int(seed), 0xE7F])
    q, _ = np.linalg.qr(rng.standard_normal((num_features, num_classes)))
    kernel = (q @ etf.T).astype(np.float32)
    kernel[kernel == 0] = 0.0
    return kernel


def create_train_state(
    config: ml_collections.ConfigDict,
    model: nn.Module,
    rng: jax.Array,
    image_shape: tuple[int, ...],
    steps_per_epoch: int,
) -> TrainState:
    """Initial parameters (fixed ETF classifier if `config.fixed_etf`) and optimizer state."""
    dummy = jnp.zeros((1, *image_shape), jnp.float32)
    params_rng, dropout_rng = jax.random.split(rng)
    variables = model.init({"params": params_rng, "dropout": dropout_rng}, dummy, train=False)
    params = dict(variables["params"])
    if config.fixed_etf:
        d = params["classifier"]["kernel"].shape[0]
        kernel = simplex_etf_classifier(d, model.num_classes, config.etf_norm, config.seed)
        params["classifier"] = {
            "kernel": jnp.asarray(kernel),
            "bias": jnp.zeros((model.num_classes,), jnp.float32),
        }
    learning_rate_fn = optim.create_learning_rate_fn(config, steps_per_epoch)
    spec = TrainSpec(
        num_classes=model.num_classes,
        loss=config.loss,
        mixup_alpha=float(config.mixup.alpha),
        mixup_per_example=bool(config.mixup.per_example),
        mixup_layer=mixup.resolve_layer(config.mixup.layer, model.layer_names),
        learning_rate_fn=learning_rate_fn,
    )
    return TrainState.create(
        apply_fn=model.apply,
        params=params,
        tx=optim.create_optimizer(config, learning_rate_fn, params),
        batch_stats=dict(variables.get("batch_stats", {})),
        spec=spec,
    )


# --------------------------------------------------------------------------------------------
# Steps


def step_randomness(
    spec: TrainSpec, rng: jax.Array, step: jax.Array, batch_size: int
) -> tuple[mixup.MixSpec | None, jax.Array]:
    """(mix, dropout key) of global step `step`: fold_in(rng, step), split in two."""
    mix_rng, dropout_rng = jax.random.split(jax.random.fold_in(rng, step))
    if spec.mixup_alpha <= 0:
        return None, dropout_rng
    mix = mixup.sample_mix(
        mix_rng,
        spec.mixup_alpha,
        batch_size,
        per_example=spec.mixup_per_example,
        layer=spec.mixup_layer,
    )
    return mix, dropout_rng


def train_step(
    state: TrainState, batch: Mapping[str, jax.Array], rng: jax.Array
) -> tuple[TrainState, dict[str, jax.Array]]:
    """One mixup SGD step: mix (input or hidden layer), forward, loss on the mixed logits, update.

    Pure; `rng` is the run's train key (the same every step), folded with `state.step` here.
    Metrics: 'loss', 'train_accuracy' (lam-weighted against both labels of each mixed example)
    and 'learning_rate' (the one this update used).
    """
    spec = state.spec
    images, labels = batch["image"], batch["label"]
    mix, dropout_rng = step_randomness(spec, rng, state.step, images.shape[0])
    lam, perm = (mix.lam, mix.perm) if mix is not None else (None, None)

    def loss_fn(params):
        logits, updates = state.apply_fn(
            {"params": params, "batch_stats": state.batch_stats},
            images,
            train=True,
            mix=mix,
            rngs={"dropout": dropout_rng},
            mutable=["batch_stats"],
        )
        loss = losses.mixup_loss(logits, labels, lam, perm, spec.loss)
        return loss, (logits, updates)

    (loss, (logits, updates)), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params)
    new_state = state.apply_gradients(
        grads=grads, batch_stats=updates.get("batch_stats", state.batch_stats)
    )
    metrics = {
        "loss": loss,
        "train_accuracy": losses.mixup_accuracy(logits, labels, lam, perm),
        "learning_rate": jnp.asarray(spec.learning_rate_fn(state.step), jnp.float32),
    }
    return new_state, metrics


def eval_step(state: TrainState, batch: Mapping[str, jax.Array]) -> dict[str, jax.Array]:
    """Sums over the (padded) batch: 'loss' (the run's loss on clean labels), 'correct', 'count'."""
    logits = state.apply_fn(
        {"params": state.params, "batch_stats": state.batch_stats}, batch["image"], train=False
    )
    targets = losses.soft_targets(batch["label"], logits.shape[-1])
    per_example = losses.per_example_loss(logits, targets, state.spec.loss)
    weight = batch["mask"]
    return {
        "loss": jnp.sum(per_example * weight),
        "correct": jnp.sum((jnp.argmax(logits, -1) == batch["label"]) * weight),
        "count": jnp.sum(weight),
    }


def eval_batches(
    images: np.ndarray, labels: np.ndarray, batch_size: int, process_index: int, process_count: int
) -> Iterator[dict[str, np.ndarray]]:
    """This process's rows of each global eval batch, the last one padded (mask 0)."""
    n = len(images)
    local = batch_size // process_count
    for start in range(0, n, batch_size):
        idx = np.arange(start + process_index * local, start + (process_index + 1) * local)
        mask = (idx < n).astype(np.float32)
        idx = np.minimum(idx, n - 1)
        yield {"image": images[idx], "label": labels[idx], "mask": mask}


# --------------------------------------------------------------------------------------------
# Setting a run up


@dataclasses.dataclass
class _Run:
    """Everything the loop needs, built by `_setup` before anything is written."""

    config: ml_collections.ConfigDict
    workdir: epath.Path
    mesh: jax.sharding.Mesh
    iterator: Any  # nc_mixup.data.pipeline.EpochIterator
    test: tuple[np.ndarray, np.ndarray]
    state: TrainState
    rng_json: list[int]
    schedule: Schedule

    @property
    def steps_per_epoch(self) -> int:
        return self.iterator.steps_per_epoch

    @property
    def total_steps(self) -> int:
        return self.config.num_epochs * self.steps_per_epoch

    @property
    def main(self) -> bool:
        return jax.process_index() == 0


def _setup(config: ml_collections.ConfigDict, workdir: epath.Path) -> _Run:
    """Validates `config` against the data and the devices, builds the initial train state.

    Raises ConfigError (naming the key) for anything the user can fix; writes nothing.
    """
    from nc_mixup.data import get_datasets
    from nc_mixup.data.pipeline import EpochIterator

    config_lib.validate(config)
    check_workdir(workdir)
    try:
        mixup.resolve_layer(config.mixup.layer, create_model(config.model, 2).layer_names)
    except ValueError as e:
        raise ConfigError(f"config key 'mixup.layer': {e}") from None
    mesh = sharding.create_mesh()
    try:
        sharding.check_batch_size(config.batch_size, mesh)
    except ValueError as e:
        raise ConfigError(f"config key 'batch_size': {e}") from None

    train_x, train_y, test_x, test_y, info = get_datasets(config.dataset)
    if config.batch_size > len(train_x):
        raise ConfigError(
            f"invalid value for config key 'batch_size': {config.batch_size} is larger than the "
            f"training set ({len(train_x)} examples of {config.dataset.name})"
        )
    iterator = EpochIterator(
        train_x,
        train_y,
        config.batch_size,
        config.seed,
        augment=augment.from_config(config, info.mean, info.std),
        process_index=jax.process_index(),
        process_count=jax.process_count(),
    )
    model = create_model(config.model, info.num_classes, compute_dtype(config.dtype))
    if config.fixed_etf:
        width = _penultimate_width(model, tuple(train_x.shape[1:]))
        if width < info.num_classes:
            raise ConfigError(
                f"config key 'fixed_etf': fixed_etf needs penultimate width d >= number of "
                f"classes K, got d={width} < K={info.num_classes}"
            )
    # Keys: computed on the host, then placed on the mesh by jit (which, unlike device_put,
    # works with devices of other processes too).
    init_rng, train_rng = jax.random.split(jax.random.key(config.seed))
    make_state = functools.partial(
        create_train_state,
        config,
        model,
        image_shape=tuple(train_x.shape[1:]),
        steps_per_epoch=iterator.steps_per_epoch,
    )
    state = jax.jit(
        lambda key_data: make_state(jax.random.wrap_key_data(key_data)),
        out_shardings=sharding.replicated_sharding(mesh),
    )(np.asarray(jax.random.key_data(init_rng)))
    return _Run(
        config=config,
        workdir=workdir,
        mesh=mesh,
        iterator=iterator,
        test=(test_x, test_y),
        state=state,
        rng_json=rng_to_json(train_rng),
        schedule=Schedule.from_config(config, iterator.steps_per_epoch),
    )


def _penultimate_width(model: nn.Module, image_shape: tuple[int, ...]) -> int:
    """The width d of the classifier's input (from shapes only: nothing is computed)."""
    shapes = jax.eval_shape(
        lambda: model.init(jax.random.key(0), jnp.zeros((1, *image_shape)), train=False)
    )
    return int(shapes["params"]["classifier"]["kernel"].shape[0])


# --------------------------------------------------------------------------------------------
# The loop


def train_and_evaluate(
    config: ml_collections.ConfigDict,
    workdir: str | os.PathLike,
    *,
    stop: StopRequest | None = None,
    stop_after_step: int | None = None,
    allow_config_change: bool = False,
) -> dict[str, Any]:
    """Trains `config` in `workdir` (resuming from its latest checkpoint), evaluating on the way.

    SIGTERM/SIGINT (handled from the start of this call; `stop` to share an earlier handler):
    the step in flight finishes, a checkpoint is saved and this returns with 'interrupted'.
    `stop_after_step`: the same, after global step k (a planned interruption, e.g. in tests).
    `allow_config_change`: resume even if the workdir's config.json differs (see
    `_claim_workdir`). Returns a summary: 'step', 'epoch', 'train_loss' (last train line),
    'test_accuracy', 'test_loss' (last evaluation), 'interrupted', 'stop_reason',
    'compile_seconds'. Raises ConfigError for bad input (nothing written),
    TrainingDiverged on a NaN/inf loss (the last good checkpoint is kept).
    """
    stop = StopRequest() if stop is None else stop
    if stop_after_step is None and os.environ.get(STOP_AFTER_STEP_ENV):
        stop_after_step = int(os.environ[STOP_AFTER_STEP_ENV])
    workdir = epath.Path(workdir)
    with stop:
        run = _setup(config, workdir)
        created = not workdir.exists()
        try:
            return _train(run, stop, stop_after_step, allow_config_change)
        except ConfigError:
            if created and run.main and is_local(workdir):
                shutil.rmtree(os.fspath(workdir), ignore_errors=True)  # leave nothing behind
            raise


def _train(
    run: _Run, stop: StopRequest, stop_after_step: int | None, allow_config_change: bool
) -> dict[str, Any]:
    config, workdir, spe = run.config, run.workdir, run.steps_per_epoch
    repl, data = sharding.replicated_sharding(run.mesh), sharding.batch_sharding(run.mesh)
    if run.main:
        workdir.mkdir(parents=True, exist_ok=True)
        remove_orbax_leftovers(workdir)
    snapshot_steps = [e * spe for e in config.snapshot_epochs]
    ckpt = Checkpointer(workdir, snapshot_steps=snapshot_steps)
    writer, loop = None, None
    try:
        resuming = ckpt.latest_step() is not None
        claim_workdir(
            workdir,
            config,
            resuming=resuming,
            allow_config_change=allow_config_change,
            main=run.main,
        )
        writer = MetricsWriter(workdir, enabled=run.main)
        state, start, window = _restore(run, ckpt, writer, repl)
        loop = _Loop(run, ckpt, writer, window, state, start, repl, data)
        if not resuming and 0 in config.snapshot_epochs:
            loop.save(0)
        return loop.run(stop, stop_after_step)
    except TrainingDiverged as e:
        raise _diverged(e, loop.step if loop is not None else 0, ckpt) from None
    finally:
        ckpt.close()
        if writer is not None:
            writer.close()


def _restore(
    run: _Run, ckpt: Checkpointer, writer: MetricsWriter, repl: Any
) -> tuple[TrainState, int, LogWindow]:
    """(state, start step, log window): from the latest checkpoint, or the initial ones (then
    the metrics of an earlier attempt that saved no checkpoint are dropped)."""
    state = run.state
    latest = ckpt.latest_step()
    if latest is None:
        writer.truncate_after(0)
        return state, 0, LogWindow()
    variables, train, meta = ckpt.restore(
        latest,
        {"params": state.params, "batch_stats": state.batch_stats},
        {"opt_state": state.opt_state, "step": state.step},
    )
    state = state.replace(
        params=variables["params"],
        batch_stats=variables["batch_stats"],
        opt_state=train["opt_state"],
        step=train["step"],
    )
    run.rng_json = list(meta["rng"])
    start = int(meta["step"])
    writer.truncate_after(start)
    if run.main:
        print(f"nc-mixup train: resuming from step {start} ({run.workdir})", file=sys.stderr)
    return state, start, LogWindow(meta.get("log_window"))


class _Loop:
    """The training loop of one run: steps, and the periodic log / evaluate / save actions."""

    def __init__(
        self,
        run: _Run,
        ckpt: Checkpointer,
        writer: MetricsWriter,
        window: LogWindow,
        state: TrainState,
        start: int,
        repl: jax.sharding.NamedSharding,
        data: jax.sharding.NamedSharding,
    ):
        self.run_, self.ckpt, self.writer, self.window = run, ckpt, writer, window
        self.state, self.step, self.start, self.saved_step = state, start, start, None
        if ckpt.latest_step() is not None:
            self.saved_step = start
        self.repl = repl
        self.train_rng = _replicated_key(run.rng_json, repl)
        # On CPU, XLA's own convolutions beat the default library's (nc_mixup.models.conv).
        options = cpu_compiler_options()
        self.p_train_step = jax.jit(
            train_step,
            in_shardings=(repl, data, repl),
            out_shardings=(repl, repl),
            donate_argnums=(0,),
            compiler_options=options,
        )
        self.p_eval_step = jax.jit(
            eval_step, in_shardings=(repl, data), out_shardings=repl, compiler_options=options
        )
        self.last_train: dict[str, Any] = {}
        self.last_eval: dict[str, Any] = {}
        self.timer = Timer()

    # -- periodic actions

    def save(self, step: int) -> None:
        """A checkpoint of the current state at global `step` (raises TrainingDiverged if the
        pending log window holds a NaN: then nothing is saved)."""
        spe = self.run_.steps_per_epoch
        epoch, step_in_epoch = divmod(step, spe)
        meta = {
            "step": step,
            "epoch": epoch,
            "step_in_epoch": step_in_epoch,
            "steps_per_epoch": spe,
            "rng": self.run_.rng_json,
            "log_window": self.window.pending(),
        }
        self.ckpt.save(
            step,
            {"params": self.state.params, "batch_stats": self.state.batch_stats},
            {"opt_state": self.state.opt_state, "step": self.state.step},
            meta,
        )
        self.saved_step = step
        self.writer.flush()  # a non-local metrics.jsonl is rewritten here (and after evaluations)

    def log(self, step: int) -> None:
        """One train line: the window's mean of every metric the step returns, and img/s."""
        means = self.window.pop()  # raises TrainingDiverged on a NaN loss
        record = {"step": step, "epoch": (step - 1) // self.run_.steps_per_epoch + 1}
        record.update(means)
        record["images_per_sec"] = self.timer.rate(self.run_.config.batch_size)
        self.writer.write(record, step=step, prefix="train/")
        self.last_train = record

    def evaluate(self, step: int) -> None:
        """Loss and accuracy on the whole test set: one eval line."""
        run = self.run_
        sums = {"loss": 0.0, "correct": 0.0, "count": 0.0}
        test_x, test_y = run.test
        for local in eval_batches(
            test_x, test_y, run.config.batch_size, jax.process_index(), jax.process_count()
        ):
            out = jax.device_get(
                self.p_eval_step(self.state, sharding.shard_batch(local, run.mesh))
            )
            sums = {k: sums[k] + float(out[k]) for k in sums}
        record = {
            "step": step,
            "epoch": step // run.steps_per_epoch,
            "test_accuracy": sums["correct"] / sums["count"],
            "test_loss": sums["loss"] / sums["count"],
        }
        self.writer.write(record, step=step, prefix="eval/")
        self.writer.flush()
        self.last_eval = record

    # -- the loop

    def batches(self) -> Prefetcher:
        """(global step, sharded batch) from the current step to the end, prepared ahead on a
        background thread (gather, normalise, device_put)."""
        run = self.run_
        spe = run.steps_per_epoch

        start = self.step

        def local_batches():
            for epoch in range(start // spe, run.config.num_epochs):
                first = start - epoch * spe if epoch == start // spe else 0
                for i, local in enumerate(run.iterator.epoch(epoch, first), first):
                    yield epoch * spe + i, local

        return Prefetcher(
            local_batches(),
            lambda item: (item[0], sharding.shard_batch(item[1], run.mesh)),
            size=PREFETCH_BATCHES,
        )

    def run(self, stop: StopRequest, stop_after_step: int | None) -> dict[str, Any]:
        run, schedule, spe = self.run_, self.run_.schedule, self.run_.steps_per_epoch
        summary: dict[str, Any] = {"interrupted": False, "compile_seconds": 0.0}
        summary["stop_reason"] = None
        compiled, bar = None, None
        with self.batches() as batches:
            for step, batch in batches:
                requested = stop.reason is not None or (
                    step == stop_after_step and step > self.start
                )
                if stop_now(requested, step, run.config.log_every_steps):
                    if self.saved_step != step:
                        self.save(step)
                    summary["interrupted"] = True
                    summary["stop_reason"] = stop.reason or f"stop_after_step={stop_after_step}"
                    break
                if bar is None:
                    epoch = step // spe
                    desc = f"epoch {epoch + 1}/{run.config.num_epochs}"
                    bar = progress_bar(spe, step - epoch * spe, desc, run.main)
                if compiled is None:  # ahead of time, so throughput excludes compilation
                    t0 = time.perf_counter()
                    compiled = self.p_train_step.lower(self.state, batch, self.train_rng).compile()
                    summary["compile_seconds"] = time.perf_counter() - t0
                    self.timer.restart()
                self.state, metrics = compiled(self.state, batch, self.train_rng)
                self.step = step = step + 1
                self.timer.steps += 1
                self.window.add(metrics)
                bar.update(1)

                if schedule.log(step):
                    self.log(step)
                    bar.set_postfix(loss=f"{self.last_train['loss']:.4f}")
                    self.timer.restart()
                if step % spe == 0:  # end of an epoch
                    paused = schedule.evaluate(step) or schedule.checkpoint(step)
                    if schedule.evaluate(step):
                        self.evaluate(step)
                    if schedule.checkpoint(step):
                        self.save(step)
                    if paused:  # img/s leaves out evaluations and saves (which waited for
                        self.timer.restart()  # every step in flight); otherwise keep timing
                    bar.close()
                    bar = None
        if bar is not None:
            bar.close()
        if not self.last_eval and run.main:  # nothing left to train: the run's last evaluation
            evals = [r for r in read_metrics(run.workdir) if "test_accuracy" in r]
            self.last_eval = evals[-1] if evals else {}
        summary.update(
            step=self.step,
            epoch=self.step / spe,
            train_loss=self.last_train.get("loss"),
            test_accuracy=self.last_eval.get("test_accuracy"),
            test_loss=self.last_eval.get("test_loss"),
        )
        return summary


def _replicated_key(key_data: list[int], repl: jax.sharding.NamedSharding) -> jax.Array:
    """The PRNG key with `key_data` on every device of the mesh (all processes)."""
    data = np.asarray(key_data, np.uint32)
    return jax.jit(jax.random.wrap_key_data, out_shardings=repl)(data)


def _diverged(error: TrainingDiverged, step: int, ckpt: Checkpointer) -> TrainingDiverged:
    """The user-facing error: where it happened and which checkpoint is kept."""
    ckpt.wait()
    last = ckpt.latest_step()
    kept = f"the last good checkpoint (step {last})" if last is not None else "no checkpoint"
    return TrainingDiverged(
        f"training diverged: {error} by step {step}; stopped. Kept {kept} in {ckpt.directory}. "
        "Try a lower optimizer.learning_rate (in a new workdir, or with --allow-config-change)."
    )


# --------------------------------------------------------------------------------------------
# Loading a finished (or interrupted) run


@dataclasses.dataclass
class LoadedRun:
    """A run's config, model and variables at one checkpoint."""

    config: ml_collections.ConfigDict
    model: nn.Module
    variables: dict[str, Any]
    step: int
    epoch: int


def load_config(workdir: str | os.PathLike) -> ml_collections.ConfigDict:
    """The resolved config of the run in `workdir` (its config.json)."""
    path = epath.Path(workdir) / CONFIG_FILE
    if not path.is_file():
        raise FileNotFoundError(f"no {CONFIG_FILE} in {workdir}: not an nc-mixup run directory")
    return config_lib.from_json(path.read_text())


def load_run(workdir: str | os.PathLike, step: int | None = None) -> LoadedRun:
    """The model and variables of checkpoint `step` of the run in `workdir` (None: latest).

    Raises FileNotFoundError with a clear message when there is no such run or checkpoint.
    """
    from nc_mixup.data import get_info

    config = load_config(workdir)
    model = create_model(
        config.model, get_info(config.dataset.name).num_classes, compute_dtype(config.dtype)
    )
    if not (epath.Path(workdir) / CHECKPOINT_DIR).is_dir():
        raise FileNotFoundError(f"no checkpoints in {workdir} (the run saved none yet)")
    ckpt = Checkpointer(workdir, read_only=True, async_save=False)
    try:
        variables, meta, found = ckpt.restore_variables(step)
    finally:
        ckpt.close()
    variables = {k: v for k, v in variables.items() if v or k == "params"}
    variables = jax.tree.map(jnp.asarray, variables)
    return LoadedRun(config, model, variables, found, int(meta.get("epoch", 0)))


__all__ = [
    "CONFIG_FILE",
    "Every",
    "LoadedRun",
    "LogWindow",
    "Schedule",
    "StopRequest",
    "TrainState",
    "TrainingDiverged",
    "create_train_state",
    "eval_step",
    "load_run",
    "train_and_evaluate",
    "train_step",
]
