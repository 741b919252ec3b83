"""Closed-form optimal features of the mixup UFM for a simplex-ETF classifier (SPEC section 2).

For one mixed example of classes (c, c2) with coefficient lam, soft target
t = lam e_c + (1 - lam) e_c2, classifier W = simplex_etf(K, s) and bias 0, the optimal feature is

    h*(c, c2, lam) = argmin_h  loss(W h, t) + (mu/2) ||h||^2,

with loss(z, t) = -sum_k t_k log softmax(z)_k (CE) or sum_k (z_k - t_k)^2 (MSE, the convention of
the training code: no 1/2). W W^T = a (I - 11^T/K) with a = s^2 K / (K - 1), and h* always lies in
span{w_c, w_c2}:  h* = A w_c + B w_c2.

CE: with gamma = a / mu, z = W h* satisfies z = gamma (t - p), p = softmax(z), hence
gamma p_k = omega(gamma t_k + beta) (omega: Wright omega) with the scalar beta fixed by
sum_k omega(gamma t_k + beta) = gamma. All classes other than c, c2 share one probability p_o and

    c != c2:  A = (lam - p_c + p_o) / mu,   B = (1 - lam - p_c2 + p_o) / mu;
    c == c2:  A = (1 - p_c + p_o) / mu = K p_o / mu,   B = 0.

(The c != c2 formula must not be applied with c == c2: it would count the target twice and give
(1 - 2 p_c + 2 p_o) w_c. For c == c2 we report the whole coefficient in A and B = 0.)
Equivalently A = (z_c - z_o) / a = log(p_c / p_o) / a (h* = W^T z / a, sum_k w_k = 0); the code
uses, per point, whichever of the two forms is better conditioned.

MSE: h* = W^T t / (a + mu/2), so A = lam / (a + mu/2), B = (1 - lam) / (a + mu/2) (c == c2:
A = 1 / (a + mu/2), B = 0): affine in lam, the straight segment between the class optima.

The scalar root depends only on (K, gamma, lam, c == c2): the distinct target values are lam,
1 - lam and 0 (multiplicity K - 2), or 1 and 0 (multiplicity K - 1). So the work per point is O(1),
and the root is solved once per distinct (lam, same-class) value and gathered.
"""

from __future__ import annotations

import numpy as np
from scipy.special import wrightomega

from theory.ce_gaps import GAMMA_SWITCH, ce_gaps

LOSSES = ("ce", "mse")
GAMMA_MIN, GAMMA_MAX = 1e-30, 1e26  # gamma = a / mu, range checked against mpmath
_INTERP_MIN_POINTS = 4096  # above this many lam values, start the root solve from a grid
_INTERP_GRID = 257


def simplex_etf(K: int, norm: float = 1.0) -> np.ndarray:
    """Rows w_k of a simplex ETF in R^K: ||w_k|| = norm, <w_k, w_j> = -norm^2/(K-1), sum_k w_k = 0.

    W = norm * sqrt(K / (K - 1)) * (I - 11^T / K), so W W^T = a (I - 11^T/K), a = norm^2 K/(K-1).
    """
    K = _check_classes(K)
    if not norm > 0:
        raise ValueError(f"norm must be > 0, got {norm}")
    return norm * np.sqrt(K / (K - 1.0)) * (np.eye(K) - np.full((K, K), 1.0 / K))


def etf_scale(K: int, norm: float = 1.0) -> float:
    """a with W W^T = a (I - 11^T/K) for W = simplex_etf(K, norm): a = norm^2 K / (K - 1)."""
    return float(norm) ** 2 * K / (K - 1.0)


