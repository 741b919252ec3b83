"""Kill mutmut's survivors in theory/etf.py (issue 16; see docs/mutation.md).

The check is independent of the closed form: h* minimises loss(W h, t) + mu/2 ||h||^2, so its
gradient W^T (softmax(W h) - t) + mu h (CE) or 2 W^T (W h - t) + mu h (MSE) must vanish, in
every regime (K = 2 and K > 2, tiny and huge gamma = a / mu, few lambdas and the fast path for
more than 4096), for different-class and same-class points.
"""

import numpy as np
import pytest

from theory import etf


def _softmax(z):
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def _relative_gradient(K, mu, c, c2, lam, loss="ce", norm=1.0):
    h = etf.etf_optimum(K, mu, c, c2, lam, norm=norm, loss=loss)
    W = etf.simplex_etf(K, norm)
    t = lam[:, None] * np.eye(K)[c] + (1 - lam[:, None]) * np.eye(K)[c2]
    z = h @ W.T
    g_loss = (_softmax(z) - t) @ W if loss == "ce" else 2 * (z - t) @ W
    g = g_loss + mu * h
    scale = np.linalg.norm(g_loss, axis=1) + mu * np.linalg.norm(h, axis=1) + 1e-300
    return np.max(np.linalg.norm(g, axis=1) / scale)


@pytest.mark.parametrize("K", [2, 3, 7])
@pytest.mark.parametrize("mu", [1e-4, 1e-2, 1.0, 20.0])
@pytest.mark.parametrize("n", [9, 5001])
def test_etf_optimum_is_stationary(K, mu, n):
    lam = np.linspace(0.0, 1.0, n)
    c, c2 = np.zeros(n, int), np.ones(n, int)
    assert _relative_gradient(K, mu, c, c2, lam) < 1e-7
    assert _relative_gradient(K, mu, c[:9], c[:9], lam[:9]) < 1e-7  # same-class points


@pytest.mark.parametrize("K", [2, 5])
def test_mse_optimum_is_stationary(K):
    lam = np.linspace(0.0, 1.0, 11)
    c, c2 = np.zeros(11, int), np.full(11, K - 1)
    assert _relative_gradient(K, 0.3, c, c2, lam, loss="mse", norm=2.0) < 1e-12
    assert _relative_gradient(K, 0.3, c, c, lam, loss="mse", norm=2.0) < 1e-12


@pytest.mark.parametrize("K", [2, 3, 6])
@pytest.mark.parametrize("gamma", [0.05, 3.0, 400.0])
def test_ce_probabilities_solve_the_fixed_point(K, gamma):
    # p = softmax(z), z = gamma (t - p): the probabilities sum to 1 and the log-ratios are the
    # logit gaps, log(p_c / p_o) = gamma (t_c - p_c + p_o) (K > 2); for K = 2, p_o = 0 and
    # log(p_c / p_c2) = gamma (lam - p_c - (1 - lam) + p_c2).
    lam = np.array([0.0, 0.2, 0.5, 0.9])
    pc, pc2, po = etf.ce_probabilities(K, gamma, lam, same=False)
    np.testing.assert_allclose(pc + pc2 + (K - 2) * po, 1.0, rtol=1e-12)
    if K == 2:
        assert not po.any()
        np.testing.assert_allclose(
            np.log(pc / pc2), gamma * (2 * lam - 1 - pc + pc2), rtol=1e-9, atol=1e-9
        )
    else:
        np.testing.assert_allclose(np.log(pc / po), gamma * (lam - pc + po), rtol=1e-9, atol=1e-9)
        np.testing.assert_allclose(
            np.log(pc2 / po), gamma * (1 - lam - pc2 + po), rtol=1e-9, atol=1e-9
        )
    qc, qc2, qo = etf.ce_probabilities(K, gamma, np.ones(1), same=True)
    np.testing.assert_array_equal(qc2, qc)
    np.testing.assert_allclose(qc + (K - 1) * qo, 1.0, rtol=1e-12)
    np.testing.assert_allclose(np.log(qc / qo), gamma * (1 - qc + qo), rtol=1e-9)


