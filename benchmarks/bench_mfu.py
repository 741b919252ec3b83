"""Training throughput and model FLOP utilisation (MFU) of WRN-40-10 and ViT-B/4.

The training step of `nc-mixup train` (`nc_mixup.train.train_step`: input mixup, CE mixup loss,
the paper config's optimizer, jitted and data parallel over all local devices as in
`train_and_evaluate`), at the paper profile's global batch size (experiments/configs/paper.py),
in float32 and bfloat16 compute (float32 master weights and loss). Random images (the step does
not look at their values); the input pipeline is not part of the measurement.

    python benchmarks/bench_mfu.py                   # paper shapes on an accelerator, small on CPU
    python benchmarks/bench_mfu.py --shapes small --steps 3  # small networks (default on CPU)
    python benchmarks/bench_mfu.py --json out.json

Reported per model and dtype: images/s, step time, the model FLOPs of one step, achieved
TFLOP/s and MFU = achieved / (peak of the device kind x devices).

Model FLOPs are counted analytically from the forward pass's jaxpr: 2 * M * N * K for every
matrix product and 2 * out_elements * C_in/groups * kernel_area for every convolution (so
attention's QK^T and AV count; norms, activations and the optimizer do not), times 3 for forward +
backward (input and weight gradients), the usual MFU convention. XLA's own count for the compiled
step (`compiled.cost_analysis()['flops']`) is printed beside it as a cross-check. The peak is the
dense bf16 tensor-core/MXU figure of the device kind for bf16, and the TF32 figure for float32 on
NVIDIA GPUs (XLA runs float32 matmuls and convolutions in TF32 there by default); on CPU there is
no peak and only achieved GFLOP/s is reported.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import math
import pathlib
import platform
import sys
import time
from collections.abc import Callable
from typing import Any

REPO = pathlib.Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from nc_mixup import models, sharding, train  # noqa: E402
from nc_mixup.config import load_config  # noqa: E402

# Dense peak FLOP/s per device, by device kind (substring of jax.Device.device_kind, first match),
# (bf16, fp32-as-used): vendor data-sheet figures, without sparsity. For TPUs one JAX device is a
# chip (v4 and later) or a core (v2, v3).
PEAK_FLOPS: tuple[tuple[str, float, float], ...] = (
    ("H100 PCIe", 756e12, 378e12),
    ("H100", 989.4e12, 494.7e12),  # SXM; fp32 = TF32 tensor core
    ("H200", 989.4e12, 494.7e12),
    ("A100", 312e12, 156e12),
    ("L4", 121e12, 60e12),
    ("A10G", 70e12, 35e12),
    ("TPU v6 lite", 918e12, 918e12),  # TPU: float32 matmuls run as bf16 passes; same peak
    ("TPU v5 lite", 197e12, 197e12),
    ("TPU v5p", 459e12, 459e12),
    ("TPU v5", 459e12, 459e12),
    ("TPU v4", 275e12, 275e12),
    ("TPU v3", 61.5e12, 61.5e12),
    ("TPU v2", 22.5e12, 22.5e12),
)

# Small shapes for CPU: the same code paths with networks a 2-core machine steps in seconds.
SMALL = {
    "wrn": dict(depth=10, widen=2),
    "vit": dict(width=128, depth=2, num_heads=4, mlp_dim=256),
}


def peak_flops(device_kind: str, dtype: str) -> float | None:
    """Peak dense FLOP/s of one device of this kind for `dtype` compute, None if unknown/CPU."""
    for key, bf16, fp32 in PEAK_FLOPS:
        if key.lower() in device_kind.lower():
            return bf16 if dtype == "bfloat16" else fp32
    return None


# --- analytic FLOPs --------------------------------------------------------------------------


def _sub_jaxprs(params: dict[str, Any]) -> list[tuple[Any, int]]:
    """(jaxpr, multiplicity) of the sub-programs of one equation (pjit, remat, scan, ...)."""
    out = []
    for key, value in params.items():
        values = value if isinstance(value, (list, tuple)) else [value]
        for v in values:
            inner = getattr(v, "jaxpr", v)
            if hasattr(inner, "eqns"):
                out.append((inner, int(params.get("length", 1)) if key == "jaxpr" else 1))
    return out


def matmul_flops(jaxpr: Any) -> int:
    """FLOPs of the matrix products and convolutions in `jaxpr` (a Jaxpr or ClosedJaxpr)."""
    jaxpr = getattr(jaxpr, "jaxpr", jaxpr)
    total = 0
    for eqn in jaxpr.eqns:
        name = eqn.primitive.name
        if name == "dot_general":
            (lhs_contract, _), _ = eqn.params["dimension_numbers"]
            lhs = eqn.invars[0].aval.shape
            k = math.prod(lhs[d] for d in lhs_contract)
            total += 2 * math.prod(eqn.outvars[0].aval.shape) * k
        elif name == "conv_general_dilated":
            rhs_spec = eqn.params["dimension_numbers"].rhs_spec
            rhs = eqn.invars[1].aval.shape
            per_output = rhs[rhs_spec[1]] * math.prod(rhs[d] for d in rhs_spec[2:])
            total += 2 * math.prod(eqn.outvars[0].aval.shape) * per_output
        else:
            if name == "cond":  # one branch runs: count the most expensive
                total += max(matmul_flops(b) for b in eqn.params["branches"])
                continue
            for sub, times in _sub_jaxprs(eqn.params):
                total += times * matmul_flops(sub)
    return total


# --- the step --------------------------------------------------------------------------------


@dataclasses.dataclass
class Case:
    """One benchmark: a model of the paper config at a batch size and compute dtype."""

    arch: str  # 'wrn' | 'vit'
    dtype: str  # 'float32' | 'bfloat16'
    batch_size: int
    small: bool


def make_config(case: Case) -> Any:
    config = load_config(f"{REPO}/experiments/configs/paper.py:arch={case.arch}")
    if case.small:
        config.model.update(SMALL[case.arch])
    config.batch_size = case.batch_size
    config.dtype = case.dtype
    return config


def build(case: Case, mesh: Any) -> tuple[Callable, Any, dict[str, jax.Array], Any, Any]:
    """(jitted step, state, sharded batch, train rng, model) for `case`: `nc_mixup.train`'s own
    `create_train_state` and `train_step`, sharded as `train_and_evaluate` shards them."""
    config = make_config(case)
    model = models.create_model(config.model, num_classes=10, dtype=train.compute_dtype(case.dtype))
    shape = (32, 32, 3)
    rng = np.random.default_rng(0)
    images = rng.standard_normal((case.batch_size, *shape), dtype=np.float32)
    labels = rng.integers(0, 10, case.batch_size).astype(np.int32)
    repl, data = sharding.replicated_sharding(mesh), sharding.batch_sharding(mesh)
    make_state = functools.partial(
        train.create_train_state, config, model, image_shape=shape, steps_per_epoch=100
    )
    state = jax.jit(make_state, out_shardings=repl)(jax.random.key(0))
    train_rng = jax.jit(lambda: jax.random.key(1), out_shardings=repl)()
    batch = sharding.shard_batch({"image": images, "label": labels}, mesh)
    step = jax.jit(
        train.train_step,
        in_shardings=(repl, data, repl),
        out_shardings=(repl, repl),
        donate_argnums=(0,),
    )
    return step, state, batch, train_rng, model


def forward_flops(model: Any, state: Any, batch: dict[str, jax.Array]) -> int:
    """Matmul/conv FLOPs of one forward pass over the whole global batch."""
    x = jax.ShapeDtypeStruct(batch["image"].shape, jnp.float32)
    variables = {"params": state.params, "batch_stats": state.batch_stats}
    fn = lambda v, x: model.apply(v, x, train=False)
    return matmul_flops(jax.make_jaxpr(fn)(variables, x))


def run_case(case: Case, mesh: Any, steps: int) -> dict[str, Any]:
    step, state, batch, rng, model = build(case, mesh)
    fwd = forward_flops(model, state, batch)
    t0 = time.perf_counter()
    compiled = step.lower(state, batch, rng).compile()
    compile_s = time.perf_counter() - t0
    cost = compiled.cost_analysis()
    cost = cost[0] if isinstance(cost, (list, tuple)) else cost
    xla_flops = float(cost.get("flops", float("nan"))) if cost else float("nan")
    state, metrics = compiled(state, batch, rng)  # warm-up
    jax.block_until_ready(metrics)
    t0 = time.perf_counter()
    for _ in range(steps):
        state, metrics = compiled(state, batch, rng)
    jax.block_until_ready((state, metrics))
    step_s = (time.perf_counter() - t0) / steps
    loss = metrics["loss"]
    if not np.isfinite(float(loss)):
        raise FloatingPointError(f"{case}: non-finite loss {float(loss)}")

    devices = mesh.devices.size
    kind = mesh.devices.flat[0].device_kind
    model_flops = 3 * fwd
    achieved = model_flops / step_s
    peak = peak_flops(kind, case.dtype)
    return dict(
        model=case.arch,
        shapes="small" if case.small else "paper",
        dtype=case.dtype,
        batch_size=case.batch_size,
        devices=devices,
        device_kind=kind,
        compile_s=compile_s,
        step_s=step_s,
        images_per_s=case.batch_size / step_s,
        model_flops_per_step=model_flops,
        xla_flops_per_step=xla_flops * devices,
        achieved_tflops=achieved / 1e12,
        mfu=None if peak is None else achieved / (peak * devices),
    )


def format_row(r: dict[str, Any]) -> str:
    mfu = "   n/a" if r["mfu"] is None else f"{100 * r['mfu']:5.1f}%"
    gflop, xla = r["model_flops_per_step"] / 1e9, r["xla_flops_per_step"] / 1e9
    return (
        f"{r['model']:4s} {r['shapes']:5s} {r['dtype']:8s} B={r['batch_size']:<4d} "
        f"{r['images_per_s']:9.1f} img/s  step {1e3 * r['step_s']:8.1f} ms  "
        f"model {gflop:9.1f} GFLOP (XLA {xla:9.1f})"
        f"  {1e3 * r['achieved_tflops']:9.1f} GFLOP/s  MFU {mfu}  compile {r['compile_s']:.0f} s"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", choices=("wrn", "vit", "all"), default="all")
    parser.add_argument(
        "--dtype",
        choices=("float32", "bfloat16", "both"),
        default=None,
        help="default: both on an accelerator, float32 on CPU",
    )
    parser.add_argument(
        "--batch-size",
        type=int,
        default=None,
        help="global batch (default: the paper config's, 32 for small shapes)",
    )
    parser.add_argument(
        "--shapes",
        choices=("paper", "small"),
        default=None,
        help="paper networks, or small ones (default: paper on an accelerator, small on CPU)",
    )
    parser.add_argument("--steps", type=int, default=None, help="timed steps (default 20, CPU 3)")
    parser.add_argument("--json", type=pathlib.Path, help="also write the results here")
    args = parser.parse_args(argv)

    on_cpu = jax.default_backend() == "cpu"
    small = on_cpu if args.shapes is None else args.shapes == "small"
    dtypes = {
        "both": ("float32", "bfloat16"),
        None: ("float32",) if on_cpu else ("float32", "bfloat16"),
    }.get(args.dtype, (args.dtype,))
    steps = args.steps or (3 if on_cpu else 20)
    mesh = sharding.create_mesh()
    print(
        f"jax {jax.__version__} on {jax.device_count()} x {jax.devices()[0].device_kind} "
        f"({jax.default_backend()}), {platform.node()}; {steps} timed steps"
    )
    results = []
    for arch in ("wrn", "vit") if args.model == "all" else (args.model,):
        batch = args.batch_size or (
            32 if small else int(make_config(Case(arch, "float32", 0, False)).batch_size)
        )
        batch = max(mesh.devices.size, batch - batch % mesh.devices.size)
        for dtype in dtypes:
            r = run_case(Case(arch, dtype, batch, small), mesh, steps)
            print(format_row(r), flush=True)
            results.append(r)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
