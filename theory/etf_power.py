"""The generalised feature penalty for a simplex-ETF classifier (SPEC section 8), the optimum's
logits, and its relative KKT residual.

    h*(c, c2, lam) = argmin_h  loss(W h, t) + (mu/p) ||h||^p,   p in (0, 2],

W = simplex_etf(K, s), a = s^2 K/(K - 1), t = lam e_c + (1 - lam) e_c2. For p < 1 the problem is
not convex; it is solved globally by the radial parametrisation:

- For each radius r, the best h with ||h|| <= r minimises a convex function over a ball; with a
  multiplier mu' it is the p = 2 optimum at weight decay mu' (gamma' = a/mu'), the regularisation
  path of the p = 2 model, which lies in span{w_c, w_c2} (theory.etf). Every h is beaten (or tied)
  by the path point of its norm, so the global optimum is on the path or is h = 0.
- Along the path, x = log gamma', r(x) increases and F(x) = loss + (mu/p) r^p has
  dF/dx = -(positive) * psi(x),  psi(x) = log(mu'/mu) + (2 - p) log r = log(a/mu) - x +
  (2 - p) log r(x). So the candidates are h = 0 and the points where psi falls through 0.
- psi <= log(a/mu) + (1 - p) x + (1 - p/2) log(6/a) (||h|| <= sqrt(6/a) gamma') and
  psi <= log(a/mu) - (p/2) x + (1 - p/2) log(2 log K / a) (the p = 2 objective at its optimum is
  below its value log K at 0) bound every root: x is searched on a grid of step <= 1/4 over that
  range (for p >= 1 the lower end moves down until psi > 0), the best grid point's bracket is
  bisected to machine precision, and the result is compared with F(0) = loss(0).
- CE: r(x) comes from theory.ce_gaps (exact for gamma' in 1e-300..1e300). MSE: the path is the
  ray h = alpha W^T t / a, alpha in [0, 1], and the problem is 1-D: minimise
  T (1 - alpha)^2 + (mu/p) (T/a)^(p/2) alpha^p, T = ||t||^2 - 1/K; solved by bisection on its
  stationarity condition (the larger root for p < 1, against alpha = 0).
"""

from __future__ import annotations

import numpy as np

from theory.ce_gaps import _quad, ce_gaps, relative_kkt

_GRID_STEP = 0.25
_MAX_NODES = 4001
_X_LIMIT = 690.0  # |log gamma'| <= 690: gamma' and the gaps stay in double range


def power_coefficients(
    K: int, mu: float, a: float, same: np.ndarray, lam: np.ndarray, p: float, loss: str
) -> tuple[np.ndarray, np.ndarray]:
    """(A, B) of h* = A w_c + B w_c2 for the penalty (mu/p)||h||^p (B = 0 where same).

    same, lam: arrays of one shape (the broadcast points). The solve runs once per distinct
    (lam, same) value and is gathered.
    """
    key = np.where(same, 2.0, lam)
    key_u, inverse = np.unique(key.ravel(), return_inverse=True)
    same_u = key_u == 2.0
    lam_u = np.where(same_u, 1.0, key_u)
    if loss == "mse":
        alpha = _mse_alpha(K, mu, a, lam_u, same_u, p)
        A_u = np.where(same_u, alpha / a, alpha * lam_u / a)
        B_u = np.where(same_u, 0.0, alpha * (1.0 - lam_u) / a)
    else:
        d1, d2 = ce_power_gaps(K, mu, a, lam_u, same_u, p)
        A_u, B_u = d1 / a, np.where(same_u, 0.0, d2 / a)
    return A_u[inverse].reshape(key.shape), B_u[inverse].reshape(key.shape)