def etf_coefficients(
    K: int,
    weight_decay: float,
    c: np.ndarray | int,
    c2: np.ndarray | int,
    lam: np.ndarray | float,
    norm: float = 1.0,
    loss: str = "ce",
    *,
    penalty_power: float = 2.0,
) -> tuple[np.ndarray, np.ndarray]:
    """(A, B) with h*(c, c2, lam) = A w_c + B w_c2 for argmin_h loss(W h, t) + mu/p ||h||^p.

    W = simplex_etf(K, norm), t = lam e_c + (1 - lam) e_c2; c, c2, lam broadcast together and A, B
    have the broadcast shape. For c == c2, B = 0 and A carries the whole coefficient. h itself is
    never formed (cost O(1) per point; the CE root is solved once per distinct lam).
    penalty_power p in (0, 2]: p = 2 is the model above; p != 2 is theory.etf_power (the global
    optimum, also for the non-convex p < 1). gamma = a/mu must lie in [GAMMA_MIN, GAMMA_MAX]
    (1e-30 to 1e26, checked against an 80-digit reference; ValueError outside).
    """
    K = _check_classes(K)
    mu = _check_positive(weight_decay, "weight_decay")
    _check_positive(norm, "norm")
    p = check_penalty_power(penalty_power)
    c_arr, c2_arr, lam_arr = _check_points(K, c, c2, lam)
    shape = np.broadcast_shapes(c_arr.shape, c2_arr.shape, lam_arr.shape)
    same = np.broadcast_to(c_arr == c2_arr, shape)
    a = _check_gamma(K, mu, norm)
    if loss not in LOSSES:
        raise ValueError(f"unknown loss {loss!r}: expected one of {LOSSES}")
    if p != 2.0:
        from theory.etf_power import power_coefficients

        return power_coefficients(K, mu, a, same, np.broadcast_to(lam_arr, shape), p, loss)
    if loss == "mse":
        scale = 1.0 / (a + 0.5 * mu)
        lam_b = np.broadcast_to(lam_arr, shape)
        A = np.where(same, scale, lam_b * scale)
        B = np.where(same, 0.0, (1.0 - lam_b) * scale)
        return A, B
    if loss != "ce":
        raise ValueError(f"unknown loss {loss!r}: expected one of {LOSSES}")
    gamma = a / mu
    # Solve once per distinct lam of the un-broadcast lam array, then gather.
    lam_u, inverse = np.unique(lam_arr.ravel(), return_inverse=True)
    inverse = np.broadcast_to(inverse.reshape(lam_arr.shape), shape)
    if gamma > GAMMA_SWITCH:  # the beta form cancels here (issue 15): the v / delta forms
        gap_c, gap_c2 = ce_gaps(K, gamma, lam_u, False)
        coef_same = ce_gaps(K, gamma, 1.0, True)[0] / a
    else:
        gap_c, gap_c2 = _ce_logit_gaps(K, gamma, lam_u)
        y_same = _ce_roots(K, gamma, np.ones(1), same=True)[2]
        coef_same = K * y_same[0] / a  # (1 - p_c + p_o) / mu = K p_o / mu: no cancellation
    A = np.where(same, coef_same, (gap_c / a)[inverse])
    B = np.where(same, 0.0, (gap_c2 / a)[inverse])
    return A, B


