"""nc_mixup.models.conv: the custom-VJP convolution equals XLA's, value and gradients."""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax
from jax.test_util import check_grads

from nc_mixup.models import conv as conv_lib
from nc_mixup.models.conv import Conv, conv_fast_wgrad, weight_grad_taps

DN = ("NHWC", "HWIO", "NHWC")

# (batch, kernel, strides, padding, dilation)
CASES = [
    (1, 3, 1, "SAME", 1),
    (4, 3, 1, "SAME", 1),
    (4, 3, 2, "SAME", 1),
    (1, 3, 2, "SAME", 1),
    (4, 1, 1, "SAME", 1),
    (4, 1, 2, "SAME", 1),
    (4, 3, 1, "VALID", 1),
    (4, 3, 2, ((1, 1), (1, 1)), 1),
    (4, 3, 1, ((2, 0), (0, 1)), 1),
    (4, 3, 2, ((0, 1), (1, 0)), 1),
    (4, 3, 1, "SAME", 2),
    (1, 5, 3, "SAME", 1),
]


def _pads(x_shape, k, s, padding, d):
    if isinstance(padding, str):
        eff = ((k - 1) * d + 1,) * 2
        return tuple(lax.padtype_to_pads(x_shape[1:3], eff, (s, s), padding))
    return padding


def _inputs(batch: int, k: int, c_in: int = 5, c_out: int = 6, size: int = 9, seed: int = 0):
    kx, kw, kt = jax.random.split(jax.random.key(seed), 3)
    x = jax.random.normal(kx, (batch, size, size + 1, c_in), jnp.float32)
    w = jax.random.normal(kw, (k, k, c_in, c_out), jnp.float32) / np.sqrt(k * k * c_in)
    return x, w, kt


