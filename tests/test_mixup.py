"""Mixup sampling and mixing (nc_mixup.mixup)."""

import jax
import numpy as np
import pytest
import scipy.stats

from nc_mixup import mixup


@pytest.mark.parametrize("alpha", [0.4, 1.0, 2.0])
def test_lambda_is_beta_alpha_alpha(alpha):
    lam = np.asarray(mixup.sample_lambda(jax.random.key(0), alpha, 20000, per_example=True))
    assert lam.shape == (20000,) and lam.dtype == np.float32
    assert lam.min() >= 0 and lam.max() <= 1
    assert scipy.stats.kstest(lam, scipy.stats.beta(alpha, alpha).cdf).pvalue > 1e-3


def test_one_lambda_per_batch_by_default():
    lam = mixup.sample_lambda(jax.random.key(1), 1.0, 8)
    assert lam.shape == ()
    with pytest.raises(ValueError, match="alpha"):
        mixup.sample_lambda(jax.random.key(1), 0.0, 8)


def test_sample_mix_partner_is_a_permutation():
    spec = mixup.sample_mix(jax.random.key(2), 1.0, 64, per_example=True, layer="block1")
    assert sorted(np.asarray(spec.perm).tolist()) == list(range(64))
    assert spec.lam.shape == (64,) and spec.layer_name == "block1"
    assert mixup.sample_mix(jax.random.key(2), 1.0, 64).layer_name == "input"


def test_mix_scalar_and_per_example_lambda():
    rng = np.random.default_rng(0)
    h = rng.normal(size=(5, 3, 2)).astype(np.float32)
    perm = np.array([4, 2, 0, 1, 3])
    np.testing.assert_allclose(
        mixup.mix(h, np.float32(0.3), perm), 0.3 * h + 0.7 * h[perm], rtol=1e-6
    )
    lam = rng.uniform(size=5).astype(np.float32)
    expected = lam[:, None, None] * h + (1 - lam[:, None, None]) * h[perm]
    np.testing.assert_allclose(mixup.mix(h, lam, perm), expected, rtol=1e-6)


def test_maybe_mix_only_at_the_named_layer():
    h = np.arange(6, dtype=np.float32).reshape(3, 2)
    spec = mixup.MixSpec(layer="block2", lam=np.float32(0.5), perm=np.array([1, 2, 0]))
    assert mixup.maybe_mix(h, "block1", spec) is h
    assert mixup.maybe_mix(h, "block1", None) is h
    np.testing.assert_allclose(mixup.maybe_mix(h, "block2", spec), 0.5 * h + 0.5 * h[[1, 2, 0]])


def test_resolve_layer():
    names = ("block1", "block2")
    assert mixup.resolve_layer(0, names) == "input"
    assert mixup.resolve_layer(2, names) == "block2"
    assert mixup.resolve_layer(3, names) == "penultimate"
    assert mixup.resolve_layer("block1", names) == "block1"
    for bad in (4, -1, "block9", True):
        with pytest.raises(ValueError):
            mixup.resolve_layer(bad, names)
