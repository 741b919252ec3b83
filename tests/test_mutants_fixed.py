"""Kill mutmut's survivors in theory/fixed_classifier.py (issue 16; see docs/mutation.md).

Expected values are worked by hand, and the optimum is checked against the stationarity of the
objective written out here (softmax(W h + b) - t) W + mu h = 0 (CE), 2 (W h + b - t) W + mu h = 0
(MSE), not against the solver's own formulas.
"""

import math

import numpy as np
import pytest

from theory import fixed_classifier as fc

W2 = np.eye(2)
B2 = np.array([0.5, 0.0])


def test_point_loss_and_kkt_residual_by_hand():
    # h = (1, 2): z = (1.5, 2), t = (0.25, 0.75), mu/2 ||h||^2 = 2.5
    h = np.array([[1.0, 2.0]])
    ce = math.log(math.exp(1.5) + math.exp(2.0)) - (0.25 * 1.5 + 0.75 * 2.0) + 2.5
    args = (W2, B2, 1.0, 0, 1, 0.25, h)
    assert fc.point_loss(*args)[0] == pytest.approx(ce, rel=1e-14)
    assert fc.point_loss(*args, loss="mse")[0] == pytest.approx(1.25**2 * 2 + 2.5, rel=1e-14)
    p1 = math.exp(1.5) / (math.exp(1.5) + math.exp(2.0))
    g = np.array([p1 - 0.25 + 1.0, (1 - p1) - 0.75 + 2.0])
    assert fc.kkt_residual(*args)[0] == pytest.approx(np.linalg.norm(g), rel=1e-14)
    g = np.array([2 * 1.25 + 1.0, 2 * 1.25 + 2.0])
    assert fc.kkt_residual(*args, loss="mse")[0] == pytest.approx(np.linalg.norm(g), rel=1e-14)


def _softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _gradient(W, b, mu, t, h, loss):
    z = h @ W.T + b
    return ((_softmax(z) - t) if loss == "ce" else 2 * (z - t)) @ W + mu * h


@pytest.mark.parametrize("loss", ["ce", "mse"])
@pytest.mark.parametrize("shape", [(3, 5), (5, 3), (4, 4)])
@pytest.mark.parametrize("mu", [1e-3, 0.5, 30.0])
def test_optimum_is_stationary(loss, shape, mu):
    rng = np.random.default_rng(7)
    K, d = shape
    W = rng.normal(size=shape)
    b = rng.normal(size=K)
    c, c2 = np.array([0, 1, 2, 0]), np.array([1, 1, 0, 2])
    lam = np.array([0.3, 0.8, 0.0, 1.0])
    t = np.zeros((4, K))
    for i in range(4):
        t[i, c[i]] += lam[i]
        t[i, c2[i]] += 1 - lam[i]
    h = fc.fixed_classifier_optimum(W, b, mu, c, c2, lam, loss=loss)
    assert h.shape == (4, d)
    g = _gradient(W, b, mu, t, h, loss)
    assert np.abs(g).max() < 1e-9
    # warm start from a nearby point reaches the same optimum
    h2 = fc.fixed_classifier_optimum(W, b, mu, c, c2, lam, loss=loss, h0=h + 0.1)
    np.testing.assert_allclose(h2, h, atol=1e-8)


def test_zero_classifier_gives_zero_features_and_rank_deficient_w_stays_in_its_row_space():
    assert not fc.fixed_classifier_optimum(np.zeros((3, 4)), None, 1.0, 0, 1, 0.5).any()
    # rank 1: rows multiples of v = (1, 2, 2)/3; the optimum is a multiple of v
    v = np.array([1.0, 2.0, 2.0]) / 3
    W = np.outer([1.0, -2.0, 0.5], v)
    h = fc.fixed_classifier_optimum(W, None, 0.1, 0, 1, 0.3)
    np.testing.assert_allclose(np.cross(h[0], v), 0.0, atol=1e-12)
    t = np.array([[0.3, 0.7, 0.0]])
    assert np.abs(_gradient(W, np.zeros(3), 0.1, t, h, "ce")).max() < 1e-9


def test_softmax_and_logsumexp_by_hand():
    z = np.array([[1000.0, 1000.0 + math.log(3.0)], [-1000.0, -1000.0]])
    np.testing.assert_allclose(fc.softmax(z, axis=1), [[0.25, 0.75], [0.5, 0.5]], rtol=1e-12)
    np.testing.assert_allclose(
        fc.logsumexp(z, axis=1), [1000.0 + math.log(4.0), -1000.0 + math.log(2.0)], rtol=1e-12
    )
    np.testing.assert_allclose(fc.softmax(z.T, axis=0), [[0.25, 0.5], [0.75, 0.5]], rtol=1e-12)
    np.testing.assert_allclose(
        fc.logsumexp(z.T, axis=0), [1000.0 + math.log(4.0), -1000.0 + math.log(2.0)], rtol=1e-12
    )
    np.testing.assert_allclose(
        fc.soft_targets(3, np.array([0, 2]), np.array([2, 2]), np.array([0.25, 0.5])),
        [[0.25, 0, 0.75], [0, 0, 1.0]],
    )


