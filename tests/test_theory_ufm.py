"""theory.full_ufm: quadrature, optimality of the returned point, and the ETF diagnostics."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import beta as beta_fn

from theory.etf import etf_optimum, simplex_etf
from theory.full_ufm import beta_quadrature, etf_diagnostics, full_ufm


def joint_objective(W, b, H, nodes, weights, mu_h, mu_w, loss):
    """The full UFM objective written out directly: H[c, c2, j] is the feature of (c, c2, lam_j).

    (1/K^2) sum_{c,c2,j} w_j [lam_j l(z, c) + (1 - lam_j) l(z, c2) + mu_h/2 ||h||^2]
    + mu_w/2 ||W||^2, z = W h + b, l = CE or squared error to the one-hot target.
    """
    K = W.shape[0]
    total = 0.0
    eye = np.eye(K)
    for c in range(K):
        for c2 in range(K):
            Z = H[c, c2] @ W.T + b
            if loss == "ce":
                m = Z.max(axis=1, keepdims=True)
                lse = m[:, 0] + np.log(np.exp(Z - m).sum(axis=1))
                per = nodes * (lse - Z[:, c]) + (1 - nodes) * (lse - Z[:, c2])
            else:
                per = nodes * ((Z - eye[c]) ** 2).sum(1) + (1 - nodes) * ((Z - eye[c2]) ** 2).sum(1)
            per = per + 0.5 * mu_h * (H[c, c2] ** 2).sum(axis=1)
            total += weights @ per
    return total / K**2 + 0.5 * mu_w * np.sum(W * W)


def fd_gradient(fun, x, eps=1e-6):
    g = np.empty_like(x)
    for i in range(x.size):
        e = np.zeros_like(x)
        e.flat[i] = eps
        g.flat[i] = (fun(x + e) - fun(x - e)) / (2 * eps)
    return g


@pytest.mark.parametrize("alpha", [1.0, 0.4, 2.5])
def test_beta_quadrature_integrates_moments(alpha):
    n = 5
    nodes, weights = beta_quadrature(alpha, n)
    assert weights.sum() == pytest.approx(1.0)
    assert np.all((nodes > 0) & (nodes < 1))
    for k in range(2 * n):
        exact = beta_fn(alpha + k, alpha) / beta_fn(alpha, alpha)  # E lam^k
        assert weights @ nodes**k == pytest.approx(exact, rel=1e-12)
    # Not exact beyond degree 2n - 1 (the rule is a genuine n-point rule).
    exact = beta_fn(alpha + 2 * n, alpha) / beta_fn(alpha, alpha)
    assert abs(weights @ nodes ** (2 * n) - exact) > 1e-10


@pytest.mark.parametrize(("loss", "bias"), [("ce", True), ("mse", True), ("ce", False)])
def test_full_ufm_decreases_and_returns_a_stationary_point(loss, bias):
    K, d, n, mu_h, mu_w = 3, 4, 4, 0.02, 0.03
    nodes, weights = beta_quadrature(1.0, n)
    res = full_ufm(K, d, mu_h, mu_w, loss=loss, bias=bias, nodes=n, lambdas=nodes, seed=1)
    hist = np.array(res.loss_history)
    assert hist[-1] < hist[0]
    assert np.all(np.diff(hist) <= 1e-12 * np.abs(hist[:-1]))
    assert res.converged and res.grad_norm <= 1e-8
    if not bias:
        assert np.all(res.b == 0)
    H = res.features  # (K, K, n, d): the features at the quadrature nodes

    def as_fun(part):
        def fun(x):
            args = {"W": res.W, "b": res.b, "H": H}
            args[part] = x
            return joint_objective(
                args["W"], args["b"], args["H"], nodes, weights, mu_h, mu_w, loss
            )

        return fun

    value = joint_objective(res.W, res.b, H, nodes, weights, mu_h, mu_w, loss)
    if loss == "mse":  # theory: ||z - t||^2 = two-term form - lam (1 - lam) ||e_c - e_c2||^2
        value -= (K - 1) / K * 2 * weights @ (nodes * (1 - nodes))
    assert value == pytest.approx(res.loss, rel=1e-12)
    for part in ("W", "b", "H") if bias else ("W", "H"):
        x = {"W": res.W, "b": res.b, "H": H}[part]
        grad = fd_gradient(as_fun(part), x)
        assert np.max(np.abs(grad)) <= 1e-7, part
    # The check can fail: away from the optimum the same gradient is far from zero.
    W_off = res.W + 0.05 * np.random.default_rng(0).normal(size=res.W.shape)
    assert np.max(np.abs(fd_gradient(as_fun("W"), W_off))) > 1e-3


def test_etf_diagnostics_meaning():
    rng = np.random.default_rng(3)
    K, d = 5, 8
    Q = np.linalg.qr(rng.normal(size=(d, d)))[0]
    E = np.hstack([simplex_etf(K, 1.7), np.zeros((K, d - K))]) @ Q.T
    exact = etf_diagnostics(E)
    assert not exact["collapsed"]
    for key in ("norm_cv", "max_cos_deviation", "mean_row_ratio", "etf_distance"):
        assert exact[key] <= 1e-12, key
    small = etf_diagnostics(E + 0.01 * rng.normal(size=E.shape))
    large = etf_diagnostics(E + 0.1 * rng.normal(size=E.shape))
    assert 0 < small["etf_distance"] < large["etf_distance"]
    assert small["max_cos_deviation"] > 1e-4 and small["norm_cv"] > 1e-4
    shifted = etf_diagnostics(E + Q[:, 0])  # a common shift of all rows: not an ETF
    assert shifted["mean_row_ratio"] > 0.1 and shifted["etf_distance"] > 0.1
    scaled = etf_diagnostics(E * np.arange(1, K + 1)[:, None])  # unequal norms
    assert scaled["norm_cv"] > 0.1
    collapsed = etf_diagnostics(np.zeros((K, d)))
    assert collapsed["collapsed"] and np.isnan(collapsed["etf_distance"])


def test_full_ufm_optimum_is_the_etf_with_the_closed_form_features():
    """Uniform pairs, d >= K - 1: the learned W is a simplex ETF, no scaled ETF does better, and
    its features are the closed form of theory.etf (compared through the logits, which do not
    depend on the rotation of feature space)."""
    K, d, mu_h, mu_w = 4, 5, 0.01, 0.02
    lams = np.linspace(0, 1, 5)
    res = full_ufm(K, d, mu_h, mu_w, nodes=6, lambdas=lams, seed=2)
    diag = res.diagnostics
    assert diag["etf_distance"] <= 1e-6 and diag["norm_cv"] <= 1e-6
    assert abs(diag["etf_loss_gap"]) <= 1e-9
    assert diag["same_class_alignment"] == pytest.approx(1.0, abs=1e-9)
    assert diag["etf_distance"] == etf_diagnostics(res.W)["etf_distance"]
    s = np.linalg.norm(res.W, axis=1).mean()
    c, c2, lam = np.meshgrid(np.arange(K), np.arange(K), lams, indexing="ij")
    closed = etf_optimum(K, mu_h, c.ravel(), c2.ravel(), lam.ravel(), norm=s)
    z_closed = closed @ simplex_etf(K, s).T
    z_ufm = res.features.reshape(-1, d) @ res.W.T + res.b
    z_ufm -= z_ufm.mean(axis=1, keepdims=True)  # CE logits are defined up to a shared shift
    assert np.max(np.abs(z_ufm - z_closed)) <= 1e-6 * np.abs(z_closed).max()


def test_full_ufm_in_too_few_dimensions_is_not_an_etf():
    res = full_ufm(4, 2, 0.01, 0.01, nodes=4, lambdas=np.array([0.0, 0.5, 1.0]))
    assert res.converged
    assert np.isnan(res.diagnostics["etf_loss_gap"])  # no simplex ETF of 4 rows in R^2
    assert res.diagnostics["etf_distance"] > 0.1


def test_full_ufm_invalid_arguments():
    with pytest.raises(ValueError, match="K"):
        full_ufm(1, 3, 0.1, 0.1)
    with pytest.raises(ValueError, match="weight_decay_w"):
        full_ufm(3, 3, 0.1, 0.0)
    with pytest.raises(ValueError, match="alpha"):
        full_ufm(3, 3, 0.1, 0.1, alpha=-1.0)
    with pytest.raises(ValueError, match="lambdas"):
        full_ufm(3, 3, 0.1, 0.1, lambdas=np.array([1.2]))