@pytest.mark.parametrize("mode", ["auto", "taps", "xla"])
@pytest.mark.parametrize("batch,k,s,padding,d", CASES)
def test_value_and_grads_match_xla(batch, k, s, padding, d, mode, monkeypatch):
    """Under jit: forward, dx and dW equal jax.grad of lax.conv_general_dilated (every mode)."""
    monkeypatch.setattr(conv_lib, "CPU_WEIGHT_GRAD", mode)
    x, w, kt = _inputs(batch, k)
    pads = _pads(x.shape, k, s, padding, d)

    def ref(x, w):
        return lax.conv_general_dilated(
            x, w, (s, s), padding, rhs_dilation=(d, d), dimension_numbers=DN
        )

    def ours(x, w):
        return conv_fast_wgrad(x, w, (s, s), pads, (d, d))

    y_ref = ref(x, w)
    t = jax.random.normal(kt, y_ref.shape)
    loss = lambda f: lambda x, w: jnp.sum(jnp.tanh(f(x, w)) * t)
    g_ref = jax.jit(jax.grad(loss(ref), argnums=(0, 1)))(x, w)
    g_ours = jax.jit(jax.grad(loss(ours), argnums=(0, 1)))(x, w)
    np.testing.assert_allclose(jax.jit(ours)(x, w), y_ref, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(g_ours[0], g_ref[0], rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(g_ours[1], g_ref[1], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("k,s", [(3, 1), (3, 2), (1, 2)])
def test_weight_grad_taps_against_float64_numpy(k, s):
    """The tap formulation itself, outside custom_vjp and platform dispatch, vs a numpy sum."""
    x, w, kt = _inputs(2, k, c_in=3, c_out=4, size=7)
    pads = _pads(x.shape, k, s, "SAME", 1)
    y = lax.conv_general_dilated(x, w, (s, s), pads, dimension_numbers=DN)
    dy = jax.random.normal(kt, y.shape)
    got = weight_grad_taps(x, dy, w.shape, (s, s), pads, (1, 1))
    xp = np.pad(np.asarray(x, np.float64), ((0, 0), *pads, (0, 0)))
    d = np.asarray(dy, np.float64)
    ho, wo = d.shape[1:3]
    want = np.zeros(w.shape)
    for i in range(k):
        for j in range(k):
            xs = xp[:, i : i + (ho - 1) * s + 1 : s, j : j + (wo - 1) * s + 1 : s]
            want[i, j] = np.einsum("nhwc,nhwo->co", xs, d)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("k,s", [(3, 1), (3, 2), (1, 1)])
def test_check_grads(k, s):
    """Reverse-mode gradients against finite differences (jax.test_util.check_grads)."""
    x, w, _ = _inputs(2, k, c_in=2, c_out=3, size=5)
    pads = _pads(x.shape, k, s, "SAME", 1)
    f = lambda x, w: jnp.sin(conv_fast_wgrad(x, w, (s, s), pads, (1, 1)))
    check_grads(f, (x, w), order=1, modes=["rev"], atol=2e-2, rtol=2e-2, eps=1e-2)


def _sin_grads(module: nn.Module, v, x):
    """Gradients of sum(sin(module(x))) in the variables and the input, jitted."""
    f = lambda v, x: jnp.sum(jnp.sin(module.apply(v, x)))
    return jax.jit(jax.grad(f, (0, 1)))(v, x)


def test_module_is_drop_in_for_nn_conv():
    """Same parameter tree and initial values as nn.Conv; same outputs and gradients."""
    x, _, _ = _inputs(3, 3, c_in=4, size=8)
    for kwargs in (
        dict(features=8, kernel_size=(3, 3)),
        dict(features=8, kernel_size=(3, 3), strides=2, use_bias=False),
        dict(features=8, kernel_size=(1, 1), strides=(2, 2), use_bias=False),
        dict(features=8, kernel_size=(3, 3), padding=1),
        dict(features=8, kernel_size=(3, 3), padding=((1, 0), (2, 1))),
        dict(features=8, kernel_size=(3, 3), padding="VALID", kernel_dilation=2),
    ):
        ours, ref = Conv(**kwargs), nn.Conv(**kwargs)
        v = ours.init(jax.random.key(1), x)
        v_ref = ref.init(jax.random.key(1), x)
        jax.tree.map(np.testing.assert_array_equal, v, v_ref)

        np.testing.assert_allclose(ours.apply(v, x), ref.apply(v, x), rtol=1e-5, atol=1e-5)
        jax.tree.map(
            lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5),
            _sin_grads(ours, v, x),
            _sin_grads(ref, v, x),
        )


def test_auto_name_matches_nn_conv():
    """A model written with nn.Conv and one with Conv have the same parameter paths."""

    class Net(nn.Module):
        conv: type

        @nn.compact
        def __call__(self, x):
            return self.conv(4, (3, 3))(self.conv(4, (3, 3))(x))

    x = jnp.ones((1, 6, 6, 2))
    a = Net(Conv).init(jax.random.key(0), x)
    b = Net(nn.Conv).init(jax.random.key(0), x)
    assert jax.tree_util.tree_structure(a) == jax.tree_util.tree_structure(b)


def test_bfloat16():
    """bf16 compute (dtype=bfloat16, float32 params): gradients close to the nn.Conv ones."""
    x, _, _ = _inputs(4, 3, c_in=8, size=8)
    for kwargs in (dict(strides=1), dict(strides=2)):
        ours = Conv(16, (3, 3), dtype=jnp.bfloat16, **kwargs)
        ref = nn.Conv(16, (3, 3), dtype=jnp.bfloat16, **kwargs)
        v = ours.init(jax.random.key(0), x)

        def grads(m, v=v):
            f = lambda v: jnp.sum(m.apply(v, x).astype(jnp.float32) ** 2)
            return jax.jit(jax.grad(f))(v)

        g, g_ref = grads(ours), grads(ref)
        assert ours.apply(v, x).dtype == jnp.bfloat16
        assert g["params"]["kernel"].dtype == jnp.float32
        for a, b in zip(jax.tree.leaves(g), jax.tree.leaves(g_ref), strict=True):
            scale = float(jnp.max(jnp.abs(b)))
            np.testing.assert_allclose(a, b, atol=2e-2 * scale, rtol=0)


def test_batch_dims_and_fallbacks():
    """Unbatched / multi-batch inputs (flattened by flax) and the plain-XLA fallbacks."""
    x, _, _ = _inputs(6, 3, c_in=4, size=6)
    for shape in ((6, 6, 7, 4), (2, 3, 6, 7, 4), (6, 7, 4)):
        xi = x.reshape(-1)[: int(np.prod(shape))].reshape(shape)
        fallbacks = (dict(feature_group_count=2), dict(input_dilation=2, padding=((1, 1), (1, 1))))
        for kwargs in (dict(), *fallbacks):
            ours, ref = Conv(4, (3, 3), **kwargs), nn.Conv(4, (3, 3), **kwargs)
            v = ref.init(jax.random.key(0), xi)
            f = lambda m, v=v, xi=xi: jax.grad(lambda v: jnp.sum(m.apply(v, xi) ** 2))(v)
            np.testing.assert_allclose(ours.apply(v, xi), ref.apply(v, xi), rtol=1e-5, atol=1e-5)
            jax.tree.map(
                lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4), f(ours), f(ref)
            )


@pytest.mark.parametrize(
    "k,mode,convs,min_dots", [(1, "auto", 2, 1), (3, "auto", 3, 0), (3, "taps", 2, 9)]
)
def test_cpu_lowering(k, mode, convs, min_dots, monkeypatch):
    """On CPU dW is GEMMs where chosen (no third convolution), XLA's convolution otherwise."""
    if jax.default_backend() != "cpu":
        pytest.skip("the GEMM weight gradient is CPU-only")
    monkeypatch.setattr(conv_lib, "CPU_WEIGHT_GRAD", mode)
    x, w, _ = _inputs(2, k, size=8)
    pads = _pads(x.shape, k, 1, "SAME", 1)
    f = lambda x, w: jnp.sum(conv_fast_wgrad(x, w, (1, 1), pads, (1, 1)) ** 2)
    hlo = jax.jit(jax.grad(f, (0, 1))).lower(x, w).as_text(dialect="hlo")
    assert hlo.count(" convolution(") == convs, hlo
    assert hlo.count(" dot(") >= min_dots, hlo


def test_cpu_compiler_options():
    """Accepted by this XLA on CPU (None elsewhere), and they change nothing numerically."""
    opts = conv_lib.cpu_compiler_options()
    if jax.default_backend() != "cpu":
        assert opts is None
        return
    assert opts == conv_lib.CPU_CONV_COMPILER_OPTIONS
    x, w, kt = _inputs(4, 3, c_in=24, c_out=32, size=8)
    f = lambda x, w: jax.grad(
        lambda x, w: jnp.sum(jnp.sin(conv_fast_wgrad(x, w, (1, 1), ((1, 1), (1, 1)), (1, 1)))),
        (0, 1),
    )(x, w)
    default = jax.jit(f).lower(x, w).compile()(x, w)
    eigen = jax.jit(f).lower(x, w).compile(compiler_options=opts)(x, w)
    for a, b in zip(default, eigen, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
