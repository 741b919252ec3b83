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


@pytest.mark.parametrize("batch,k,s,padding,d", CASES)
def test_value_and_grads_match_xla(batch, k, s, padding, d):
    """Under jit: forward, dx and dW equal jax.grad of lax.conv_general_dilated."""
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

        def loss(m):
            return jax.jit(jax.grad(lambda v, x: jnp.sum(jnp.sin(m.apply(v, x))), (0, 1)))

        np.testing.assert_allclose(ours.apply(v, x), ref.apply(v, x), rtol=1e-5, atol=1e-5)
        jax.tree.map(
            lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5),
            loss(ours)(v, x),
            loss(ref)(v, x),
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

        def grads(m):
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
            f = lambda m: jax.grad(lambda v: jnp.sum(m.apply(v, xi) ** 2))(v)
            np.testing.assert_allclose(ours.apply(v, xi), ref.apply(v, xi), rtol=1e-5, atol=1e-5)
            jax.tree.map(
                lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4), f(ours), f(ref)
            )


def test_cpu_lowering_uses_dots_not_a_weight_gradient_convolution():
    """On CPU the compiled backward pass has exactly two convolutions (forward, dx) per layer."""
    x, w, _ = _inputs(2, 3, size=8)
    pads = ((1, 1), (1, 1))
    f = jax.jit(jax.grad(lambda x, w: jnp.sum(conv_fast_wgrad(x, w, (1, 1), pads, (1, 1)) ** 2),
                         (0, 1)))
    hlo = f.lower(x, w).as_text(dialect="hlo")
    if jax.default_backend() == "cpu":
        assert conv_lib.CPU_WEIGHT_GRAD == "taps"
        assert hlo.count("convolution(") == 2, hlo
        assert hlo.count(" dot(") >= 9