def ce_power_gaps(
    K: int, mu: float, a: float, lam: np.ndarray, same: np.ndarray, p: float
) -> tuple[np.ndarray, np.ndarray]:
    """(d1, d2) (theory.ce_gaps' convention) of the global CE optimum with penalty (mu/p)||h||^p."""
    lam, same = np.asarray(lam, float), np.asarray(same, bool)
    n = lam.size
    log_gamma, log_a = np.log(a) - np.log(mu), np.log(a)
    x_hi = np.full(n, (2.0 / p) * (log_gamma + (1 - p / 2) * (np.log(2 * np.log(K)) - log_a)) + 1)
    if p < 1:
        x_lo = np.full(n, -(log_gamma + (1 - p / 2) * (np.log(6.0) - log_a)) / (1 - p) - 1)
    else:
        x_lo = x_hi - 8.0
        if p > 1:
            x_hi = np.minimum(x_hi, (log_gamma + (1 - p / 2) * (np.log(6.0) - log_a)) / (p - 1) + 1)
            x_lo = x_hi - 8.0
        for _ in range(12):  # move down until psi > 0 (p > 1 has a root; p = 1 may have none)
            low = _psi_f(K, mu, a, lam, same, p, x_lo)[0] <= 0
            if not low.any() or x_lo.min() <= -_X_LIMIT:
                break
            x_lo = np.where(low, x_lo - 2 * (x_hi - x_lo), x_lo)
    x_hi = np.minimum(x_hi, _X_LIMIT)
    x_lo = np.clip(x_lo, -_X_LIMIT, x_hi - 1.0)
    nodes = int(min(_MAX_NODES, max(17, np.ceil((x_hi - x_lo).max() / _GRID_STEP) + 1)))
    X = x_lo[:, None] + (x_hi - x_lo)[:, None] * np.linspace(0.0, 1.0, nodes)[None]
    lam_g, same_g = np.broadcast_to(lam[:, None], X.shape), np.broadcast_to(same[:, None], X.shape)
    psi, F = _psi_f(K, mu, a, lam_g, same_g, p, X)
    if np.any(psi[:, -1] >= 0) and x_hi.max() >= _X_LIMIT:
        raise ValueError(
            f"penalty_power {p:g} with gamma = {a / mu:.3g}: the optimum's scale is outside the "
            "double range (gamma' > 1e300)"
        )
    best = np.argmin(F, axis=1)
    rows = np.arange(n)
    right = psi[rows, best] > 0  # F still falls at the best node: the minimum is to its right
    i_lo = np.where(right, best, best - 1)
    valid = (i_lo >= 0) & (i_lo < nodes - 1)
    i_lo = np.clip(i_lo, 0, nodes - 2)
    lo, hi = X[rows, i_lo], X[rows, i_lo + 1]
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if np.all((hi - lo) <= 4 * np.finfo(float).eps * np.maximum(1.0, np.abs(mid))):
            break
        pos = _psi_f(K, mu, a, lam, same, p, mid)[0] > 0
        lo, hi = np.where(pos, mid, lo), np.where(pos, hi, mid)
    x = 0.5 * (lo + hi)
    d1, d2 = ce_gaps(K, np.exp(x), lam, same)
    F_x = _psi_f(K, mu, a, lam, same, p, x)[1]
    zero = ~valid | (np.log(K) < F_x)  # h = 0 (loss log K, no penalty) is better
    return np.where(zero, 0.0, d1), np.where(zero | same, 0.0, d2)


