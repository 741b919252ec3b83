"""Training and evaluation (flax/examples style): small pure functions, then the loop.

Reading order: `TrainState`; `create_train_state` (model init, the fixed simplex-ETF classifier,
the optimizer); `step_randomness` and `train_step` (the one place where mixup, the loss and the
update meet: the loss is computed on the logits of the MIXED forward pass); `eval_step`;
`train_and_evaluate` (data, mesh, checkpoints, logging, interruption); `load_run`.

Randomness is explicit: `jax.random.key(config.seed)` splits into an init key and a train key,
and step s uses `fold_in(train_key, s)`, so a resumed run draws exactly what an uninterrupted one
would have. The data order is a function of (seed, epoch) (nc_mixup.data.pipeline.EpochIterator).

The workdir is an `etils.epath.Path`: a local folder or a URL such as gs://bucket/run (needed on
multi-host TPU pod slices, whose hosts have separate disks).
"""

from __future__ import annotations

import dataclasses
import functools
import math
import os
import signal
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
from nc_mixup.data import augment
from nc_mixup.metrics_writer import MetricsWriter, is_local, read_metrics
from nc_mixup.models import create_model
from nc_mixup.models.conv import cpu_compiler_options

CONFIG_FILE = "config.json"
# Set to a global step k to stop (as on SIGTERM: save, exit) after step k: for tests.
STOP_AFTER_STEP_ENV = "NC_MIXUP_STOP_AFTER_STEP"


class TrainingDiverged(RuntimeError):
    """The training loss became NaN or infinite; the last good checkpoint is kept."""


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
# The loop


class _LogWindow:
    """Per-step train metrics since the last train line, summed on the host in float64.

    Windows end at global steps that are multiples of `log_every_steps` (and at the last step),
    and a partial window is stored in checkpoints, so a resumed run writes the same lines.
    """

    def __init__(self, pending: Mapping[str, Any] | None = None):
        pending = pending or {}
        self.sums = {k: float(v) for k, v in pending.get("sums", {}).items()}
        self.count = int(pending.get("count", 0))
        self.last = dict(pending.get("last", {}))
        self._device: list[dict[str, jax.Array]] = []

    def add(self, metrics: dict[str, jax.Array]) -> None:
        self._device.append(metrics)

    def materialize(self) -> None:
        """Fetches the queued device metrics (blocks) into the host sums."""
        for m in jax.device_get(self._device):
            for key in ("loss", "train_accuracy"):
                self.sums[key] = self.sums.get(key, 0.0) + float(m[key])
            self.last = {"learning_rate": float(m["learning_rate"]), "loss": float(m["loss"])}
            self.count += 1
            if not math.isfinite(float(m["loss"])):
                self._device = []
                raise TrainingDiverged(f"loss is {float(m['loss'])}")
        self._device = []

    def pending(self) -> dict[str, Any]:
        self.materialize()
        return {"sums": self.sums, "count": self.count, "last": self.last}

    def pop(self) -> dict[str, float]:
        self.materialize()
        out = {k: v / max(self.count, 1) for k, v in self.sums.items()}
        out["learning_rate"] = self.last.get("learning_rate", float("nan"))
        self.sums, self.count = {}, 0
        return out


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


def _write_config(workdir: epath.Path, config: ml_collections.ConfigDict) -> None:
    """WORKDIR/config.json, written atomically: locally through a temporary file and a rename;
    elsewhere (gs://) directly, since an object appears only once its upload is complete and
    object stores rename by copying."""
    text = config_lib.to_json(config)
    path = workdir / CONFIG_FILE
    if path.exists() and path.read_text() != text:
        print(
            f"nc-mixup train: note: {path} differs from this run's config; overwriting it",
            file=sys.stderr,
        )
    if not is_local(path):
        path.write_text(text)
        return
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def _progress(total: int, initial: int, desc: str, enabled: bool):
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


def train_and_evaluate(
    config: ml_collections.ConfigDict,
    workdir: str | os.PathLike,
    *,
    stop: StopRequest | None = None,
) -> dict[str, Any]:
    """Trains `config` in `workdir` (resuming from its latest checkpoint), evaluating on the way.

    SIGTERM/SIGINT (handled from the start of this call; `stop` to share an earlier handler):
    the step in flight finishes, a checkpoint is saved and this returns with 'interrupted'.
    Returns a summary: 'step', 'epoch', 'train_loss' (last train line), 'test_accuracy',
    'test_loss' (last evaluation), 'interrupted', 'stop_reason', 'compile_seconds'.
    Raises TrainingDiverged on a NaN/inf loss (the last good checkpoint is kept).
    """
    stop = StopRequest() if stop is None else stop
    with stop:
        return _train_and_evaluate(config, epath.Path(workdir), stop)


