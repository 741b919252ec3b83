"""The generalised feature penalty (mu/p)||h||^p (issue 13, SPEC section 8) against independent
minimisers: multi-start scipy in the full feature space, and a dense grid for the non-convex p < 1.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy.optimize import minimize

from theory.cli import main
from theory.etf import etf_coefficients, etf_optimum, simplex_etf
from theory.etf_power import etf_kkt_residual, etf_logits
from theory.fixed_classifier import fixed_classifier_optimum, kkt_residual


def objective(W, b, c, c2, lam, mu, p, loss):
    """loss(W h + b, t) + mu/p ||h||^p, its gradient and Hessian (h != 0), written from scratch."""
    K = W.shape[0]
    t = np.zeros(K)
    t[c] += lam
    t[c2] += 1 - lam

    def f(h):
        z = W @ h + b
        n = np.linalg.norm(h)
        if loss == "ce":
            m = z.max()
            lse = m + np.log(np.exp(z - m).sum())
            val, gz = lse - t @ z, np.exp(z - lse) - t
        else:
            val, gz = np.sum((z - t) ** 2), 2 * (z - t)
        pen = mu / p * n**p
        gpen = mu * n ** (p - 2) * h if n > 0 else 0 * h
        return val + pen, W.T @ gz + gpen

    def hess(h):
        z = W @ h + b
        n = np.linalg.norm(h)
        if loss == "ce":
            q = np.exp(z - z.max())
            q /= q.sum()
            Hz = np.diag(q) - np.outer(q, q)
        else:
            Hz = 2 * np.eye(K)
        d = len(h)
        return W.T @ Hz @ W + mu * (
            n ** (p - 2) * np.eye(d) + (p - 2) * n ** (p - 4) * np.outer(h, h)
        )

    return f, hess


def reference_minimum(W, b, c, c2, lam, mu, p, loss, starts):
    """Best of scipy L-BFGS runs from `starts`, each polished by Newton steps; h = 0 included."""
    f, hess = objective(W, b, c, c2, lam, mu, p, loss)
    best_val, best_h = f(np.zeros(W.shape[1]))[0], np.zeros(W.shape[1])
    for h0 in starts:
        x = minimize(f, h0, jac=True, method="L-BFGS-B", options={"gtol": 1e-10}).x
        for _ in range(30):
            g = f(x)[1]
            if np.linalg.norm(g) <= 1e-14 * (1 + np.linalg.norm(x)) or np.linalg.norm(x) == 0:
                break
            x_new = x - np.linalg.solve(hess(x), g)
            if not f(x_new)[0] <= f(x)[0] + 1e-15:
                break
            x = x_new
        if f(x)[0] < best_val:
            best_val, best_h = f(x)[0], x
    return best_val, best_h, f


CASES = [(3, 0.1), (5, 0.02), (10, 0.005)]


@pytest.mark.parametrize("loss", ["ce", "mse"])
@pytest.mark.parametrize("p", [1.5, 0.6667])
@pytest.mark.parametrize(("K", "mu"), CASES)
def test_cli_power_matches_independent_minimiser(K, mu, p, loss, tmp_path, capsys):
    """Acceptance (issue 13): `solve --penalty-power` within 1e-7 relative of scipy, never worse."""
    path = tmp_path / "out.json"
    argv = f"solve --classes {K} --weight-decay {mu} --loss {loss} --penalty-power {p}"
    argv = argv.split() + [
        "--lambdas",
        "0.2,0.5,0.9",
        "--pairs",
        "0-1,2-1,2-2",
        "--json",
        str(path),
    ]
    assert main(argv) == 0
    capsys.readouterr()
    data = json.loads(path.read_text())
    assert data["penalty_power"] == p
    W = np.array(data["W"])
    rng = np.random.default_rng(K)
    for s in data["solutions"]:
        h = np.array(s["h"])
        h2 = etf_optimum(K, mu, s["c"], s["c2"], s["lam"], loss=loss)
        starts = [h2, 3 * h2, 0.3 * h2, rng.normal(size=K) * np.linalg.norm(h2)]
        val, ref, f = reference_minimum(
            W, np.zeros(K), s["c"], s["c2"], s["lam"], mu, p, loss, starts
        )
        assert f(h)[0] <= val + 1e-13 * abs(val), s  # never worse than the minimiser
        assert np.linalg.norm(h - ref) <= 1e-7 * max(np.linalg.norm(ref), 1e-300), s
        assert s["kkt_residual"] <= 1e-9
        assert np.allclose(s["logits"], W @ h, rtol=0, atol=1e-13 * (1 + np.abs(W @ h).max()))


@pytest.mark.parametrize("loss", ["ce", "mse"])
@pytest.mark.parametrize(("p", "mu"), [(0.6667, 0.05), (0.4, 0.05), (0.4, 0.3), (0.6667, 0.6)])
def test_nonconvex_power_is_the_global_optimum(p, mu, loss):
    """p < 1: a dense grid over span{w_c, w_c2} (where the optimum lies) finds nothing better,
    and multi-start scipy in R^K neither; some cases have h = 0 beating a nonzero local minimum
    (a solver that stops at a stationary point fails them)."""
    K = 3
    W = simplex_etf(K)
    for c, c2, lam in [(0, 1, 0.5), (0, 1, 0.8), (1, 1, 1.0)]:
        h = etf_optimum(K, mu, c, c2, lam, loss=loss, penalty_power=p)
        f, _ = objective(W, np.zeros(K), c, c2, lam, mu, p, loss)
        ours = f(h)[0]
        span = np.stack([W[c], W[c2] - (W[c2] @ W[c]) * W[c]])
        span /= np.linalg.norm(span, axis=1, keepdims=True) + 1e-300
        r_max = 6 * max(1.0, np.linalg.norm(etf_optimum(K, mu, c, c2, lam, loss=loss)))
        g = np.linspace(-r_max, r_max, 401)
        G = np.stack(np.meshgrid(g, g), axis=-1).reshape(-1, 2) @ span
        Z = G @ W.T
        t = np.zeros(K)
        t[c] += lam
        t[c2] += 1 - lam
        if loss == "ce":
            m = Z.max(axis=1, keepdims=True)
            vals = (m[:, 0] + np.log(np.exp(Z - m).sum(axis=1))) - Z @ t
        else:
            vals = np.sum((Z - t) ** 2, axis=1)
        vals = vals + mu / p * np.linalg.norm(G, axis=1) ** p
        assert ours <= vals.min() + 1e-12
        # Refining the best grid point by a local minimiser lands on our optimum (or on 0).
        val, ref, _ = reference_minimum(W, np.zeros(K), c, c2, lam, mu, p, loss, [G[vals.argmin()]])
        assert ours <= val + 1e-13 * abs(val)
        assert np.linalg.norm(h - ref) <= 1e-7 * max(np.linalg.norm(ref), np.linalg.norm(h), 1e-300)
    # One of these cases has h = 0 as the global optimum while a nonzero local minimum exists.
    if (p, mu) == (0.4, 0.3):
        h = etf_optimum(K, mu, 0, 1, 0.8, loss=loss, penalty_power=p)
        f, _ = objective(W, np.zeros(K), 0, 1, 0.8, mu, p, loss)
        h2 = etf_optimum(K, mu, 0, 1, 0.8, loss=loss)
        local = minimize(f, h2, jac=True, method="L-BFGS-B").x
        assert np.all(h == 0) and np.linalg.norm(local) > 0.1 and f(local)[0] > f(h)[0]


def test_p2_is_todays_model_and_p_is_continuous():
    K, mu = 10, 0.05
    iu, ju = np.triu_indices(K)
    lams = np.linspace(0, 1, 11)
    c, c2, lam = np.repeat(iu, 11), np.repeat(ju, 11), np.tile(lams, iu.size)
    for loss in ("ce", "mse"):
        A, B = etf_coefficients(K, mu, c, c2, lam, loss=loss)
        A2, B2 = etf_coefficients(K, mu, c, c2, lam, loss=loss, penalty_power=2)
        assert np.array_equal(A, A2) and np.array_equal(B, B2)
        near = etf_coefficients(K, mu, c, c2, lam, loss=loss, penalty_power=2 - 1e-9)
        assert np.allclose(near[0], A, rtol=1e-7) and np.allclose(near[1], B, rtol=1e-7, atol=1e-12)


@pytest.mark.parametrize("loss", ["ce", "mse"])
@pytest.mark.parametrize("p", [2.0, 1.5, 1.0, 0.6667])
def test_relative_kkt_residual_is_small_and_detects_errors(p, loss):
    K, mu = 5, 0.02
    c, c2, lam = np.array([0, 0, 3, 2]), np.array([1, 0, 4, 0]), np.array([0.5, 1.0, 0.2, 0.7])
    A, B = etf_coefficients(K, mu, c, c2, lam, loss=loss, penalty_power=p)
    res = etf_kkt_residual(K, mu, c, c2, lam, A, B, loss=loss, penalty_power=p)
    assert np.all(res <= 1e-10), res
    for scale in (1e-6, 1e-3):
        bad = etf_kkt_residual(
            K, mu, c, c2, lam, A * (1 + scale), B * (1 + scale), loss=loss, penalty_power=p
        )
        nonzero = np.hypot(A, B) > 0
        assert np.all(bad[nonzero] >= 0.05 * scale) and np.all(bad[nonzero] <= 20 * scale), bad
    # The generic residual of theory.fixed_classifier agrees that these are stationary points.
    H = etf_optimum(K, mu, c, c2, lam, loss=loss, penalty_power=p)
    W = simplex_etf(K)
    rel = kkt_residual(W, None, mu, c, c2, lam, H, loss=loss, relative=True, penalty_power=p)
    assert np.all(rel <= 1e-9), rel


@pytest.mark.parametrize("bad", [0, -1, 2.5, float("nan"), float("inf"), "x", None])
def test_bad_power_raises_naming_it(bad):
    with pytest.raises(ValueError, match="penalty_power"):
        etf_optimum(3, 0.1, 0, 1, 0.5, penalty_power=bad)
    with pytest.raises(ValueError, match="penalty_power"):
        fixed_classifier_optimum(simplex_etf(3), None, 0.1, 0, 1, 0.5, penalty_power=bad)


@pytest.mark.parametrize("loss", ["ce", "mse"])
@pytest.mark.parametrize("p", [1.5, 0.6667])
def test_fixed_classifier_power(p, loss):
    """Any (W, b): the ETF case reproduces etf_optimum; a random W matches the scipy minimiser."""
    K, mu = 5, 0.05
    W = simplex_etf(K)
    c, c2, lam = np.array([0, 1, 2, 3]), np.array([1, 1, 4, 0]), np.array([0.5, 0.3, 0.9, 0.1])
    H = fixed_classifier_optimum(W, None, mu, c, c2, lam, loss=loss, penalty_power=p)
    He = etf_optimum(K, mu, c, c2, lam, loss=loss, penalty_power=p)
    assert np.allclose(H, He, rtol=0, atol=1e-9 * np.abs(He).max())
    rng = np.random.default_rng(3)
    Wr, br = rng.normal(size=(4, 6)), rng.normal(size=4) * 0.3
    cr, c2r, lamr = np.array([0, 2, 3]), np.array([1, 2, 0]), np.array([0.4, 1.0, 0.75])
    Hr = fixed_classifier_optimum(Wr, br, mu, cr, c2r, lamr, loss=loss, penalty_power=p)
    for i in range(3):
        h2 = fixed_classifier_optimum(Wr, br, mu, cr[i], c2r[i], lamr[i], loss=loss)[0]
        starts = [h2, 3 * h2, 0.3 * h2, rng.normal(size=6)]
        val, ref, f = reference_minimum(Wr, br, cr[i], c2r[i], lamr[i], mu, p, loss, starts)
        assert f(Hr[i])[0] <= val + 1e-12 * abs(val)
        assert np.linalg.norm(Hr[i] - ref) <= 1e-7 * max(np.linalg.norm(ref), 1e-300)
    rel = kkt_residual(Wr, br, mu, cr, c2r, lamr, Hr, loss=loss, relative=True, penalty_power=p)
    assert np.all(rel <= 1e-9)


def test_etf_logits_and_predicted_confidence():
    K, mu = 10, 0.01
    lams = np.linspace(0, 1, 21)
    for p in (2.0, 0.6667):
        z, prob = etf_logits(K, mu, 0, 1, lams, penalty_power=p, probabilities=True)
        H = etf_optimum(K, mu, 0, 1, lams, penalty_power=p)
        assert z.shape == (21, K) and np.allclose(z, H @ simplex_etf(K).T, atol=1e-12)
        assert np.allclose(prob.sum(axis=1), 1.0) and np.all(prob > 0)
        conf = prob.max(axis=1)
        assert conf[10] == pytest.approx(prob[10, 0]) == pytest.approx(prob[10, 1])  # lam = 1/2
        assert np.all(np.diff(prob[:, 0]) > 0)  # the probability of c rises with lam
        z_same, p_same = etf_logits(K, mu, 0, 0, 0.3, penalty_power=p, probabilities=True)
        assert p_same.max() > conf.min()  # the mixture is less confident than a clean point
    assert etf_logits(K, mu, 0, 1, 0.5).shape == (K,)
