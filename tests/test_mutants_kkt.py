"""theory.fixed_classifier.kkt_residual against finite differences (issue 16).

The tests of every solver check optimality with kkt_residual, so a wrong residual would let a
wrong solver pass; here the residual itself is checked at points that are NOT optimal, against
central differences of the objective written out independently in numpy.
"""

import numpy as np
import pytest

from theory import fixed_classifier as fc


def _objective_parts(W, b, mu, p, c, c2, lam, h, loss):
    """(loss(W h + b, t), mu/p ||h||^p) for one point, written from the definitions."""
    K = W.shape[0]
    t = np.zeros(K)
    t[c] += lam
    t[c2] += 1 - lam
    z = W @ h + b
    if loss == "ce":
        zmax = z.max()
        data = (zmax + np.log(np.exp(z - zmax).sum())) * t.sum() - t @ z
    else:
        data = np.sum((z - t) ** 2)
    return data, mu / p * np.linalg.norm(h) ** p


def _numeric_gradients(W, b, mu, p, c, c2, lam, h, loss, step=1e-6):
    g = np.zeros((2, len(h)))
    for i in range(len(h)):
        e = np.zeros(len(h))
        e[i] = step
        up = _objective_parts(W, b, mu, p, c, c2, lam, h + e, loss)
        down = _objective_parts(W, b, mu, p, c, c2, lam, h - e, loss)
        g[:, i] = (np.array(up) - np.array(down)) / (2 * step)
    return g  # (gradient of the loss, gradient of the penalty)


@pytest.mark.parametrize("loss", ["ce", "mse"])
@pytest.mark.parametrize("p", [2.0, 1.5, 0.7])
@pytest.mark.parametrize("with_bias", [False, True])
def test_kkt_residual_is_the_gradient_norm_at_any_point(loss, p, with_bias):
    rng = np.random.default_rng(7)
    K, d, n, mu = 4, 3, 5, 0.3
    W = rng.normal(size=(K, d))
    b = rng.normal(size=K) if with_bias else None
    c = np.array([0, 1, 2, 3, 0])
    c2 = np.array([1, 1, 0, 2, 3])
    lam = np.array([0.3, 1.0, 0.5, 0.9, 0.15])
    h = rng.normal(size=(n, d))
    got = fc.kkt_residual(W, b, mu, c, c2, lam, h, loss=loss, penalty_power=p)
    rel = fc.kkt_residual(W, b, mu, c, c2, lam, h, loss=loss, relative=True, penalty_power=p)
    bb = np.zeros(K) if b is None else b
    for i in range(n):
        g_loss, g_pen = _numeric_gradients(W, bb, mu, p, c[i], c2[i], lam[i], h[i], loss)
        want = np.linalg.norm(g_loss + g_pen)
        assert got[i] == pytest.approx(want, rel=1e-6, abs=1e-9)
        scale = np.linalg.norm(g_loss) + np.linalg.norm(g_pen)
        assert rel[i] == pytest.approx(want / scale, rel=1e-6, abs=1e-9)
        assert 0.0 < rel[i] <= 1.0 + 1e-12


def test_kkt_residual_at_zero_and_at_stationary_points():
    W = fc_etf = np.array([[1.0, 0.0], [-0.5, np.sqrt(3) / 2], [-0.5, -np.sqrt(3) / 2]])
    zero = np.zeros((2, 2))
    c, c2, lam = np.array([0, 1]), np.array([1, 2]), np.array([0.5, 0.8])
    # p < 1: h = 0 is a local minimum, its relative residual is 0
    rel = fc.kkt_residual(W, None, 0.1, c, c2, lam, zero, relative=True, penalty_power=0.5)
    np.testing.assert_array_equal(rel, 0.0)
    # p = 1: h = 0 is a minimum iff ||grad loss(0)|| <= mu; otherwise ||grad loss(0)|| / mu - 1
    t = np.array([[0.5, 0.5, 0.0], [0.0, 0.8, 0.2]])
    g0 = np.linalg.norm((np.full(3, 1 / 3) - t) @ fc_etf, axis=1)
    for mu in (0.05, 10.0):
        rel = fc.kkt_residual(W, None, mu, c, c2, lam, zero, relative=True, penalty_power=1.0)
        np.testing.assert_allclose(rel, np.maximum(0.0, g0 / mu - 1.0), rtol=1e-12)
    # p = 2 at h = 0: the residual is the loss gradient alone, relative 1
    absolute = fc.kkt_residual(W, None, 0.1, c, c2, lam, zero)
    np.testing.assert_allclose(absolute, g0, rtol=1e-12)
    np.testing.assert_allclose(fc.kkt_residual(W, None, 0.1, c, c2, lam, zero, relative=True), 1.0)
    # at the optimum both are ~0
    h = fc.fixed_classifier_optimum(W, None, 0.1, c, c2, lam)
    assert fc.kkt_residual(W, None, 0.1, c, c2, lam, h, relative=True).max() < 1e-10


def test_residual_at_an_exact_stationary_point_and_at_zero():
    W = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, -1.0]])
    c, c2, lam = np.array([0]), np.array([1]), np.array([0.25])
    b = np.array([[0.25, 0.75, 0.0]])  # MSE: z = b = t at h = 0, so both gradients vanish
    zero = np.zeros((1, 2))
    for p in (2.0, 1.5):
        assert fc.kkt_residual(W, b[0], 0.2, c, c2, lam, zero, loss="mse", penalty_power=p) == 0
        rel = fc.kkt_residual(W, b[0], 0.2, c, c2, lam, zero, "mse", True, penalty_power=p)
        np.testing.assert_array_equal(rel, [0.0])  # 0 / 0 is reported as 0, not NaN
    # p < 2 at h = 0 (CE): the penalty's gradient is 0 there, the residual the loss gradient's
    t = np.array([0.25, 0.75, 0.0])
    g0 = np.linalg.norm((np.full(3, 1 / 3) - t) @ W)
    got = fc.kkt_residual(W, None, 0.2, c, c2, lam, zero, penalty_power=1.5)
    np.testing.assert_allclose(got, [g0], rtol=1e-12)
    # p < 1, a batch of a zero and a non-zero row: the zero row's relative residual is 0, the
    # other its own
    h = np.array([[0.0, 0.0], [0.3, -0.2]])
    cc, cc2, ll = np.array([0, 0]), np.array([1, 1]), np.array([0.25, 0.25])
    rel = fc.kkt_residual(W, None, 0.2, cc, cc2, ll, h, relative=True, penalty_power=0.5)
    assert rel[0] == 0.0 and rel[1] > 0.01


def test_spd_solve_falls_back_to_the_pseudo_inverse():
    H = np.array([[[4.0, 2.0], [2.0, 3.0]], [[1.0, 0.0], [0.0, 0.0]]])  # SPD, then singular
    g = np.array([[1.0, 2.0], [3.0, 5.0]])
    np.testing.assert_allclose(fc._solve_spd(H[:1], g[:1]), [[-0.125, 0.75]], rtol=1e-12)
    out = fc._solve_spd(H[1:], g[1:], fallback=True)
    np.testing.assert_allclose(out, [[3.0, 0.0]], atol=1e-12)  # pinv: the minimum-norm solution
    with pytest.raises(np.linalg.LinAlgError):
        fc._solve_spd(H[1:], g[1:])
