"""`Conv`: `flax.linen.Conv` whose convolution has a custom VJP, for fast CPU training steps.

Why. Issue 5 measured a Flax WRN-16-4 mixup step at 0.21x PyTorch on a 2-core CPU and traced it
to XLA:CPU's convolution *weight* gradient. XLA writes dW as one more convolution, in which the
batch is the contracted feature dimension and the output gradient is a (H_out, W_out) "kernel";
it needs x transposed to (C_in, H, W, N), which XLA fuses with the producer of x (BatchNorm-ReLU)
into slow strided copies. With jax 0.10.2 (XLA:CPU hands every convolution to YNNPACK) we measured
on the same machine, for the 3x3 64->64 32x32 batch-128 case, dW at ~0.23 s against ~0.1-0.14 s
for the forward pass (not the 4.1 s of the issue, which we could not reproduce), and for the
whole step about 0.6x PyTorch (benchmarks/RESULTS.md, "Training step vs PyTorch").

What `conv_fast_wgrad` does. Forward: `lax.conv_general_dilated`. Input gradient: XLA's own
transposed convolution. Weight gradient on CPU: for 1x1 kernels (the WRN's strided shortcuts)
one GEMM, X^T dY with X the (stride-subsampled) input flattened to (N*H_out*W_out, C_in) and dY
the output gradient flattened to (N*H_out*W_out, C_out): 4-5x faster than XLA's convolution
there. Larger kernels keep XLA's weight gradient: its per-tap generalisation
(`weight_grad_taps`, dW[i, j] = X_ij^T dY over the shifted inputs X_ij, no im2col matrix) is
verified and selectable with CPU_WEIGHT_GRAD = "taps" but measured 2x slower than XLA for 3x3,
because XLA:CPU materialises every shifted slice. On GPU/TPU XLA's native gradient is used
throughout (`lax.platform_dependent`).

The bigger lever is not in the VJP: XLA:CPU's own (Eigen) convolution kernels ran the forward,
input-gradient and weight-gradient convolutions of these shapes 1.2-2.9x faster than YNNPACK's,
and a whole WRN-16-4 step 1.5x faster. That is a per-compilation choice which a module cannot
make; `cpu_compiler_options()` returns the `compiler_options` to pass to `jax.jit` of a CPU
training step (None elsewhere).

Verified against `jax.grad` of `lax.conv_general_dilated` in tests/test_conv.py. Limits:
reverse mode only (a `jax.custom_vjp`: forward-mode `jax.jvp` through it raises); convolutions
with input dilation, feature groups or a preferred element type fall back to
`lax.conv_general_dilated` with XLA's gradient.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Callable, Sequence
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
from jax import lax

Pads = tuple[tuple[int, int], ...]

# Weight-gradient implementation used when lowering for CPU: "auto" (one GEMM for 1x1 kernels,
# XLA's own convolution gradient otherwise), "taps" (per-tap GEMMs for every kernel) or "xla"
# (XLA's everywhere). Read at trace time; benchmarks and tests flip it, models leave it alone.
CPU_WEIGHT_GRAD = "auto"


def _cpu_weight_grad(kernel_shape: Sequence[int]) -> Callable[..., jax.Array]:
    """The weight-gradient function to use on CPU for this kernel (see CPU_WEIGHT_GRAD)."""
    mode = CPU_WEIGHT_GRAD
    if mode == "auto":
        mode = "taps" if all(k == 1 for k in kernel_shape[:-2]) else "xla"
    return {"taps": weight_grad_taps, "xla": weight_grad_xla}[mode]


# XLA:CPU compile options that send convolutions to XLA's own (Eigen) kernels instead of YNNPACK,
# keeping YNNPACK for dots and reductions (jax 0.10.2 enables these three library fusions by
# default). See `cpu_compiler_options`.
CPU_CONV_COMPILER_OPTIONS = {
    "xla_cpu_experimental_ynn_fusion_type": (
        "LIBRARY_FUSION_TYPE_INDIVIDUAL_DOT,LIBRARY_FUSION_TYPE_REDUCE"
    ),
}


@functools.cache
def cpu_compiler_options() -> dict[str, str] | None:
    """`compiler_options` for `jax.jit` of a convolutional training step on CPU, else None.

    XLA:CPU in jax 0.10.2 runs every convolution through YNNPACK; on the 2-core AMD EPYC box of
    issue 5 its forward, input-gradient and weight-gradient convolutions were 1.2-2.9x slower
    than XLA's Eigen convolutions, and a WRN-16-4 training step 1.5x slower (benchmarks/
    RESULTS.md, "Training step vs PyTorch"). Dots and reductions stay on YNNPACK. A per-jit
    option cannot be set from inside a module, so the caller passes it:
    `jax.jit(train_step, compiler_options=cpu_compiler_options())`. Returns None when the default
    backend is not CPU or when this XLA does not know the option (checked once by compiling a
    tiny function), so it is always safe to pass.
    """
    if jax.default_backend() != "cpu":
        return None
    try:
        jax.jit(lambda a: a + 1).lower(jnp.zeros(())).compile(
            compiler_options=CPU_CONV_COMPILER_OPTIONS
        )
    except Exception:  # an unknown option or enum value in another jax: just don't use it
        return None
    return dict(CPU_CONV_COMPILER_OPTIONS)


def _channels_last(ndim: int) -> lax.ConvDimensionNumbers:
    """Dimension numbers of NH..WC inputs, H..WIO kernels (what flax.linen.Conv uses)."""
    spatial = tuple(range(1, ndim - 1))
    lhs = (0, ndim - 1) + spatial
    rhs = (ndim - 1, ndim - 2) + tuple(range(ndim - 2))
    return lax.ConvDimensionNumbers(lhs, rhs, lhs)


def _conv(
    x: jax.Array,
    kernel: jax.Array,
    strides: tuple[int, ...],
    pads: Pads,
    dilation: tuple[int, ...],
    precision: Any,
) -> jax.Array:
    """The plain XLA convolution, channels last, explicit padding."""
    return lax.conv_general_dilated(
        x,
        kernel,
        strides,
        pads,
        rhs_dilation=dilation,
        dimension_numbers=_channels_last(x.ndim),
        precision=precision,
    )


def weight_grad_taps(
    x: jax.Array,
    dy: jax.Array,
    kernel_shape: Sequence[int],
    strides: Sequence[int],
    pads: Pads,
    dilation: Sequence[int],
    precision: Any = None,
) -> jax.Array:
    """dL/dkernel of `_conv` as one GEMM per kernel tap (see the module docstring).

    x: (N, *spatial_in, C_in); dy: (N, *spatial_out, C_out); returns (*kernel_spatial, C_in,
    C_out) in x's dtype, accumulated in float32 (at least).
    """
    n_sp = x.ndim - 2
    ksp = tuple(kernel_shape[:n_sp])
    out_sp = dy.shape[1:-1]
    zero = jnp.zeros((), x.dtype)
    xp = lax.pad(x, zero, [(0, 0, 0), *((lo, hi, 0) for lo, hi in pads), (0, 0, 0)])
    contract = tuple(range(n_sp + 1))  # batch and spatial dims of both operands
    acc = jnp.promote_types(x.dtype, jnp.float32)
    taps = []
    for tap in itertools.product(*(range(k) for k in ksp)):
        start = (0, *(t * d for t, d in zip(tap, dilation, strict=True)), 0)
        limit = (
            xp.shape[0],
            *(s + (o - 1) * st + 1 for s, o, st in zip(start[1:-1], out_sp, strides, strict=True)),
            xp.shape[-1],
        )
        xs = lax.slice(xp, start, limit, (1, *strides, 1))
        g = lax.dot_general(
            xs,
            dy,
            ((contract, contract), ((), ())),
            precision=precision,
            preferred_element_type=acc,
        )
        taps.append(g)
    return jnp.stack(taps).reshape(kernel_shape).astype(x.dtype)


def weight_grad_xla(
    x: jax.Array,
    dy: jax.Array,
    kernel_shape: Sequence[int],
    strides: Sequence[int],
    pads: Pads,
    dilation: Sequence[int],
    precision: Any = None,
) -> jax.Array:
    """dL/dkernel of `_conv` as XLA computes it (the transpose of the conv in the kernel)."""
    kernel = jax.ShapeDtypeStruct(tuple(kernel_shape), x.dtype)
    conv_k = lambda k: _conv(x, k, tuple(strides), pads, tuple(dilation), precision)
    (dk,) = jax.linear_transpose(conv_k, kernel)(dy)
    return dk


@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3, 4, 5))
def conv_fast_wgrad(
    x: jax.Array,
    kernel: jax.Array,
    strides: tuple[int, ...],
    pads: Pads,
    dilation: tuple[int, ...],
    precision: Any = None,
) -> jax.Array:
    """Channels-last convolution (N, *spatial, C_in) * (*k, C_in, C_out) with a fast CPU dW.

    Same value as `lax.conv_general_dilated` with explicit `pads`; only the backward pass
    differs (see the module docstring).
    """
    return _conv(x, kernel, strides, pads, dilation, precision)


def _fwd(
    x: jax.Array,
    kernel: jax.Array,
    strides: tuple[int, ...],
    pads: Pads,
    dilation: tuple[int, ...],
    precision: Any,
) -> tuple[jax.Array, tuple[jax.Array, jax.Array]]:
    return _conv(x, kernel, strides, pads, dilation, precision), (x, kernel)


def _bwd(
    strides: tuple[int, ...],
    pads: Pads,
    dilation: tuple[int, ...],
    precision: Any,
    res: tuple[jax.Array, jax.Array],
    dy: jax.Array,
) -> tuple[jax.Array, jax.Array]:
    """dx: XLA's transposed convolution; dW: `_cpu_weight_grad` on CPU, XLA's elsewhere."""
    x, kernel = res
    conv_x = lambda x_: _conv(x_, kernel, strides, pads, dilation, precision)
    (dx,) = jax.linear_transpose(conv_x, jax.ShapeDtypeStruct(x.shape, x.dtype))(dy)
    kw = dict(
        kernel_shape=kernel.shape,
        strides=strides,
        pads=pads,
        dilation=dilation,
        precision=precision,
    )
    xla = functools.partial(weight_grad_xla, **kw)
    cpu = _cpu_weight_grad(kernel.shape)
    if cpu is weight_grad_xla:
        dk = xla(x, dy)
    else:
        dk = lax.platform_dependent(x, dy, cpu=functools.partial(cpu, **kw), default=xla)
    return dx, dk.astype(kernel.dtype)


conv_fast_wgrad.defvjp(_fwd, _bwd)


def _as_tuple(v: int | Sequence[int] | None, n: int) -> tuple[int, ...]:
    if v is None:
        return (1,) * n
    if isinstance(v, int):
        return (v,) * n
    return tuple(int(a) for a in v)


def conv_general_dilated(
    lhs: jax.Array,
    rhs: jax.Array,
    window_strides: Sequence[int],
    padding: str | Sequence[tuple[int, int]],
    lhs_dilation: Sequence[int] | None = None,
    rhs_dilation: Sequence[int] | None = None,
    dimension_numbers: Any = None,
    feature_group_count: int = 1,
    batch_group_count: int = 1,
    precision: Any = None,
    preferred_element_type: Any = None,
) -> jax.Array:
    """`lax.conv_general_dilated` (same signature) routed through `conv_fast_wgrad`.

    Channels-last convolutions without input dilation, groups or a preferred output type take the
    fast-gradient path; anything else goes to `lax.conv_general_dilated` unchanged.
    """
    n_sp = lhs.ndim - 2
    lhs_dil = _as_tuple(lhs_dilation, n_sp)
    rhs_dil = _as_tuple(rhs_dilation, n_sp)
    dn = lax.conv_dimension_numbers(lhs.shape, rhs.shape, dimension_numbers)
    plain = (
        dn == _channels_last(lhs.ndim)
        and all(d == 1 for d in lhs_dil)
        and feature_group_count == 1
        and batch_group_count == 1
        and preferred_element_type is None
        and lhs.dtype == rhs.dtype
    )
    if not plain:
        return lax.conv_general_dilated(
            lhs,
            rhs,
            window_strides,
            padding,
            lhs_dilation,
            rhs_dilation,
            dimension_numbers,
            feature_group_count,
            batch_group_count,
            precision,
            preferred_element_type,
        )
    strides = _as_tuple(window_strides, n_sp)
    if isinstance(padding, str):
        ksp = rhs.shape[:n_sp]
        eff = tuple((k - 1) * d + 1 for k, d in zip(ksp, rhs_dil, strict=True))
        pads = lax.padtype_to_pads(lhs.shape[1:-1], eff, strides, padding)
    else:
        pads = padding
    pads = tuple((int(lo), int(hi)) for lo, hi in pads)
    return conv_fast_wgrad(lhs, rhs, strides, pads, rhs_dil, precision)


class Conv(nn.Conv):
    """Drop-in for `flax.linen.Conv` (same arguments, same 'kernel'/'bias' parameters).

    Only the convolution primitive differs: `conv_general_dilated` above (the custom VJP of
    `conv_fast_wgrad`). Forward values are those of `nn.Conv`.
    """

    conv_general_dilated: Any = conv_general_dilated


__all__ = [
    "CPU_CONV_COMPILER_OPTIONS",
    "CPU_WEIGHT_GRAD",
    "Conv",
    "conv_fast_wgrad",
    "conv_general_dilated",
    "cpu_compiler_options",
    "weight_grad_taps",
    "weight_grad_xla",
]