# The two private root finders are self-correcting (bisection fallback, a final validity check),
# so a wrong step only shows as slow convergence: these tests pin the convergence order.


@pytest.mark.parametrize("x", [-3.0, 0.5, 2.0, 40.0])
def test_fritsch_step_converges_cubically(x):
    from scipy.special import wrightomega

    w = float(wrightomega(x))
    for rel in (1e-2, 1e-3):
        w1 = float(etf._fritsch(np.array(w * (1 + rel)), np.array(x)))
        # cubic: the error after one step is O(rel^3); 1e-3 -> ~1e-9 (with a margin of 100)
        assert abs(w1 - w) <= 100 * rel**3 * w + 4e-16 * w


@pytest.mark.parametrize("K", [2, 3, 10])
@pytest.mark.parametrize("gamma", [1.0, 5.0, 1e4])
def test_solve_beta_converges_in_a_few_halley_steps(K, gamma):
    from scipy.special import wrightomega

    lam = np.array([0.0, 0.3, 0.5, 0.97])
    u1, u2 = gamma * lam, gamma * (1 - lam)
    m = (1.0, 1.0, K - 2.0)
    beta = etf._solve_beta(gamma, K, u1, u2, *m, max_iter=12)
    f = wrightomega(u1 + beta) + wrightomega(u2 + beta) + (K - 2) * wrightomega(beta)
    np.testing.assert_allclose(f, gamma, rtol=1e-13)
    # same-class system (m2 = 0) and a warm start inside the bracket
    beta = etf._solve_beta(
        gamma, K, np.full(1, gamma), np.zeros(1), 1.0, 0.0, K - 1.0, beta0=np.zeros(1), max_iter=12
    )
    f = wrightomega(gamma + beta) + (K - 1) * wrightomega(beta)
    np.testing.assert_allclose(f, gamma, rtol=1e-13)


@pytest.mark.parametrize("K", [2, 3, 5])
def test_etf_optimum_is_stationary_where_probabilities_underflow(K):
    # mu = 1e-6: gamma ~ 1e6, the probabilities of the classes a point is not made of underflow
    # and their logs come from log omega(x) = x - omega(x).
    lam = np.linspace(0.0, 1.0, 9)
    assert _relative_gradient(K, 1e-6, np.zeros(9, int), np.ones(9, int), lam) < 1e-8


def test_etf_defaults_shapes_and_messages():
    assert etf.etf_scale(3) == 1.5  # norm 1: a = K / (K - 1)
    a = etf.etf_coefficients(3, 0.5, 0, 1, np.array([0.2, 0.7]))
    b = etf.etf_coefficients(3, 0.5, 0, 1, np.array([0.2, 0.7]), loss="ce")
    np.testing.assert_array_equal(a[0], b[0])
    assert etf.etf_coefficients(4, 0.5, np.array([0, 1]), 2, 0.5)[0].shape == (2,)
    assert etf.etf_coefficients(4, 0.5, 0, np.array([1, 2]), 0.5)[0].shape == (2,)
    with pytest.raises(ValueError, match=r"^norm must be > 0, got 0$"):
        etf.simplex_etf(3, 0)
    with pytest.raises(ValueError, match=r"^weight_decay must be a finite number > 0, got 0.0$"):
        etf.etf_coefficients(3, 0.0, 0, 1, 0.5)
    with pytest.raises(ValueError, match=r"^norm must be a finite number > 0, got -1.0$"):
        etf.etf_coefficients(3, 1.0, 0, 1, 0.5, norm=-1.0)
    with pytest.raises(ValueError, match=r"^c must hold integer class indices, got dtype float"):
        etf.etf_coefficients(3, 1.0, 0.0, 1, 0.5)
    with pytest.raises(ValueError, match=r"^c2 must hold class indices in \[0, 2\]$"):
        etf.etf_coefficients(3, 1.0, 0, 3, 0.5)
    with pytest.raises(ValueError, match=r"^c must hold class indices in \[0, 2\]$"):
        etf.etf_coefficients(3, 1.0, -1, 0, 0.5)
    with pytest.raises(ValueError, match=r"^lam must lie in \[0, 1\]$"):
        etf.etf_coefficients(3, 1.0, 0, 1, 1.5)
