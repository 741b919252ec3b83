"""Kill mutmut's survivors in nc_mixup/mixup.py (issue 16; see docs/mutation.md)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from nc_mixup import mixup


def test_lambda_is_float32_even_with_x64_enabled():
    # The docstring promises float32; with 64-bit types on, only an explicit dtype keeps it.
    with jax.enable_x64(True):
        lam = mixup.sample_lambda(jax.random.key(0), 0.4, 4, per_example=True)
    assert lam.dtype == jnp.float32


def test_sample_mix_draws_one_lambda_per_batch_by_default():
    spec = mixup.sample_mix(jax.random.key(3), 1.0, 16)
    assert spec.lam.shape == ()


def test_mix_keeps_the_activation_dtype():
    # bfloat16 activations with a float32 lambda: the mixture is bfloat16 (lam cast to h's dtype);
    # 0.25 and 0.75 are exact in bfloat16, so the values are exact too.
    h = jnp.asarray([[1.0, 2.0], [3.0, 4.0]], dtype=jnp.bfloat16)
    out = mixup.mix(h, np.float32(0.25), np.array([1, 0]))
    assert out.dtype == jnp.bfloat16
    np.testing.assert_array_equal(np.asarray(out, np.float32), [[2.5, 3.5], [1.5, 2.5]])
    out = mixup.mix(h, np.array([0.25, 0.75], np.float32), np.array([1, 0]))
    assert out.dtype == jnp.bfloat16


def test_resolve_layer_messages():
    names = ("block1", "block2")
    with pytest.raises(
        ValueError,
        match=r"mixup layer 4 out of range: 0\.\.3 for layers "
        r"\['input', 'block1', 'block2', 'penultimate'\]",
    ):
        mixup.resolve_layer(4, names)
    with pytest.raises(ValueError, match="mixup layer must be an int or a name, got True"):
        mixup.resolve_layer(True, names)


def test_resolve_layer_unknown_name_message():
    with pytest.raises(
        ValueError,
        match=r"^unknown mixup layer 'block9': expected an int or one "
        r"of \['input', 'block1', 'penultimate'\]$",
    ):
        mixup.resolve_layer("block9", ("block1",))
