"""The CE root finders of theory/etf.py converge as fast as designed (issue 16).

Both are self-correcting (a bracket with bisection; a validity check sending bad points to the
exact solver), so a wrong derivative, tolerance or start shows only as extra work. These tests
pin the work: Halley's iteration count from the upper end of the bracket, and that the fast path
for many lambda values sends almost no point to the safeguarded solver beyond its grid.
"""

import numpy as np
import pytest
from scipy.special import wrightomega

from theory import etf

LAM = np.array([0.0, 0.1, 0.3, 0.5, 0.77, 0.97, 1.0])
# (K, gamma) -> the iterations safeguarded Halley needs from the upper end of the bracket to
# reach f = gamma to 1e-13 on LAM (measured on 2026-12-06; one more is allowed, a Newton step
# instead of Halley's, or a bisection, needs several more)
ITERATIONS = {
    (2, 1.0): 7,
    (2, 5.0): 3,
    (2, 100.0): 5,
    (2, 1e4): 3,
    (3, 1.0): 4,
    (3, 100.0): 3,
    (3, 1e6): 3,
    (10, 1.0): 4,
    (10, 1e4): 4,
}


@pytest.mark.parametrize("K, gamma", list(ITERATIONS))
def test_halley_reaches_machine_precision_in_its_iterations(K, gamma):
    u1, u2 = gamma * LAM, gamma * (1 - LAM)
    beta = etf._solve_beta(gamma, K, u1, u2, 1.0, 1.0, K - 2.0, max_iter=ITERATIONS[K, gamma] + 1)
    f = wrightomega(u1 + beta) + wrightomega(u2 + beta) + (K - 2) * wrightomega(beta)
    np.testing.assert_allclose(f, gamma, rtol=1e-13, atol=0)


def test_halley_same_class_system_and_warm_start():
    K, gamma = 4, 30.0
    u1, u2 = np.full(3, gamma), np.zeros(3)
    exact = etf._solve_beta(gamma, K, u1, u2, 1.0, 0.0, K - 1.0)
    f = wrightomega(gamma + exact) + (K - 1) * wrightomega(exact)
    np.testing.assert_allclose(f, gamma, rtol=1e-14)
    # started at the root, it stays there after one iteration
    warm = etf._solve_beta(gamma, K, u1, u2, 1.0, 0.0, K - 1.0, beta0=exact.copy(), max_iter=1)
    np.testing.assert_allclose(warm, exact, rtol=1e-15, atol=1e-15)
    # a start outside the bracket is clipped into it (and still converges)
    far = etf._solve_beta(gamma, K, u1, u2, 1.0, 0.0, K - 1.0, beta0=np.array([-1e9, 0.0, 1e9]))
    np.testing.assert_allclose(far, exact, rtol=1e-14, atol=1e-14)


@pytest.mark.parametrize("K, gamma", [(2, 3.0), (3, 0.5), (3, 40.0), (10, 1e3)])
def test_many_lambdas_go_to_the_safeguarded_solver_only_on_the_grid(K, gamma, monkeypatch):
    calls = []
    solve = etf._solve_beta

    def counting(*args, **kwargs):
        calls.append(np.size(args[2]))
        return solve(*args, **kwargs)

    monkeypatch.setattr(etf, "_solve_beta", counting)
    lam = np.linspace(0.0, 1.0, etf._INTERP_MIN_POINTS + 3)
    p1, p2, p0 = etf.ce_probabilities(K, gamma, lam, same=False)
    # the grid, then at most a few percent of the points (K = 10, gamma = 1e3: 48 of 4099,
    # where the others' probability underflows): a broken fast path sends them all
    assert calls[0] == etf._INTERP_GRID and sum(calls[1:]) <= 0.02 * len(lam)
    monkeypatch.setattr(etf, "_solve_beta", solve)
    q1, q2, q0 = etf.ce_probabilities(K, gamma, lam[:: etf._INTERP_MIN_POINTS // 8], same=False)
    step = etf._INTERP_MIN_POINTS // 8
    np.testing.assert_allclose(p1[::step], q1, rtol=1e-13)
    np.testing.assert_allclose(p2[::step], q2, rtol=1e-13)
    np.testing.assert_allclose(p0[::step], q0, rtol=1e-13, atol=1e-300)
    assert np.all(p1 >= 0) and np.all(p0 >= 0)
    np.testing.assert_allclose(p1 + p2 + (K - 2) * p0, 1.0, rtol=1e-13)
