"""`Conv`: `flax.linen.Conv` with a convolution whose gradient we compute ourselves on CPU.

Why this exists. A WRN training step on XLA:CPU (jax 0.10.2) spends most of its time in the
convolution *weight* gradient. XLA writes dW as one more convolution in which the batch is the
contracted "feature" dimension and the output-gradient image is the "kernel" (a 32x32 window for a
32x32 layer): it first transposes x to (C, H, W, N) and dy to (H, W, N, O) (two full copies of
each activation, slow strided copies) and then runs a convolution with a tiny 3x3 output that
parallelises badly over the thread pool. On the 2-core box of issue 5 that made a Flax WRN-16-4
step several times slower than PyTorch, although its forward pass ran at PyTorch speed.

What it does instead. dW is a sum of plain matrix products, one per kernel tap: for tap
(i, j), dW[i, j] = X_ij^T dY, where X_ij is the zero-padded input shifted by (i, j) (and
subsampled by the stride), flattened to (N*H_out*W_out, C_in), and dY is the output gradient
flattened to (N*H_out*W_out, C_out). Each is one GEMM with a large contraction dimension, which
XLA:CPU's dot runs near peak with good threading, and the shifted slices are read in their
natural NHWC layout (no transposes). Unlike an im2col matrix (all taps concatenated, 9x the
input), only one tap's slice is live at a time. The forward pass and the input gradient are
left to XLA's own convolution (`lax.conv_general_dilated` and its transpose), which are fast.

On GPU/TPU XLA's native weight gradient is fast, so `lax.platform_dependent` keeps it there: the
tap formulation is used only when the computation is lowered for CPU.

The result is verified against `jax.grad` of `lax.conv_general_dilated` in tests/test_conv.py.
Limits: only reverse-mode differentiation (it is a `jax.custom_vjp`; forward-mode `jax.jvp`
through it raises); convolutions with input dilation or feature groups fall back to
`lax.conv_general_dilated` (XLA's own gradient).
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Sequence
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
from jax import lax

Pads = tuple[tuple[int, int], ...]

# Weight-gradient implementation used when lowering for CPU: "taps" (one GEMM per kernel tap) or
# "xla" (XLA's own convolution gradient). Benchmarks flip it; models should leave it alone.
CPU_WEIGHT_GRAD = "taps"


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
            xs, dy, ((contract, contract), ((), ())), precision=precision,
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


def _fwd(x, kernel, strides, pads, dilation, precision):
    return _conv(x, kernel, strides, pads, dilation, precision), (x, kernel)


def _bwd(strides, pads, dilation, precision, res, dy):
    x, kernel = res
    conv_x = lambda x_: _conv(x_, kernel, strides, pads, dilation, precision)
    (dx,) = jax.linear_transpose(conv_x, jax.ShapeDtypeStruct(x.shape, x.dtype))(dy)
    args = (kernel.shape, strides, pads, dilation, precision)
    xla = functools.partial(weight_grad_xla, kernel_shape=args[0], strides=strides, pads=pads,
                            dilation=dilation, precision=precision)
    if CPU_WEIGHT_GRAD == "taps":
        taps = functools.partial(weight_grad_taps, kernel_shape=args[0], strides=strides,
                                 pads=pads, dilation=dilation, precision=precision)
        dk = lax.platform_dependent(x, dy, cpu=taps, default=xla)
    else:
        dk = xla(x, dy)
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
            lhs, rhs, window_strides, padding, lhs_dilation, rhs_dilation, dimension_numbers,
            feature_group_count, batch_group_count, precision, preferred_element_type,
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

    Only the convolution primitive differs: `conv_general_dilated` above, whose weight gradient
    is computed as per-tap GEMMs on CPU. Forward values are identical to `nn.Conv`.
    """

    conv_general_dilated: Any = conv_general_dilated


__all__ = [
    "CPU_WEIGHT_GRAD",
    "Conv",
    "conv_fast_wgrad",
    "conv_general_dilated",
    "weight_grad_taps",
    "weight_grad_xla",
]
