"""High-precision (mpmath) reference of the CE simplex-ETF optimum, for the theory tests.

Not a test module: a helper imported by tests/test_theory_precision.py. Solves
y_k + log y_k = gamma t_k + beta, sum_k y_k = gamma (y_k = gamma p_k) at `dps` digits by Newton
on the single unknown v = log y_o (K >= 3) or beta (K == 2), in a bracket, and returns the
coefficients (A, B) of h = A w_c + B w_c2 (theory.etf's convention).
"""

from __future__ import annotations

import mpmath as mp


def _omega(x):
    """Wright omega: y + log y = x, by Newton (mpmath, current precision)."""
    y = x - mp.log(x) if x > 1 else mp.exp(x)
    for _ in range(200):
        step = (y + mp.log(y) - x) / (1 + 1 / y)
        y_new = y - step
        if y_new <= 0:
            y_new = y / 2
        if abs(y_new - y) <= abs(y) * mp.mpf(10) ** (-mp.mp.dps + 5):
            return y_new
        y = y_new
    return y


def reference_coefficients(K, mu, norm, c, c2, lam, dps=80):
    """(A, B) as floats, from an mpmath solve at `dps` digits."""
    with mp.workdps(dps):
        mu, norm, lam = mp.mpf(mu), mp.mpf(norm), mp.mpf(lam)
        a = norm**2 * K / (K - 1)
        gamma = a / mu
        same = c == c2
        ts = [mp.mpf(1)] if same else [lam, 1 - lam]
        n_zero = K - len(ts)

        def total(beta):
            ws = [_omega(gamma * t + beta) for t in ts] + [_omega(beta)]
            mult = [1] * len(ts) + [n_zero]
            f = sum(m * w for m, w in zip(mult, ws, strict=True)) - gamma
            return f, sum(m * w / (1 + w) for m, w in zip(mult, ws, strict=True))

        # total is increasing in beta: Newton inside a bracket, bisection when it leaves it.
        lo = -gamma - 10 - abs(mp.log(gamma)) * 2
        hi = gamma + mp.log(gamma) + 10
        while total(lo)[0] > 0:
            lo = 2 * lo - 1
        beta = hi
        for _ in range(2000):
            f, fp = total(beta)
            if f > 0:
                hi = beta
            else:
                lo = beta
            new = beta - f / fp
            if not lo < new < hi:
                new = (lo + hi) / 2
            if abs(new - beta) <= mp.mpf(10) ** (-dps + 10) * (1 + abs(beta)):
                beta = new
                break
            beta = new
        else:
            raise RuntimeError("mpmath reference did not converge")
        ys = [_omega(gamma * t + beta) for t in ts]
        if same:
            y_other = _omega(beta)
            if K == 2:
                A = (mp.log(ys[0]) - mp.log(y_other)) / a
            else:
                A = K * y_other / a
            return float(A), 0.0
        if K == 2:
            gap = (mp.log(ys[0]) - mp.log(ys[1])) / 2
            return float(gap / a), float(-gap / a)
        y0 = _omega(beta)
        return float((mp.log(ys[0]) - mp.log(y0)) / a), float((mp.log(ys[1]) - mp.log(y0)) / a)