def _psi_f(
    K: int, mu: float, a: float, lam: np.ndarray, same: np.ndarray, p: float, x: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(psi(x), F(x)) on the p = 2 path at gamma' = e^x (module docstring)."""
    d1, d2 = ce_gaps(K, np.exp(x), lam, same)
    log_r2 = _log_quad(K, d1, np.where(same, 0.0, d2)) - np.log(a)  # log ||h||^2
    psi = np.log(a) - np.log(mu) - x + (1 - p / 2) * log_r2
    m = np.where(same, K - 1.0, K - 2.0)
    d2e = np.where(same, -np.inf, d2)
    mx = np.maximum(np.maximum(d1, d2e), 0.0)
    lse = mx + np.log(np.exp(d1 - mx) + np.exp(d2e - mx) + m * np.exp(-mx))
    ce = lse - np.where(same, d1, lam * d1 + (1 - lam) * d2)
    return psi, ce + (mu / p) * np.exp(0.5 * p * log_r2)


def _log_quad(K: int, x1: np.ndarray, x2: np.ndarray) -> np.ndarray:
    """log _quad(K, x1, x2), also where the square under- or overflows."""
    m = np.maximum(np.abs(x1), np.abs(x2))
    safe = np.where(m > 0, m, 1.0)
    with np.errstate(divide="ignore"):
        return np.where(m > 0, 2 * np.log(safe) + np.log(_quad(K, x1 / safe, x2 / safe)), -np.inf)


def _mse_alpha(
    K: int, mu: float, a: float, lam: np.ndarray, same: np.ndarray, p: float
) -> np.ndarray:
    """alpha in [0, 1] minimising (1 - alpha)^2 + (2 c / p) alpha^p, c = mu (T/a)^(p/2) / (2T)."""
    T = np.where(same, 1.0 - 1.0 / K, lam**2 + (1.0 - lam) ** 2 - 1.0 / K)
    pos = T > 0
    T = np.where(pos, T, 1.0)
    c = mu * (T / a) ** (p / 2) / (2 * T)
    if p == 1:
        return np.where(pos, np.maximum(0.0, 1.0 - c), 0.0)
    if p > 1:
        lo, hi = np.zeros_like(c), np.ones_like(c)
    else:  # phi = 1 - alpha - c alpha^(p-1) peaks at alpha_star; the larger root is the minimum
        alpha_star = np.minimum((c * (1 - p)) ** (1 / (2 - p)), 1.0)
        peak = 1 - alpha_star - c * alpha_star ** (p - 1)
        pos &= (peak > 0) & (alpha_star < 1)
        lo, hi = alpha_star, np.ones_like(c)
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        with np.errstate(divide="ignore"):
            up = 1 - mid - c * mid ** (p - 1) > 0
        lo, hi = np.where(up, mid, lo), np.where(up, hi, mid)
        if np.all(hi - lo <= 2 * np.finfo(float).eps * hi):
            break
    alpha = 0.5 * (lo + hi)
    if p < 1:
        pos &= (1 - alpha) ** 2 + (2 * c / p) * alpha**p < 1.0  # beats h = 0
    return np.where(pos, alpha, 0.0)


def etf_logits(
    K: int,
    weight_decay: float,
    c: np.ndarray | int,
    c2: np.ndarray | int,
    lam: np.ndarray | float,
    norm: float = 1.0,
    loss: str = "ce",
    *,
    penalty_power: float = 2.0,
    probabilities: bool = False,
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """Logits z = W h* of the ETF optimum (theory.etf_optimum's arguments), shape (..., K).

    With probabilities=True returns (z, softmax(z)): the predicted confidence is
    softmax(z).max(-1) and the probability of class c is softmax(z)[..., c].
    """
    from theory.etf import etf_coefficients, simplex_etf

    A, B = etf_coefficients(
        K, weight_decay, c, c2, lam, norm=norm, loss=loss, penalty_power=penalty_power
    )
    W = simplex_etf(K, norm)
    G = W @ W.T
    c_b, c2_b = np.broadcast_to(np.asarray(c), A.shape), np.broadcast_to(np.asarray(c2), A.shape)
    z = A[..., None] * G[c_b] + B[..., None] * G[c2_b]
    if not probabilities:
        return z
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return z, e / e.sum(axis=-1, keepdims=True)


def etf_kkt_residual(
    K: int,
    weight_decay: float,
    c: np.ndarray | int,
    c2: np.ndarray | int,
    lam: np.ndarray | float,
    A: np.ndarray,
    B: np.ndarray,
    norm: float = 1.0,
    loss: str = "ce",
    *,
    penalty_power: float = 2.0,
) -> np.ndarray:
    """Relative (scale-invariant) KKT residual of h = A w_c + B w_c2 (broadcast shape).

    The stationarity condition of loss + (mu/p)||h||^p is that of the p = 2 model at the
    effective weight decay mu ||h||^(p-2). CE: the Newton step of the reduced p = 2 problem in the
    norm of h over ||h|| (theory.ce_gaps.relative_kkt; ~ the relative error of h). MSE: the same
    Newton step, ||grad|| / ((2a + mu_eff) ||h||). At h = 0: 0 when p < 1 (a local minimum), the
    relative excess of ||grad loss(0)|| over mu when p = 1, inf when p > 1 (unless t is uniform).
    """
    from theory.etf import _check_gamma, check_penalty_power, simplex_etf

    p = check_penalty_power(penalty_power)
    mu = float(weight_decay)
    a = _check_gamma(K, mu, norm)
    c, c2, lam, A, B = np.broadcast_arrays(
        np.asarray(c), np.asarray(c2), np.asarray(lam, float), np.asarray(A), np.asarray(B)
    )
    same = c == c2
    d1, d2 = a * A, np.where(same, 0.0, a * B)
    r2 = np.exp(_log_quad(K, d1, d2) - np.log(a))  # ||h||^2
    T = np.where(same, 1.0 - 1.0 / K, lam**2 + (1.0 - lam) ** 2 - 1.0 / K)
    grad0 = np.sqrt(np.maximum(a * T, 0.0) * (4.0 if loss == "mse" else 1.0))
    if p < 1:
        at_zero = np.zeros_like(r2)
    elif p == 1:
        at_zero = np.maximum(0.0, grad0 / mu - 1.0)
    else:
        at_zero = np.where(grad0 > 0, np.inf, 0.0)
    with np.errstate(divide="ignore", over="ignore"):
        mu_eff = mu * r2 ** (p / 2 - 1)
    nonzero = r2 > 0
    if loss == "ce":
        res = relative_kkt(K, a / np.where(nonzero, mu_eff, 1.0), lam, same, d1, d2)
    else:
        W = simplex_etf(K, norm)
        h = A[..., None] * W[c] + np.where(same, 0.0, B)[..., None] * W[c2]
        t = np.zeros(h.shape)
        np.put_along_axis(t, c[..., None], np.where(same, 1.0, lam)[..., None], axis=-1)
        t2 = np.take_along_axis(t, c2[..., None], axis=-1) + np.where(same, 0.0, 1 - lam)[..., None]
        np.put_along_axis(t, c2[..., None], t2, axis=-1)
        g_loss = 2.0 * ((h @ W.T - t) @ W)
        g_pen = np.where(nonzero, mu_eff, 0.0)[..., None] * h
        num = np.linalg.norm(g_loss + g_pen, axis=-1)
        # Newton step of the p = 2 problem at mu_eff: the Hessian is (2a + mu_eff) I on span(W).
        den = (2.0 * a + np.where(nonzero, mu_eff, 0.0)) * np.sqrt(r2)
        with np.errstate(divide="ignore", invalid="ignore"):
            res = np.where(num == 0, 0.0, num / den)
    return np.where(nonzero, res, at_zero)
