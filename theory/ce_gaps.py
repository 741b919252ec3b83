"""CE logit gaps of the simplex-ETF optimum for any gamma = a/mu, one gamma per point.

The optimum of argmin_h CE(W h, t) + (mu/2)||h||^2, W = simplex_etf(K, s), a = s^2 K/(K - 1),
t = lam e_c + (1 - lam) e_c2, is h = (d1 w_c + d2 w_c2) / a (theory.etf), with the logit gaps

    K >= 3, c != c2:  d1 = z_c - z_o,  d2 = z_c2 - z_o   (z_o: the logit shared by the others);
    K >= 3, c == c2:  d1 = z_c - z_o,  d2 = 0;
    K == 2:           d1 = (z_c - z_c2)/2 = -d2 (c != c2);  d1 = z_c - z_c2, d2 = 0 (c == c2).

With y_k = gamma p_k: y_k + log y_k = gamma t_k + beta (theory.etf). Two formulations, each
accurate where the other cancels:

- beta form (gamma <= GAMMA_SWITCH): the scalar beta is the root of sum_k omega(gamma t_k + beta)
  = gamma (theory.etf's solver, here with one gamma per point). For large gamma, beta ~ -gamma t_c
  and gamma t_c + beta loses all digits (issue 15: 42% off at gamma = 2e17).
- v form (gamma > GAMMA_SWITCH, K >= 3): the unknown is v = log y_o (y_o = gamma p_o), so
  beta = v + e^v is O(log gamma); with e_j = gamma t_j - y_j = log y_j - beta the sum condition
  sum_k y_k = gamma becomes, with no term of size gamma,

      F(v) = sum_{j in {c, c2}} m_j (log omega(gamma t_j + beta) - beta) - m_o e^v = 0,

  F decreasing in v; d_j = log y_j - v.
- K == 2 (gamma > GAMMA_SWITCH): one unknown delta = z_c - z_c2 with delta / (2 gamma) =
  lam - sigmoid(delta), the right side written with expm1 about delta = logit(lam).

relative_kkt gives the scale-invariant KKT residual: the Newton step of the reduced (1- or 2-D)
problem, measured in the norm of h and divided by ||h||, i.e. the first-order relative error of h,
with the gradient p - t evaluated without cancellation.
"""

from __future__ import annotations

import numpy as np
from scipy.special import expit, wrightomega

GAMMA_SWITCH = 1e6  # beta form at and below, v form above
EPS = np.finfo(float).eps