def test_messages_name_the_bad_value():
    with pytest.raises(ValueError, match=r"W must be a \(K, d\) array with K >= 2, got shape"):
        fc.point_loss(np.ones((1, 3)), None, 1.0, 0, 0, 0.5, np.zeros(3))
    with pytest.raises(ValueError, match=r"b must have shape \(2,\), got \(3,\)"):
        fc.point_loss(W2, np.zeros(3), 1.0, 0, 1, 0.5, np.zeros(2))
    with pytest.raises(ValueError, match="c must hold integer class indices, got dtype float"):
        fc.point_loss(W2, None, 1.0, 0.0, 1, 0.5, np.zeros(2))
    with pytest.raises(ValueError, match=r"c2 must hold class indices in \[0, 1\]"):
        fc.point_loss(W2, None, 1.0, 0, 2, 0.5, np.zeros(2))
    with pytest.raises(ValueError, match=r"lam must lie in \[0, 1\]"):
        fc.point_loss(W2, None, 1.0, 0, 1, 1.5, np.zeros(2))
    with pytest.raises(ValueError, match="unknown loss 'hinge'"):
        fc.fixed_classifier_optimum(W2, None, 1.0, 0, 1, 0.5, loss="hinge")
    with pytest.raises(ValueError, match="weight_decay must be a finite number > 0, got 0.0"):
        fc.fixed_classifier_optimum(W2, None, 0.0, 0, 1, 0.5)
    with pytest.raises(ValueError, match="weight_decay must be a finite number > 0, got -1.0"):
        fc.kkt_residual(W2, None, -1.0, 0, 1, 0.5, np.zeros(2))
    with pytest.raises(ValueError, match="unknown loss 'hinge'"):
        fc.point_loss(W2, None, 1.0, 0, 1, 0.5, np.zeros(2), loss="hinge")
    with pytest.raises(ValueError, match="unknown loss 'hinge'"):
        fc.kkt_residual(W2, None, 1.0, 0, 1, 0.5, np.zeros(2), loss="hinge")


def test_point_loss_and_kkt_residual_per_point():
    # two points: h = (1, 2) as above, and h = 0 with t = e_1: z = b = (0.5, 0),
    # CE log(1 + e^0.5), MSE 0.25 + 1, gradient (softmax(b) - e_1) W + 0.
    h = np.array([[1.0, 2.0], [0.0, 0.0]])
    args = (W2, B2, 1.0, np.array([0, 1]), np.array([1, 1]), np.array([0.25, 0.6]), h)
    ce0 = math.log(math.exp(1.5) + math.exp(2.0)) - (0.25 * 1.5 + 0.75 * 2.0) + 2.5
    np.testing.assert_allclose(fc.point_loss(*args), [ce0, math.log(1 + math.exp(0.5))], rtol=1e-14)
    np.testing.assert_allclose(
        fc.point_loss(*args, loss="mse"), [1.25**2 * 2 + 2.5, 1.25], rtol=1e-14
    )
    q = math.exp(0.5) / (1 + math.exp(0.5))
    # softmax(b) - e_1 = (q, -q)
    assert fc.kkt_residual(*args)[1] == pytest.approx(q * math.sqrt(2), rel=1e-14)


def test_float32_features_are_evaluated_in_float64():
    h32 = np.array([[0.1, 0.3]], np.float32)
    h1, h2 = (float(v) for v in h32[0])
    z1, z2 = h1 + 0.5, h2
    # CE with t = e_0 and mu = 0.7; MSE; gradient (softmax(z) - t) + mu h
    ce = math.log(math.exp(z1) + math.exp(z2)) - z1 + 0.35 * (h1 * h1 + h2 * h2)
    args = (W2, B2, 0.7, 0, 0, 1.0, h32)
    assert fc.point_loss(*args)[0] == pytest.approx(ce, rel=1e-15)
    q = math.exp(z1) / (math.exp(z1) + math.exp(z2))
    g = math.hypot(q - 1 + 0.7 * h1, 1 - q + 0.7 * h2)
    assert fc.kkt_residual(*args)[0] == pytest.approx(g, rel=1e-14)


def test_lam_message_exactly():
    with pytest.raises(ValueError, match=r"^lam must lie in \[0, 1\]$"):
        fc.point_loss(W2, None, 1.0, 0, 1, -0.5, np.zeros(2))