def _ce_logit_gaps(K: int, gamma: float, lam: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(z_c - z_o, z_c2 - z_o) at the CE optimum, c != c2 (z_o := (z_c + z_c2)/2 when K = 2).

    Two exact expressions, each accurate where the other cancels: gamma (lam - p_c + p_o) (absolute
    error ~ eps gamma) and log(y_c) - log(y_o) = log(p_c / p_o) (absolute error ~ eps |log y|);
    per point the one with the smaller error bound is used.
    """
    y1, y2, y0, beta = _ce_roots(K, gamma, lam, same=False)
    logs = [_log_omega(y, x) for y, x in ((y1, gamma * lam + beta), (y2, gamma * (1 - lam) + beta))]
    if K == 2:
        log0 = 0.5 * (logs[0] + logs[1])
        p0 = np.zeros_like(y0)
    else:
        log0, p0 = _log_omega(y0, beta), y0 / gamma
    direct_c = gamma * (lam - y1 / gamma + p0)
    direct_c2 = gamma * (1.0 - lam - y2 / gamma + p0)
    use_log = np.maximum(np.maximum(np.abs(logs[0]), np.abs(logs[1])), np.abs(log0)) < gamma
    gap_c = np.where(use_log, logs[0] - log0, direct_c)
    gap_c2 = np.where(use_log, logs[1] - log0, direct_c2)
    return gap_c, gap_c2


def _log_omega(y: np.ndarray, x: np.ndarray) -> np.ndarray:
    """log(y) for y = omega(x), also where y underflows (log omega(x) = x - omega(x))."""
    with np.errstate(divide="ignore"):
        return np.where(y > 1e-300, np.log(np.maximum(y, 1e-300)), x - y)


def etf_optimum(
    K: int,
    weight_decay: float,
    c: np.ndarray | int,
    c2: np.ndarray | int,
    lam: np.ndarray | float,
    norm: float = 1.0,
    loss: str = "ce",
    *,
    penalty_power: float = 2.0,
) -> np.ndarray:
    """h*(c, c2, lam) = argmin_h loss(W h, t) + mu/p ||h||^p for W = simplex_etf(K, norm), b = 0.

    t = lam e_c + (1 - lam) e_c2; p = penalty_power in (0, 2] (default 2: mu/2 ||h||^2). Returns
    shape broadcast(c, c2, lam).shape + (K,), i.e. (n, K) for 1-D inputs. See etf_coefficients.
    """
    A, B = etf_coefficients(
        K, weight_decay, c, c2, lam, norm=norm, loss=loss, penalty_power=penalty_power
    )
    W = simplex_etf(K, norm)
    c_b = np.broadcast_to(np.asarray(c), A.shape)
    c2_b = np.broadcast_to(np.asarray(c2), A.shape)
    return A[..., None] * W[c_b] + B[..., None] * W[c2_b]


def ce_probabilities(
    K: int, gamma: float, lam: np.ndarray, same: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(p_c, p_c2, p_o) of p = softmax(z) at the CE optimum z = gamma (t - p), sum z = 0.

    gamma p_k = omega(gamma t_k + beta), beta the root of sum_k omega(gamma t_k + beta) = gamma.
    same=True: t = e_c (p_c2 is returned equal to p_c); else t = lam e_c + (1 - lam) e_c2 and
    p_o = 0 when K = 2 (there is no other class).
    """
    y1, y2, y0, _ = _ce_roots(K, gamma, lam, same)
    return y1 / gamma, y2 / gamma, y0 / gamma


def _ce_roots(
    K: int, gamma: float, lam: np.ndarray, same: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(y_c, y_c2, y_o, beta): y_k = gamma p_k = omega(gamma t_k + beta) (y_o = 0 if no other)."""
    lam = np.asarray(lam, dtype=np.float64)
    if same:
        u1, u2 = gamma * np.ones_like(lam), np.zeros_like(lam)
        m = (1.0, 0.0, K - 1.0)
    else:
        u1, u2 = gamma * lam, gamma * (1.0 - lam)
        m = (1.0, 1.0, K - 2.0)
    if not same and lam.size > _INTERP_MIN_POINTS:
        return _ce_roots_many(K, gamma, lam, u1, u2, m)
    beta = _solve_beta(gamma, K, u1, u2, *m)
    y1 = wrightomega(u1 + beta)
    y2 = y1 if same else wrightomega(u2 + beta)
    y0 = wrightomega(beta) if m[2] > 0 else np.zeros_like(beta)
    return y1, y2, y0, beta


def _ce_roots_many(
    K: int,
    gamma: float,
    lam: np.ndarray,
    u1: np.ndarray,
    u2: np.ndarray,
    m: tuple[float, float, float],
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """_ce_roots for many distinct lam (c != c2), without a Wright omega call per point.

    beta and the y's are smooth in lam: solve exactly on a grid, interpolate, then take Newton
    steps on the whole system (y_k + log y_k = u_k + beta, sum_k m_k y_k = gamma), each y refined
    by Fritsch's step for omega (one log). Points whose residuals are not at machine precision
    afterwards (or whose y underflows) go through the safeguarded solver.
    """
    grid = np.linspace(lam.min(), lam.max(), _INTERP_GRID)
    g1, g2, g0, gb = _ce_roots(K, gamma, grid, same=False)
    beta = np.interp(lam, grid, gb)
    ys = [np.interp(lam, grid, g) for g in (g1, g2, g0)]
    us = (u1, u2, 0.0)
    live = [j for j in range(3) if m[j] > 0]
    with np.errstate(all="ignore"):
        for _ in range(2):
            for j in live:
                ys[j] = _fritsch(ys[j], us[j] + beta)
            f = sum(m[j] * ys[j] for j in live) - gamma
            beta = beta - f / sum(m[j] * ys[j] / (1.0 + ys[j]) for j in live)
        for j in live:
            ys[j] = _fritsch(_fritsch(ys[j], us[j] + beta), us[j] + beta)
        eps = np.finfo(float).eps
        f = sum(m[j] * ys[j] for j in live) - gamma
        ok = np.abs(f) <= 16 * eps * gamma
        for j in live:
            x = us[j] + beta
            ok &= (ys[j] > 1e-250) & (
                np.abs(x - ys[j] - np.log(ys[j])) <= 16 * eps * (1 + np.abs(x))
            )
    if not ok.all():
        bad = ~ok
        beta[bad] = _solve_beta(gamma, K, u1[bad], u2[bad], *m)
        for j in live:
            ys[j][bad] = wrightomega(np.asarray(us[j] + beta)[bad])
    if m[2] == 0:
        ys[2] = np.zeros_like(beta)
    return ys[0], ys[1], ys[2], beta


def _fritsch(w: np.ndarray, x: np.ndarray) -> np.ndarray:
    """One Fritsch-Shafer-Crowley step towards omega(x) from w > 0 (cubic convergence)."""
    r = x - w - np.log(w)
    a = (1.0 + w) * (1.0 + w + 2.0 * r / 3.0)
    return w * (1.0 + r / (1.0 + w) * (a - 0.5 * r) / (a - r))


def _solve_beta(
    gamma: float,
    K: int,
    u1: np.ndarray,
    u2: np.ndarray,
    m1: float,
    m2: float,
    m0: float,
    beta0: np.ndarray | None = None,
    max_iter: int = 100,
) -> np.ndarray:
    """Root beta of f(beta) = m1 w(u1+beta) + m2 w(u2+beta) + m0 w(beta) - gamma, w = omega.

    f is increasing and convex. Safeguarded Halley: the root is bracketed by
    [gamma/K + log(gamma/K) - u_max, gamma + log(gamma) - u_max] (omega^-1(y) = y + log y), every
    iterate that leaves the current bracket is replaced by bisection, and the bracket shrinks
    with the sign of f. Starts from beta0 (clipped into the bracket) or the upper end. Stops at
    machine precision.
    """
    u_max = u1 if m2 == 0 else np.maximum(u1, u2)
    lo = gamma / K + np.log(gamma / K) - u_max
    hi = gamma + np.log(gamma) - u_max
    beta = hi.copy() if beta0 is None else np.clip(beta0, lo, hi)
    active = np.ones(beta.shape, dtype=bool)
    for _ in range(max_iter):
        b = beta[active]
        w1 = wrightomega(u1[active] + b)
        w2 = wrightomega(u2[active] + b) if m2 else 0.0
        w0 = wrightomega(b) if m0 else 0.0
        f = m1 * w1 + m2 * w2 + m0 * w0 - gamma
        q1, q2, q0 = w1 / (1 + w1), w2 / (1 + w2), w0 / (1 + w0)  # omega' = omega / (1 + omega)
        d1 = m1 * q1 + m2 * q2 + m0 * q0
        d2 = m1 * q1 / (1 + w1) ** 2 + m2 * q2 / (1 + w2) ** 2 + m0 * q0 / (1 + w0) ** 2
        lo_a, hi_a = lo[active], hi[active]
        lo_a = np.where(f < 0, b, lo_a)
        hi_a = np.where(f > 0, b, hi_a)
        newton = f / d1
        step = newton / (1.0 - 0.5 * newton * d2 / d1)  # Halley
        new = b - step
        outside = ~((new > lo_a) & (new < hi_a)) | ~np.isfinite(new)
        new = np.where(outside, 0.5 * (lo_a + hi_a), new)
        tol = 4 * np.finfo(float).eps * (1.0 + np.abs(b))
        done = (np.abs(new - b) <= tol) | (f == 0) | (hi_a - lo_a <= tol)
        idx = np.flatnonzero(active)
        beta[idx] = new
        lo[idx], hi[idx] = lo_a, hi_a
        active[idx[done]] = False
        if not active.any():
            break
    return beta


def check_penalty_power(p: float) -> float:
    """p as a float if 0 < p <= 2 (finite), else ValueError naming penalty_power."""
    try:
        value = float(p)
    except (TypeError, ValueError):
        raise ValueError(f"penalty_power must be a number in (0, 2], got {p!r}") from None
    if not (0.0 < value <= 2.0):
        raise ValueError(f"penalty_power must be in (0, 2], got {p!r}")
    return value


def _check_gamma(K: int, mu: float, norm: float) -> float:
    """a = etf_scale(K, norm) after checking a and gamma = a/mu are in the supported range."""
    try:
        a = etf_scale(K, norm)
    except OverflowError:
        a = np.inf
    gamma = a / mu if a < np.inf else np.inf
    if not (np.isfinite(a) and a > 0 and GAMMA_MIN <= gamma <= GAMMA_MAX):
        raise ValueError(
            f"gamma = a / weight_decay = {gamma:.3g} (a = norm^2 K/(K-1) = {a:.3g}) is outside "
            f"the supported range [{GAMMA_MIN:g}, {GAMMA_MAX:g}]"
        )
    return a


def _check_classes(K: int) -> int:
    if int(K) != K or K < 2:
        raise ValueError(f"K (number of classes) must be an integer >= 2, got {K}")
    return int(K)


def _check_positive(value: float, name: str) -> float:
    value = float(value)
    if not value > 0 or not np.isfinite(value):
        raise ValueError(f"{name} must be a finite number > 0, got {value}")
    return value


def _check_points(
    K: int, c: np.ndarray | int, c2: np.ndarray | int, lam: np.ndarray | float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    c_arr, c2_arr = np.asarray(c), np.asarray(c2)
    lam_arr = np.asarray(lam, dtype=np.float64)
    for name, arr in (("c", c_arr), ("c2", c2_arr)):
        if arr.size and not np.issubdtype(arr.dtype, np.integer):
            raise ValueError(f"{name} must hold integer class indices, got dtype {arr.dtype}")
        if arr.size and (arr.min() < 0 or arr.max() >= K):
            raise ValueError(f"{name} must hold class indices in [0, {K - 1}]")
    if lam_arr.size and not (np.all(lam_arr >= 0) and np.all(lam_arr <= 1)):
        raise ValueError("lam must lie in [0, 1]")
    return c_arr, c2_arr, lam_arr