def ce_gaps(
    K: int, gamma: np.ndarray, lam: np.ndarray, same: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(d1, d2) at the CE optimum (see the module docstring), for arrays gamma, lam, same."""
    gamma, lam, same = np.broadcast_arrays(
        np.asarray(gamma, dtype=np.float64), np.asarray(lam, dtype=np.float64), np.asarray(same)
    )
    shape = gamma.shape
    gamma, lam, same = gamma.ravel(), lam.ravel(), same.ravel().astype(bool)
    d1, d2 = np.zeros(gamma.size), np.zeros(gamma.size)
    big = gamma > GAMMA_SWITCH
    if (~big).any():
        d1[~big], d2[~big] = _beta_form(K, gamma[~big], lam[~big], same[~big])
    if big.any():
        solver = _delta_form if K == 2 else _v_form
        d1[big], d2[big] = solver(K, gamma[big], lam[big], same[big])
    if K == 2:  # lam = 1/2 of two classes: h = 0 exactly (symmetry), not rounding noise
        d1[~same & (lam == 0.5)] = 0.0
        d2[~same & (lam == 0.5)] = 0.0
    return d1.reshape(shape), d2.reshape(shape)


def _beta_form(
    K: int, gamma: np.ndarray, lam: np.ndarray, same: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    u1 = np.where(same, gamma, gamma * lam)
    u2 = np.where(same, 0.0, gamma * (1.0 - lam))
    m2 = np.where(same, 0.0, 1.0)
    m0 = np.where(same, K - 1.0, K - 2.0)
    beta = _solve_beta(gamma, K, u1, u2, m2, m0)
    y1, y2, y0 = wrightomega(u1 + beta), wrightomega(u2 + beta), wrightomega(beta)
    with np.errstate(divide="ignore"):
        l1 = np.where(y1 > 1e-300, np.log(np.maximum(y1, 1e-300)), u1 + beta - y1)
        l2 = np.where(y2 > 1e-300, np.log(np.maximum(y2, 1e-300)), u2 + beta - y2)
        l0 = np.where(y0 > 1e-300, np.log(np.maximum(y0, 1e-300)), beta - y0)
    if K == 2:
        # same: d1 = z_c - z_c2 = log(y1 / y2); different: d1 = (z_c - z_c2) / 2.
        log_gap = np.where(same, l1 - l2, 0.5 * (l1 - l2))
        direct = np.where(same, 2.0 * (gamma - y1), gamma * lam - y1)
        p0 = 0.0
    else:
        log_gap = l1 - l0
        p0 = y0 / gamma
        direct = np.where(same, K * y0, gamma * (lam - y1 / gamma + p0))
    use_log = np.maximum(np.abs(l1), np.maximum(np.abs(l2), np.abs(l0))) < gamma
    d1 = np.where(use_log, log_gap, direct)
    if K == 2:
        d2 = np.where(same, 0.0, -d1)
    else:
        log2 = l2 - l0
        direct2 = gamma * (1.0 - lam - y2 / gamma + p0)
        d2 = np.where(same, 0.0, np.where(use_log, log2, direct2))
    return d1, d2


def _solve_beta(
    gamma: np.ndarray,
    K: int,
    u1: np.ndarray,
    u2: np.ndarray,
    m2: np.ndarray,
    m0: np.ndarray,
    max_iter: int = 200,
) -> np.ndarray:
    """Root of omega(u1+b) + m2 omega(u2+b) + m0 omega(b) = gamma (theory.etf._solve_beta with
    one gamma and multiplicities per point): safeguarded Halley inside a shrinking bracket."""
    u_max = np.where(m2 > 0, np.maximum(u1, u2), u1)
    lo = gamma / K + np.log(gamma / K) - u_max
    hi = gamma + np.log(gamma) - u_max
    beta = hi.copy()
    active = np.ones(beta.shape, dtype=bool)
    for _ in range(max_iter):
        idx = np.flatnonzero(active)
        if idx.size == 0:
            break
        b, g = beta[idx], gamma[idx]
        w1, w2, w0 = wrightomega(u1[idx] + b), wrightomega(u2[idx] + b), wrightomega(b)
        n2, n0 = m2[idx], m0[idx]
        f = w1 + n2 * w2 + n0 * w0 - g
        q1, q2, q0 = w1 / (1 + w1), w2 / (1 + w2), w0 / (1 + w0)
        d1 = q1 + n2 * q2 + n0 * q0
        dd = q1 / (1 + w1) ** 2 + n2 * q2 / (1 + w2) ** 2 + n0 * q0 / (1 + w0) ** 2
        lo_a = np.where(f < 0, b, lo[idx])
        hi_a = np.where(f > 0, b, hi[idx])
        newton = f / d1
        new = b - newton / (1.0 - 0.5 * newton * dd / d1)
        outside = ~((new >= lo_a) & (new <= hi_a)) | ~np.isfinite(new)
        new = np.where(outside, 0.5 * (lo_a + hi_a), new)
        tol = 4 * EPS * (1.0 + np.abs(b))
        done = (np.abs(new - b) <= tol) | (f == 0) | (hi_a - lo_a <= tol)
        beta[idx], lo[idx], hi[idx] = new, lo_a, hi_a
        active[idx[done]] = False
    return beta


def _v_form(
    K: int, gamma: np.ndarray, lam: np.ndarray, same: np.ndarray, max_iter: int = 300
) -> tuple[np.ndarray, np.ndarray]:
    """K >= 3, large gamma: Newton on F(v) (module docstring), bracketed, bisection fallback."""
    u1 = np.where(same, gamma, gamma * lam)
    u2 = np.where(same, 0.0, gamma * (1.0 - lam))
    m2 = np.where(same, 0.0, 1.0)
    m0 = np.where(same, K - 1.0, K - 2.0)
    # Bracket: F(hi) <= 0 at y_o = gamma/K; F(lo) > 0 because every gap is <= 2 gamma.
    hi = np.log(gamma / K)
    lo = np.log(gamma) - 2.0 * gamma - np.log(K + 2.0)
    v = _v_start(K, gamma, lam, same, lo, hi)
    active = np.ones(v.shape, dtype=bool)
    for _ in range(max_iter):
        idx = np.flatnonzero(active)
        if idx.size == 0:
            break
        x = v[idx]
        y0 = np.exp(x)
        beta = x + y0
        y1, y2 = wrightomega(u1[idx] + beta), wrightomega(u2[idx] + beta)
        f = (_log_omega(y1, u1[idx] + beta) - beta) - m0[idx] * y0
        f = f + m2[idx] * (_log_omega(y2, u2[idx] + beta) - beta)
        fp = -(1.0 + y0) * (y1 / (1.0 + y1) + m2[idx] * y2 / (1.0 + y2)) - m0[idx] * y0
        lo_a = np.where(f > 0, x, lo[idx])
        hi_a = np.where(f < 0, x, hi[idx])
        new = x - f / fp
        outside = ~((new >= lo_a) & (new <= hi_a)) | ~np.isfinite(new)
        new = np.where(outside, 0.5 * (lo_a + hi_a), new)
        tol = 4 * EPS * (1.0 + np.abs(x))
        done = (np.abs(new - x) <= tol) | (f == 0) | (hi_a - lo_a <= tol)
        v[idx], lo[idx], hi[idx] = new, lo_a, hi_a
        active[idx[done]] = False
    beta = v + np.exp(v)
    d1 = _log_omega(wrightomega(u1 + beta), u1 + beta) - v
    d2 = np.where(same, 0.0, _log_omega(wrightomega(u2 + beta), u2 + beta) - v)
    return d1, d2


def _log_omega(y: np.ndarray, x: np.ndarray) -> np.ndarray:
    """log(y) for y = omega(x), also where y underflows (log omega(x) = x - omega(x))."""
    with np.errstate(divide="ignore"):
        return np.where(y > 1e-300, np.log(np.maximum(y, 1e-300)), x - y)


def _v_start(
    K: int, gamma: np.ndarray, lam: np.ndarray, same: np.ndarray, lo: np.ndarray, hi: np.ndarray
) -> np.ndarray:
    """Large-gamma start: K e^v = sum_{t_j > 0} (log(gamma t_j) - v) (y_j ~ gamma t_j), Newton."""
    with np.errstate(divide="ignore"):
        l1 = np.log(np.where(same, gamma, gamma * lam))
        l2 = np.log(gamma * (1.0 - lam))
    pos1 = np.where(same, True, lam > 0)
    pos2 = ~same & (lam < 1)
    n = pos1.astype(float) + pos2
    S = np.where(pos1, l1, 0.0) + np.where(pos2, l2, 0.0)
    m_sum = float(K)  # K y_o = d1 + d2 (c != c2) or d1 (c == c2)
    v = np.log(np.maximum(S, 1.0) / m_sum)
    for _ in range(40):
        g = m_sum * np.exp(v) + n * v - S
        v = v - g / (m_sum * np.exp(v) + n)
    v = np.where(np.isfinite(v), v, hi)
    return np.clip(v, lo, hi)


def _delta_form(
    K: int, gamma: np.ndarray, lam: np.ndarray, same: np.ndarray, max_iter: int = 300
) -> tuple[np.ndarray, np.ndarray]:
    """K == 2: delta = z_c - z_c2 solves delta / (2 gamma) = lam - sigmoid(delta)."""
    lam = np.where(same, 1.0, lam)
    lo, hi = -2.0 * gamma, 2.0 * gamma
    with np.errstate(divide="ignore"):
        logit = np.log(lam) - np.log1p(-lam)
        end = np.log(2.0 * gamma) - np.log(np.log(2.0 * gamma))
    delta = np.where(lam >= 1, end, np.where(lam <= 0, -end, logit))
    delta = np.clip(delta, lo, hi)
    active = np.ones(delta.shape, dtype=bool)
    for _ in range(max_iter):
        idx = np.flatnonzero(active)
        if idx.size == 0:
            break
        x, g = delta[idx], gamma[idx]
        f = x / (2.0 * g) - lam_minus_sigmoid(lam[idx], x)
        fp = 1.0 / (2.0 * g) + expit(x) * expit(-x)
        lo_a = np.where(f < 0, x, lo[idx])
        hi_a = np.where(f > 0, x, hi[idx])
        new = x - f / fp
        outside = ~((new >= lo_a) & (new <= hi_a)) | ~np.isfinite(new)
        new = np.where(outside, 0.5 * (lo_a + hi_a), new)
        tol = 4 * EPS * np.abs(x) + 1e-300
        done = (np.abs(new - x) <= tol) | (f == 0) | (hi_a - lo_a <= tol)
        delta[idx], lo[idx], hi[idx] = new, lo_a, hi_a
        active[idx[done]] = False
    d1 = np.where(same, delta, 0.5 * delta)
    return d1, np.where(same, 0.0, -d1)


def lam_minus_sigmoid(lam: np.ndarray, x: np.ndarray) -> np.ndarray:
    """lam - sigmoid(x) without cancellation near x = logit(lam) (expm1 about the root)."""
    lam, x = np.broadcast_arrays(np.asarray(lam, float), np.asarray(x, float))
    inner = (lam > 0) & (lam < 1)
    lam_i = np.where(inner, lam, 0.5)
    u = x - (np.log(lam_i) - np.log1p(-lam_i))
    k = lam_i * (1.0 - lam_i)
    un, up = np.minimum(u, 0.0), np.maximum(u, 0.0)
    with np.errstate(over="ignore", invalid="ignore"):
        neg = k * (-np.expm1(un)) / (lam_i * np.exp(un) + 1 - lam_i)
        pos = k * np.expm1(-up) / (lam_i + (1 - lam_i) * np.exp(-up))
    mid = np.where(u <= 0, neg, pos)
    return np.where(lam >= 1, expit(-x), np.where(lam <= 0, -expit(x), mid))


def ce_residuals(
    K: int, lam: np.ndarray, same: np.ndarray, d1: np.ndarray, d2: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(r1, r2, p_c, p_c2, p_o) with r1 = t_c - p_c, r2 = t_c2 - p_c2 without cancellation, K >= 3.

    Logits (d1, d2, 0 x (K - 2)) for c != c2; (d1, 0 x (K - 1)) and r2 = p_c2 = 0 for c == c2.
    The bracket lam p_c2 - (1 - lam) p_c of r1 = lam m p_o + (lam p_c2 - (1 - lam) p_c) is
    written with expm1 about its zero; r2 = m p_o - r1 (sum_k p_k = 1).
    """
    m = np.where(same, K - 1.0, K - 2.0)
    d2 = np.where(same, -np.inf, d2)
    mx = np.maximum(np.maximum(d1, d2), 0.0)
    e1, e2, e0 = np.exp(d1 - mx), np.exp(d2 - mx), np.exp(-mx)
    denom = e1 + e2 + m * e0
    pc, pc2, po = e1 / denom, e2 / denom, e0 / denom
    inner = (lam > 0) & (lam < 1) & ~same
    lam_i = np.where(inner, lam, 0.5)
    with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
        u = (np.log(lam_i) - np.log1p(-lam_i)) - (d1 - d2)  # logit(lam) - (d1 - d2)
        bracket = np.where(u <= 0, (1.0 - lam_i) * pc * np.expm1(u), -lam_i * pc2 * np.expm1(-u))
    r1 = np.where(same, m * po, np.where(lam >= 1, pc2 + m * po, -pc))
    r1 = np.where(inner, lam_i * m * po + bracket, r1)
    r2 = np.where(same, 0.0, m * po - r1)
    return r1, r2, pc, pc2, po


def relative_kkt(
    K: int, gamma: np.ndarray, lam: np.ndarray, same: np.ndarray, d1: np.ndarray, d2: np.ndarray
) -> np.ndarray:
    """Relative KKT residual of gaps (d1, d2) for CE + (mu/2)||h||^2 at gamma = a/mu.

    The Newton step s of the reduced problem, measured in the norm of h, over ||h||: scale
    invariant, zero exactly at the optimum, and of the size of the relative error of h near it.
    """
    gamma, lam, same, d1, d2 = np.broadcast_arrays(
        *(np.asarray(x, dtype=float) for x in (gamma, lam, same, d1, d2))
    )
    same = same.astype(bool)
    if K == 2:
        delta = np.where(same, d1, 2.0 * d1)
        lam_e = np.where(same, 1.0, lam)
        grad = delta / (2.0 * gamma) - lam_minus_sigmoid(lam_e, delta)
        hess = 1.0 / (2.0 * gamma) + expit(delta) * expit(-delta)
        return _ratio(np.abs(grad / hess), np.abs(delta))
    r1, r2, pc, pc2, po = ce_residuals(K, lam, same, d1, d2)
    m = np.where(same, K - 1.0, K - 2.0)
    n11, n12 = (K - 1.0) / (K * gamma), -1.0 / (K * gamma)  # Hessian of Q/(2 gamma)
    g1 = -r1 + (K - 1.0) / K * d1 / gamma - np.where(same, 0.0, d2 / (K * gamma))
    g2 = -r2 + np.where(same, 0.0, (K - 1.0) / K * d2 / gamma - d1 / (K * gamma))
    # Softmax Hessian S = diag(p) - p p^T on (c, c2) with 1 - p_c = p_c2 + m p_o: no cancellation;
    # det(S + N) = det S + det N + S11 N22 + S22 N11 - 2 S12 N12, every term >= 0.
    s11, s22, s12 = pc * (pc2 + m * po), pc2 * (pc + m * po), -pc * pc2
    h11, h22, h12 = s11 + n11, s22 + n11, s12 + n12
    det = pc * pc2 * m * po + (K - 2.0) / (K * gamma**2) + n11 * (s11 + s22) - 2 * s12 * n12
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        s1 = np.where(same, g1 / h11, (h22 * g1 - h12 * g2) / det)
        s2 = np.where(same, 0.0, (h11 * g2 - h12 * g1) / det)
        d2z = np.where(same, 0.0, d2)
        return _ratio(np.sqrt(_quad(K, s1, s2)), np.sqrt(_quad(K, d1, d2z)))


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """num / den with 0/0 = 0 (the optimum h = 0 with a zero step) and x/0 = inf."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(num == 0, 0.0, num / den)


def _quad(K: int, x1: np.ndarray, x2: np.ndarray) -> np.ndarray:
    """a ||h||^2 for h = (x1 w_c + x2 w_c2)/a: ((K-1)(x1^2 + x2^2) - 2 x1 x2) / K (scaled)."""
    m = np.maximum(np.abs(x1), np.abs(x2))
    m = np.where(m > 0, m, 1.0)
    y1, y2 = x1 / m, x2 / m
    return m * m * ((K - 1.0) * (y1 * y1 + y2 * y2) - 2.0 * y1 * y2) / K