def _train_and_evaluate(
    config: ml_collections.ConfigDict, workdir: epath.Path, stop: StopRequest
) -> dict[str, Any]:
    from nc_mixup.cli import UsageError
    from nc_mixup.data import get_datasets
    from nc_mixup.data.pipeline import EpochIterator

    config_lib.validate(config)
    try:
        mixup.resolve_layer(config.mixup.layer, create_model(config.model, 2).layer_names)
    except ValueError as e:
        raise UsageError(f"config key 'mixup.layer': {e}") from None
    mesh = sharding.create_mesh()
    try:
        sharding.check_batch_size(config.batch_size, mesh)
    except ValueError as e:
        raise UsageError(f"config key 'batch_size': {e}") from None
    repl, data = sharding.replicated_sharding(mesh), sharding.batch_sharding(mesh)

    main = jax.process_index() == 0
    if main:
        workdir.mkdir(parents=True, exist_ok=True)
        _write_config(workdir, config)

    train_x, train_y, test_x, test_y, info = get_datasets(config.dataset)
    it = EpochIterator(
        train_x,
        train_y,
        config.batch_size,
        config.seed,
        augment=augment.from_config(config, info.mean, info.std),
        process_index=jax.process_index(),
        process_count=jax.process_count(),
    )
    spe = it.steps_per_epoch
    total_steps = config.num_epochs * spe

    model = create_model(config.model, info.num_classes, compute_dtype(config.dtype))
    # Keys: computed on the host, then placed on the mesh by jit (which, unlike device_put,
    # works with devices of other processes too).
    init_rng, train_rng = jax.random.split(jax.random.key(config.seed))
    rng_json = rng_to_json(train_rng)
    make_state = functools.partial(
        create_train_state,
        config,
        model,
        image_shape=tuple(train_x.shape[1:]),
        steps_per_epoch=spe,
    )
    try:
        state = jax.jit(
            lambda key_data: make_state(jax.random.wrap_key_data(key_data)), out_shardings=repl
        )(np.asarray(jax.random.key_data(init_rng)))
    except ValueError as e:
        if "fixed_etf" in str(e):
            raise UsageError(f"config key 'fixed_etf': {e}") from None
        raise
    train_rng = _replicated_key(rng_json, repl)

    snapshot_steps = [e * spe for e in config.snapshot_epochs]
    ckpt = Checkpointer(workdir, snapshot_steps=snapshot_steps)
    writer = MetricsWriter(workdir, enabled=main)
    window = _LogWindow()
    saved_step = None

    def save(step: int) -> None:
        nonlocal saved_step
        epoch, step_in_epoch = divmod(step, spe)
        meta = {
            "step": step,
            "epoch": epoch,
            "step_in_epoch": step_in_epoch,
            "steps_per_epoch": spe,
            "rng": rng_json,
            "log_window": window.pending(),  # raises TrainingDiverged on a NaN: no save
        }
        ckpt.save(
            step,
            {"params": state.params, "batch_stats": state.batch_stats},
            {"opt_state": state.opt_state, "step": state.step},
            meta,
        )
        saved_step = step
        writer.flush()  # a non-local metrics.jsonl is rewritten here (and after evaluations)

    start = 0
    if ckpt.latest_step() is not None:
        variables, train, meta = ckpt.restore(
            ckpt.latest_step(),
            {"params": state.params, "batch_stats": state.batch_stats},
            {"opt_state": state.opt_state, "step": state.step},
        )
        state = state.replace(
            params=variables["params"],
            batch_stats=variables["batch_stats"],
            opt_state=train["opt_state"],
            step=train["step"],
        )
        rng_json = list(meta["rng"])
        train_rng = _replicated_key(rng_json, repl)
        start, window = int(meta["step"]), _LogWindow(meta.get("log_window"))
        saved_step = start
        writer.truncate_after(start)
        if main:
            print(f"nc-mixup train: resuming from step {start} ({workdir})", file=sys.stderr)
    elif 0 in config.snapshot_epochs:
        save(0)

    # On CPU, XLA's own convolutions beat the default library's (nc_mixup.models.conv).
    options = cpu_compiler_options()
    p_train_step = jax.jit(
        train_step,
        in_shardings=(repl, data, repl),
        out_shardings=(repl, repl),
        donate_argnums=(0,),
        compiler_options=options,
    )
    p_eval_step = jax.jit(
        eval_step, in_shardings=(repl, data), out_shardings=repl, compiler_options=options
    )

    def evaluate(step: int) -> dict[str, float]:
        sums = {"loss": 0.0, "correct": 0.0, "count": 0.0}
        for local in eval_batches(
            test_x, test_y, config.batch_size, jax.process_index(), jax.process_count()
        ):
            out = jax.device_get(p_eval_step(state, sharding.shard_batch(local, mesh)))
            sums = {k: sums[k] + float(out[k]) for k in sums}
        record = {
            "step": step,
            "epoch": step // spe,
            "test_accuracy": sums["correct"] / sums["count"],
            "test_loss": sums["loss"] / sums["count"],
        }
        writer.write(record, step=step, prefix="eval/")
        writer.flush()
        return record

    stop_after = int(os.environ.get(STOP_AFTER_STEP_ENV, "0") or 0)
    summary: dict[str, Any] = {"interrupted": False, "compile_seconds": 0.0, "stop_reason": None}
    last_train: dict[str, Any] = {}
    last_eval: dict[str, Any] = {}
    step, compiled, timer = start, None, _Timer()
    try:
        for epoch in range(start // spe, config.num_epochs):
            first = step - epoch * spe
            bar = _progress(spe, first, f"epoch {epoch + 1}/{config.num_epochs}", main)
            for local in it.epoch(epoch, first):
                requested = stop.reason is not None or (step == stop_after and step > start)
                if _stop_now(requested, step, config.log_every_steps):
                    if saved_step != step:
                        save(step)
                    summary["interrupted"] = True
                    summary["stop_reason"] = stop.reason or STOP_AFTER_STEP_ENV
                    break

                batch = sharding.shard_batch(local, mesh)
                if compiled is None:  # ahead of time, so throughput excludes compilation
                    t0 = time.perf_counter()
                    compiled = p_train_step.lower(state, batch, train_rng).compile()
                    summary["compile_seconds"] = time.perf_counter() - t0
                    timer.restart()
                state, metrics = compiled(state, batch, train_rng)
                step += 1
                timer.steps += 1
                window.add(metrics)
                bar.update(1)

                if step % config.log_every_steps == 0 or step == total_steps:
                    means = window.pop()  # raises TrainingDiverged on a NaN loss
                    last_train = {
                        "step": step,
                        "epoch": (step - 1) // spe + 1,
                        "loss": means["loss"],
                        "train_accuracy": means["train_accuracy"],
                        "learning_rate": means["learning_rate"],
                        "images_per_sec": timer.rate(config.batch_size),
                    }
                    writer.write(last_train, step=step, prefix="train/")
                    bar.set_postfix(loss=f"{means['loss']:.4f}")
                    timer.restart()

                if step % spe == 0:  # end of an epoch
                    done = step // spe
                    if step == total_steps or _due(done, config.eval_every_epochs):
                        last_eval = evaluate(step)
                    if (
                        step == total_steps
                        or done in config.snapshot_epochs
                        or _due(done, config.checkpoint_every_epochs)
                    ):
                        save(step)
                    timer.restart()
            bar.close()
            if summary["interrupted"]:
                break
    except TrainingDiverged as e:
        raise _diverged(e, step, ckpt) from None
    finally:
        ckpt.close()
        writer.close()
    if not last_eval and main:  # nothing left to train: report the run's last evaluation
        evals = [r for r in read_metrics(workdir) if "test_accuracy" in r]
        last_eval = evals[-1] if evals else {}
    summary.update(
        step=step,
        epoch=step / spe,
        train_loss=last_train.get("loss"),
        test_accuracy=last_eval.get("test_accuracy"),
        test_loss=last_eval.get("test_loss"),
    )
    return summary


def _replicated_key(key_data: list[int], repl: jax.sharding.NamedSharding) -> jax.Array:
    """The PRNG key with `key_data` on every device of the mesh (all processes)."""
    data = np.asarray(key_data, np.uint32)
    return jax.jit(jax.random.wrap_key_data, out_shardings=repl)(data)


def _due(done_epochs: int, every: int) -> bool:
    """Whether something done every `every` epochs (0 = never) is due after `done_epochs`."""
    return every > 0 and done_epochs % every == 0


def _stop_now(requested: bool, step: int, log_every_steps: int) -> bool:
    """Whether to stop after this step. Several processes agree at log steps (a collective),
    so that they all stop after the same step; a single process stops at once."""
    if jax.process_count() == 1:
        return requested
    return step % log_every_steps == 0 and _any_process(requested)


class _Timer:
    """Wall time and steps since the last restart, for images/sec."""

    def __init__(self):
        self.restart()

    def restart(self) -> None:
        self.start, self.steps = time.perf_counter(), 0

    def rate(self, batch_size: int) -> float:
        return self.steps * batch_size / max(time.perf_counter() - self.start, 1e-9)


def _diverged(error: TrainingDiverged, step: int, ckpt: Checkpointer) -> TrainingDiverged:
    """The user-facing error: where it happened and which checkpoint is kept."""
    ckpt.wait()
    last = ckpt.latest_step()
    kept = f"the last good checkpoint (step {last})" if last is not None else "no checkpoint"
    return TrainingDiverged(
        f"training diverged: {error} by step {step}; stopped. Kept {kept} in {ckpt.directory}. "
        "Try a lower optimizer.learning_rate."
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
    "LoadedRun",
    "StopRequest",
    "TrainState",
    "TrainingDiverged",
    "create_train_state",
    "eval_step",
    "load_run",
    "train_and_evaluate",
    "train_step",
]
