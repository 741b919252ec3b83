"""The mixed-label fit (claim C6 v2): KL to the mixed label, and pairs mixed at a hidden layer.

Expected values come from hand derivations and from the MLP's weights applied by hand (numpy),
not from the mixing code under test.
"""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from nc_mixup.analysis import calibration, extract, runner, triple_metrics
from nc_mixup.models import create_model


def test_mixed_label_kl_known_answers():
    K = 10
    y1, y2 = np.array([0, 0, 3, 4]), np.array([1, 1, 3, 2])
    lam = np.array([0.5, 0.25, 0.7, 1.0])
    uniform = np.zeros((4, K))
    kl = calibration.mixed_label_kl(uniform, y1, y2, lam)
    # KL(t || uniform) = log K - H(t)
    h = lambda p: -sum(q * math.log(q) for q in p if q > 0)  # noqa: E731
    want = [math.log(K) - h([0.5, 0.5]), math.log(K) - h([0.25, 0.75]), math.log(K), math.log(K)]
    np.testing.assert_allclose(kl, want, rtol=1e-12)
    # a prediction equal to the mixed label: KL 0 (logits = log t, the other classes ~ 0)
    t = np.full((1, K), 1e-30)
    t[0, 0], t[0, 1] = 0.25, 0.75
    assert abs(calibration.mixed_label_kl(np.log(t), [0], [1], [0.25])[0]) < 1e-12
    # the same prediction against the swapped label: 0.25 log(0.25/0.75) + 0.75 log(0.75/0.25)
    swapped = calibration.mixed_label_kl(np.log(t), [1], [0], [0.25])[0]
    assert swapped == pytest.approx(0.5 * math.log(3), rel=1e-12)
    assert np.all(
        calibration.mixed_label_kl(
            np.random.default_rng(0).normal(size=(50, K)),
            np.zeros(50, int),
            np.ones(50, int),
            np.linspace(0, 1, 50),
        )
        >= -1e-12
    )


def _mlp():
    model = create_model({"name": "mlp", "width": 16, "depth": 3}, 5)
    images = np.random.default_rng(0).normal(size=(30, 4, 4, 1)).astype(np.float32)
    variables = model.init(jax.random.PRNGKey(0), jnp.asarray(images[:2]))
    return model, variables, images


def _by_hand(params, x1, x2, lam, layer):
    """The MLP's logits with the pair mixed after hidden layer `layer` (1-based), in numpy."""
    relu = lambda z: np.maximum(z, 0.0)  # noqa: E731
    dense = lambda name, h: (
        h @ np.asarray(params[name]["kernel"])
        + np.asarray(  # noqa: E731
            params[name]["bias"]
        )
    )
    h1, h2 = x1.reshape(len(x1), -1), x2.reshape(len(x2), -1)
    for i in range(1, layer + 1):
        h1, h2 = relu(dense(f"dense{i}", h1)), relu(dense(f"dense{i}", h2))
    h = lam * h1 + (1 - lam) * h2
    for i in range(layer + 1, 4):
        h = relu(dense(f"dense{i}", h))
    return dense("classifier", h)


@pytest.mark.parametrize("layer", ["block1", "block2"])
def test_feature_mix_logits_are_the_pair_mixed_at_that_layer(layer):
    model, variables, images = _mlp()
    x1, x2 = images[:7], images[7:14]
    fwd = extract.make_forward(model, variables, train=True, feature_mix_layer=layer)
    plain = extract.make_forward(model, variables, train=True)
    for lam in (0.0, 0.3, 1.0):
        out = fwd(x1, x2, jnp.float32(lam), jax.random.PRNGKey(0))
        want = _by_hand(variables["params"], x1, x2, lam, int(layer[-1]))
        np.testing.assert_allclose(out["feature_mix_logits"], want, rtol=1e-4, atol=1e-4)
        # the input-mixed outputs are unchanged by asking for the feature mix
        ref = plain(x1, x2, jnp.float32(lam), jax.random.PRNGKey(0))
        np.testing.assert_allclose(out["logits"], ref["logits"], rtol=1e-6, atol=1e-6)
    # at 0 < lam < 1 mixing at a hidden layer differs from mixing the images (ReLU)
    mid = fwd(x1, x2, jnp.float32(0.5), jax.random.PRNGKey(0))
    assert np.abs(mid["feature_mix_logits"] - mid["logits"]).max() > 1e-3


def test_feature_mix_layer_is_checked():
    model, _, _ = _mlp()
    assert runner._check_mix_layer(model, None) is None
    assert runner._check_mix_layer(model, 2) == "block2"
    assert runner._check_mix_layer(model, "2") == "block2"
    assert runner._check_mix_layer(model, "penultimate") == "penultimate"
    for bad in (0, "input", "block7", 9):
        with pytest.raises(extract.AnalysisInputError, match="feature-mix layer"):
            runner._check_mix_layer(model, bad)


def test_mixed_label_fit_uses_interior_different_class_rows():
    rng = np.random.default_rng(1)
    n = 40
    y1 = np.array([0, 1, 2, 0] * 10)
    y2 = np.array([1, 1, 0, 2] * 10)
    lam = np.repeat(np.linspace(0, 1, 10), 4)
    logits = rng.normal(size=(n, 3))
    feat = rng.normal(size=(n, 3))
    x = triple_metrics.TripleArrays(
        H=rng.normal(size=(n, 4)), logits=logits, y1=y1, y2=y2, lam=lam,
        pair=np.arange(n), layers={}, W=np.eye(3, 4), b=np.zeros(3), mu_g=np.zeros(4),
        classes=(0, 1, 2), feature_mix_logits=feat,
    )  # fmt: skip
    got = triple_metrics.mixed_label_fit(x)
    rows = (y1 != y2) & (lam > 0) & (lam < 1)
    for key, z in (("input_mixup_kl", logits), ("feature_mixup_kl", feat)):
        p = np.exp(z) / np.exp(z).sum(1, keepdims=True)
        r = np.flatnonzero(rows)
        t = np.zeros((len(r), 3))
        t[np.arange(len(r)), y1[r]] += lam[r]
        t[np.arange(len(r)), y2[r]] += 1 - lam[r]
        want = np.mean(np.sum(t * np.log(t / p[r], where=t > 0, out=np.zeros_like(t)), axis=1))
        assert got[key] == pytest.approx(want, rel=1e-10)
    absent = triple_metrics.mixed_label_fit(
        triple_metrics.TripleArrays(**{**x.__dict__, "feature_mix_logits": None})
    )
    assert (
        math.isnan(absent["feature_mixup_kl"]) and absent["input_mixup_kl"] == got["input_mixup_kl"]
    )


def test_mixed_label_kl_in_float64_whatever_the_input_dtype():
    rng = np.random.default_rng(3)
    logits = rng.normal(size=(20, 5)).astype(np.float32)
    lam = rng.uniform(size=20).astype(np.float32)
    y1, y2 = rng.integers(0, 5, 20), rng.integers(0, 5, 20)
    got = calibration.mixed_label_kl(logits, y1, y2, lam)
    want = calibration.mixed_label_kl(logits.astype(np.float64), y1, y2, lam.astype(np.float64))
    assert got.dtype == np.float64
    np.testing.assert_allclose(got, want, rtol=1e-14, atol=1e-15)
