"""theory.fixed_classifier: Newton for any fixed (W, b) against scipy and against the ETF form."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import minimize

from theory.etf import etf_optimum, simplex_etf
from theory.fixed_classifier import fixed_classifier_optimum, kkt_residual, point_loss


def _softmax(z):
    e = np.exp(z - z.max())
    return e / e.sum()


def scipy_reference(W, b, mu, c, c2, lam, loss):
    """scipy L-BFGS (default tolerances) on the raw per-point objective, then full Newton steps
    with the exact Hessian to machine precision; the result is checked by its KKT residual."""
    K, d = W.shape
    t = np.zeros(K)
    t[c] += lam
    t[c2] += 1 - lam

    def f(h):
        z = W @ h + b
        if loss == "ce":
            m = z.max()
            val = m + np.log(np.sum(np.exp(z - m))) - t @ z
            gz = _softmax(z) - t
        else:
            val = np.sum((z - t) ** 2)
            gz = 2 * (z - t)
        return val + 0.5 * mu * h @ h, W.T @ gz + mu * h

    def hess(h):
        if loss == "ce":
            p = _softmax(W @ h + b)
            return W.T @ (np.diag(p) - np.outer(p, p)) @ W + mu * np.eye(d)
        return 2 * W.T @ W + mu * np.eye(d)

    x = minimize(f, np.zeros(d), jac=True, method="L-BFGS-B").x
    g = f(x)[1]
    for _ in range(20):
        x_new = x - np.linalg.solve(hess(x), g)
        g_new = f(x_new)[1]
        if np.linalg.norm(g_new) >= np.linalg.norm(g):
            break
        x, g = x_new, g_new
    assert np.linalg.norm(g) <= 1e-12
    return x


@pytest.mark.parametrize("loss", ["ce", "mse"])
@pytest.mark.parametrize(("K", "d", "mu"), [(5, 8, 0.05), (6, 3, 0.01), (3, 3, 1.0), (2, 4, 0.1)])
def test_random_classifier_matches_scipy(K, d, mu, loss):
    rng = np.random.default_rng(10 * K + d)
    W = rng.normal(size=(K, d))
    b = rng.normal(size=K)
    c = rng.integers(0, K, 6)
    c2 = rng.integers(0, K, 6)
    lam = rng.uniform(size=6)
    lam[0], c2[1] = 0.5, c[1]
    H = fixed_classifier_optimum(W, b, mu, c, c2, lam, loss=loss)
    assert H.shape == (6, d)
    assert np.all(kkt_residual(W, b, mu, c, c2, lam, H, loss=loss) <= 1e-9)
    for i in range(6):
        ref = scipy_reference(W, b, mu, c[i], c2[i], lam[i], loss)
        assert np.linalg.norm(H[i] - ref) <= 1e-8 * max(1.0, np.linalg.norm(ref))


@pytest.mark.parametrize("loss", ["ce", "mse"])
@pytest.mark.parametrize(("K", "mu", "norm"), [(4, 0.01, 1.0), (10, 0.2, 2.0), (3, 1e-3, 1.0)])
def test_etf_classifier_matches_closed_form(K, mu, norm, loss):
    """A rotated simplex ETF embedded in R^(K+3): Newton reproduces the closed form, rotated."""
    rng = np.random.default_rng(K)
    d = K + 3
    Q = np.linalg.qr(rng.normal(size=(d, d)))[0]
    E = np.hstack([simplex_etf(K, norm), np.zeros((K, 3))])
    W = E @ Q.T
    c, c2 = np.repeat(np.arange(K), K), np.tile(np.arange(K), K)
    lam = rng.uniform(size=K * K)
    H = fixed_classifier_optimum(W, None, mu, c, c2, lam, loss=loss)
    closed = etf_optimum(K, mu, c, c2, lam, norm=norm, loss=loss)
    rotated = np.hstack([closed, np.zeros((len(lam), 3))]) @ Q.T
    assert np.max(np.abs(H - rotated)) <= 1e-9 * max(1.0, np.abs(closed).max())


def test_kkt_residual_is_the_gradient_norm_and_can_be_large():
    rng = np.random.default_rng(0)
    W, b, mu = rng.normal(size=(4, 5)), rng.normal(size=4), 0.1
    c, c2, lam = np.array([0, 1]), np.array([2, 1]), np.array([0.3, 0.8])
    h = rng.normal(size=(2, 5))
    eps = 1e-6
    for i in range(2):
        fd = np.array(
            [
                (
                    point_loss(W, b, mu, c[i], c2[i], lam[i], h[i] + eps * e)
                    - point_loss(W, b, mu, c[i], c2[i], lam[i], h[i] - eps * e)
                )[0]
                / (2 * eps)
                for e in np.eye(5)
            ]
        )
        res = kkt_residual(W, b, mu, c[i], c2[i], lam[i], h[i])[0]
        assert res == pytest.approx(np.linalg.norm(fd), rel=1e-6)
        assert res > 1e-2
    H = fixed_classifier_optimum(W, b, mu, c, c2, lam)
    assert np.all(kkt_residual(W, b, mu, c, c2, lam, H) <= 1e-12)
    assert np.all(point_loss(W, b, mu, c, c2, lam, H) < point_loss(W, b, mu, c, c2, lam, h))


def test_rank_deficient_and_many_points():
    rng = np.random.default_rng(1)
    W = rng.normal(size=(6, 9))
    W[3] = W[1]  # rank 5 < K
    n = 3000
    c, c2, lam = rng.integers(0, 6, n), rng.integers(0, 6, n), rng.uniform(size=n)
    H = fixed_classifier_optimum(W, None, 1e-3, c, c2, lam)
    assert np.all(kkt_residual(W, None, 1e-3, c, c2, lam, H) <= 1e-9)
    # The optimum lies in the row space of W.
    P = np.linalg.pinv(W) @ W
    assert np.max(np.abs(H @ P - H)) <= 1e-10 * np.abs(H).max()


def test_invalid_inputs_raise():
    W = np.ones((3, 2))
    with pytest.raises(ValueError, match="b must"):
        fixed_classifier_optimum(W, np.zeros(2), 0.1, 0, 1, 0.5)
    with pytest.raises(ValueError, match="weight_decay"):
        fixed_classifier_optimum(W, None, -1.0, 0, 1, 0.5)
    with pytest.raises(ValueError, match="c must"):
        fixed_classifier_optimum(W, None, 0.1, 3, 1, 0.5)
    with pytest.raises(ValueError, match="lam"):
        fixed_classifier_optimum(W, None, 0.1, 0, 1, -0.1)
