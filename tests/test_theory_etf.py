"""theory.etf: the simplex-ETF closed forms against a generic optimiser, and SPEC section 2."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import minimize

from theory.etf import etf_coefficients, etf_optimum, simplex_etf
from theory.fixed_classifier import kkt_residual


def logsumexp(z):
    m = z.max()
    return m + np.log(np.sum(np.exp(z - m)))


def softmax(z):
    e = np.exp(z - z.max())
    return e / e.sum()


def raw_objective(W, c, c2, lam, mu, loss):
    """lam loss(W h, e_c) + (1 - lam) loss(W h, e_c2) + mu/2 ||h||^2, its gradient and Hessian.

    Written with the two one-hot terms (not the soft target), so that the soft-target reduction
    in theory is checked too.
    """
    K = W.shape[0]
    e_c, e_c2 = np.eye(K)[c], np.eye(K)[c2]

    def f(h):
        z = W @ h
        if loss == "ce":
            val = lam * (logsumexp(z) - z[c]) + (1 - lam) * (logsumexp(z) - z[c2])
            gz = softmax(z) - lam * e_c - (1 - lam) * e_c2
        else:
            val = lam * np.sum((z - e_c) ** 2) + (1 - lam) * np.sum((z - e_c2) ** 2)
            gz = 2 * (lam * (z - e_c) + (1 - lam) * (z - e_c2))
        return val + 0.5 * mu * h @ h, W.T @ gz + mu * h

    def hess(h):
        if loss == "ce":
            p = softmax(W @ h)
            Hz = np.diag(p) - np.outer(p, p)
        else:
            Hz = 2 * np.eye(K)
        return W.T @ Hz @ W + mu * np.eye(W.shape[1])

    return f, hess


def reference_optimum(W, c, c2, lam, mu, loss):
    """scipy L-BFGS on the raw objective, polished by plain Newton steps on the same objective.

    L-BFGS alone stops around 1e-8..1e-9 relative on ill-conditioned points; from there full
    Newton steps (exact Hessian of the raw objective above) reach machine precision. The
    reference is itself checked by its KKT residual.
    """
    f, hess = raw_objective(W, c, c2, lam, mu, loss)
    d = W.shape[1]
    opts = {"gtol": 1e-11, "ftol": 1e-15, "maxiter": 2000}
    x_lbfgs = minimize(f, np.zeros(d), jac=True, method="L-BFGS-B", options=opts).x
    x, g = x_lbfgs, f(x_lbfgs)[1]
    for _ in range(20):
        x_new = x - np.linalg.solve(hess(x), g)
        g_new = f(x_new)[1]
        if np.linalg.norm(g_new) >= np.linalg.norm(g):
            break
        x, g = x_new, g_new
    assert np.linalg.norm(g) <= 1e-12, "the reference optimiser did not converge"
    return x, x_lbfgs


CASES = [
    (2, 0.3, 1.0),
    (3, 0.1, 1.0),
    (3, 1e-3, 1.0),
    (5, 0.02, 2.0),
    (10, 1.0, 0.5),
    (10, 5e-3, 1.0),
]


@pytest.mark.parametrize("loss", ["ce", "mse"])
@pytest.mark.parametrize(("K", "mu", "norm"), CASES)
def test_closed_form_matches_scipy(K, mu, norm, loss):
    rng = np.random.default_rng(K * 1000 + int(1 / mu))
    W = simplex_etf(K, norm)
    points = [(0, 1, 0.5), (0, 0, 0.3), (K - 1, 0, 1.0), (1, 0, 0.0), (1, 1, 1.0)]
    points += [(int(rng.integers(K)), int(rng.integers(K)), float(rng.uniform())) for _ in range(3)]
    c, c2, lam = (np.array(v) for v in zip(*points, strict=True))
    H = etf_optimum(K, mu, c, c2, lam, norm=norm, loss=loss)
    assert H.shape == (len(points), K)
    assert np.all(kkt_residual(W, None, mu, c, c2, lam, H, loss=loss) <= 1e-9)
    for i, (ci, c2i, li) in enumerate(points):
        ref, x_lbfgs = reference_optimum(W, ci, c2i, li, mu, loss)
        scale = max(1.0, np.linalg.norm(ref))
        assert np.linalg.norm(H[i] - ref) <= 1e-8 * scale, (ci, c2i, li)
        assert np.linalg.norm(H[i] - x_lbfgs) <= 1e-6 * scale  # plain L-BFGS agrees too


def test_simplex_etf_geometry():
    for K, s in [(2, 1.0), (3, 2.0), (7, 0.5)]:
        W = simplex_etf(K, s)
        G = W @ W.T
        assert np.allclose(np.diag(G), s**2)
        assert np.allclose(G[~np.eye(K, dtype=bool)], -(s**2) / (K - 1))
        assert np.allclose(W.sum(axis=0), 0)
        assert np.allclose(G, s**2 * K / (K - 1) * (np.eye(K) - 1.0 / K))


@pytest.mark.parametrize("loss", ["ce", "mse"])
def test_coefficients_reconstruct_h(loss):
    K, mu = 6, 0.05
    W = simplex_etf(K)
    c, c2 = np.array([0, 2, 3, 3]), np.array([1, 2, 5, 3])
    lam = np.array([0.2, 0.6, 0.5, 0.0])
    A, B = etf_coefficients(K, mu, c, c2, lam, loss=loss)
    H = etf_optimum(K, mu, c, c2, lam, loss=loss)
    assert np.allclose(A[:, None] * W[c] + B[:, None] * W[c2], H, atol=1e-14)
    assert np.all(B[c == c2] == 0)
    # Broadcasting: (pairs, 1) x (1, lambdas) gives the table of the flat call.
    lams = np.linspace(0, 1, 7)
    A2, B2 = etf_coefficients(K, mu, c[:, None], c2[:, None], lams[None], loss=loss)
    A3, B3 = etf_coefficients(K, mu, np.repeat(c, 7), np.repeat(c2, 7), np.tile(lams, 4), loss=loss)
    assert A2.shape == (4, 7)
    assert np.allclose(A2.ravel(), A3, atol=0, rtol=1e-15)
    assert np.allclose(B2.ravel(), B3, atol=0, rtol=1e-15)


@pytest.mark.parametrize(("K", "mu"), [(3, 0.1), (10, 1e-3), (4, 2.0)])
def test_same_class_optimum_is_lambda_invariant_and_on_w_c(K, mu):
    W = simplex_etf(K)
    lams = np.linspace(0, 1, 11)
    H = etf_optimum(K, mu, 1, 1, lams)
    assert np.max(np.abs(H - H[0])) <= 1e-14 * np.linalg.norm(H[0])
    cos = H[0] @ W[1] / (np.linalg.norm(H[0]) * np.linalg.norm(W[1]))
    assert cos == pytest.approx(1.0, abs=1e-14)


@pytest.mark.parametrize(("K", "mu"), [(3, 0.1), (10, 1e-3), (10, 0.5), (2, 0.05)])
def test_different_class_properties(K, mu):
    W = simplex_etf(K)
    lams = np.linspace(0, 1, 21)
    H = etf_optimum(K, mu, 0, 1, lams)
    Z = H @ W.T
    # In span{w_c, w_c2}: the least-squares residual on those two rows vanishes.
    basis = W[[0, 1]].T
    coef = np.linalg.lstsq(basis, H.T, rcond=None)[0]
    assert np.max(np.abs(basis @ coef - H.T)) <= 1e-13 * np.abs(H).max()
    # Equal logits at lam = 1/2 (on the decision boundary), c wins above 1/2, c2 below.
    half = np.flatnonzero(np.isclose(lams, 0.5))[0]
    assert abs(Z[half, 0] - Z[half, 1]) <= 1e-12 * np.abs(Z[half]).max()
    assert np.all(Z[lams > 0.5, 0] > Z[lams > 0.5, 1])
    assert np.all(Z[lams < 0.5, 1] > Z[lams < 0.5, 0])
    # lam = 1 is the same-class optimum of c; lam = 0 that of c2; symmetry c <-> c2, lam <-> 1-lam.
    assert np.allclose(H[-1], etf_optimum(K, mu, 0, 0, 0.3), atol=1e-13)
    assert np.allclose(H[0], etf_optimum(K, mu, 1, 1, 0.3), atol=1e-13)
    assert np.allclose(H[::-1], etf_optimum(K, mu, 1, 0, lams), atol=1e-13)
    # CE logits of the minimum-norm optimum sum to zero.
    assert np.max(np.abs(Z.sum(axis=1))) <= 1e-12 * np.abs(Z).max()


def test_mse_optimum_is_affine_in_lambda_and_ce_is_not():
    K, mu = 5, 0.01
    lams = np.linspace(0, 1, 11)[:, None]
    mse = etf_optimum(K, mu, 0, 1, lams[:, 0], loss="mse")
    seg = lams * etf_optimum(K, mu, 0, 0, 0.0, loss="mse") + (1 - lams) * etf_optimum(
        K, mu, 1, 1, 0.0, loss="mse"
    )
    assert np.max(np.abs(mse - seg)) <= 1e-14
    ce = etf_optimum(K, mu, 0, 1, lams[:, 0])
    seg = lams * etf_optimum(K, mu, 0, 0, 0.0) + (1 - lams) * etf_optimum(K, mu, 1, 1, 0.0)
    # The CE curve leaves the segment: at lam = 1/2 it is far outside (the "channel").
    gap = np.linalg.norm(ce[5] - seg[5]) / np.linalg.norm(seg[5])
    assert gap > 0.2


def test_large_gamma_and_tiny_gamma_stay_accurate():
    for K, mu in [(100, 1e-6), (3, 1e4), (50, 1e-3)]:
        W = simplex_etf(K)
        c, c2 = np.array([0, 0, 2, 1]), np.array([1, 0, 1, 1])
        lam = np.array([0.5, 0.4, 0.99, 0.0])
        H = etf_optimum(K, mu, c, c2, lam)
        assert np.all(np.isfinite(H))
        res = kkt_residual(W, None, mu, c, c2, lam, H)
        assert np.all(res <= 1e-9 * max(1.0, np.abs(H).max() * mu)), res


def test_invalid_inputs_raise():
    with pytest.raises(ValueError, match="K"):
        etf_optimum(1, 0.1, 0, 0, 0.5)
    with pytest.raises(ValueError, match="weight_decay"):
        etf_optimum(3, 0.0, 0, 1, 0.5)
    with pytest.raises(ValueError, match="lam"):
        etf_optimum(3, 0.1, 0, 1, 1.5)
    with pytest.raises(ValueError, match="c2"):
        etf_optimum(3, 0.1, 0, 3, 0.5)
    with pytest.raises(ValueError, match="loss"):
        etf_optimum(3, 0.1, 0, 1, 0.5, loss="hinge")
