"""The generalised feature penalty for an arbitrary fixed classifier (W, b):

    h* = argmin_h loss(W h + b, t) + (mu/p) ||h||^p,   p in (0, 2),

by the radial parametrisation of SPEC section 8 (see theory.etf_power for the argument): the
optimum is h = 0 or a point h(mu') of the p = 2 path (h(mu') = argmin loss + mu'/2 ||h||^2)
where psi(X) = X - log mu + (2 - p) log ||h(e^X)|| changes sign from - to + (dF/dX has the sign
of psi). The p = 2 path is exact (Newton for CE, warm-started along the grid; closed form for
MSE); X = log mu' is searched on a grid over a range that bounds every root,

    X >= (2/p) (log mu - (1 - p/2) log(2 loss(0)))          (loss + mu'/2 r^2 <= loss(0)),
    X <= ((2 - p) log G - log mu) / (1 - p)   for p < 1     (r <= G / mu', G >= ||grad loss||),

(for p >= 1 the upper end moves up until psi > 0), the best grid point's bracket is bisected
and the result compared with h = 0.
"""

from __future__ import annotations

import numpy as np

from theory.fixed_classifier import _loss, _newton_ce, _prepare, soft_targets, softmax

_STEP = 0.5
_MAX_NODES = 400


def fixed_power_optimum(
    W: np.ndarray,
    b: np.ndarray | None,
    mu: float,
    c: np.ndarray | int,
    c2: np.ndarray | int,
    lam: np.ndarray | float,
    loss: str,
    p: float,
) -> np.ndarray:
    """h* (n, d) for the penalty (mu/p)||h||^p, p in (0, 2) (module docstring)."""
    W, b, c, c2, lam = _prepare(W, b, c, c2, lam)
    K, d = W.shape
    n = len(lam)
    U, S, Vt = np.linalg.svd(W, full_matrices=False)
    keep = S > S[0] * max(K, d) * np.finfo(float).eps if S.size and S[0] > 0 else S > 0
    U, S, Vt = U[:, keep], S[keep], Vt[keep]
    if S.size == 0 or n == 0:
        return np.zeros((n, d))
    t = soft_targets(K, c, c2, lam)
    M = U * S
    path = _Path(M, U, S, b, t, loss)
    L0 = _loss(np.broadcast_to(b, t.shape), t, loss)
    g0 = np.linalg.norm(path.grad_loss(np.zeros((n, S.size))), axis=1)
    live = (L0 > 0) & (g0 > 0)  # else h = 0 is optimal (the loss is minimal at 0)
    L0s, g0s = np.where(live, L0, 1.0), np.where(live, g0, 1.0)
    x_lo = (2 / p) * (np.log(mu) - (1 - p / 2) * np.log(2 * L0s)) - 1.0
    if p < 1:
        G = np.sqrt(2.0) * S[0] if loss == "ce" else 2.0 * S[0] * np.sqrt(L0s)
        x_hi = ((2 - p) * np.log(G) - np.log(mu)) / (1 - p) + 1.0
    else:
        x_hi = np.maximum(x_lo + 8.0, (np.log(mu) - (2 - p) * np.log(g0s)) / max(p - 1, 0.25) + 3)
        for _ in range(12):
            psi_hi = path.psi_f(np.exp(x_hi), mu, p)[0]
            low = psi_hi <= 0
            if not low.any():
                break
            x_hi = np.where(low, x_hi + 2 * (x_hi - x_lo), x_hi)
    x_hi = np.maximum(x_hi, x_lo + 1.0)
    nodes = int(min(_MAX_NODES, max(9, np.ceil((x_hi - x_lo).max() / _STEP) + 1)))
    grid = x_lo[:, None] + (x_hi - x_lo)[:, None] * np.linspace(0.0, 1.0, nodes)[None]
    psi = np.empty((n, nodes))
    F = np.empty((n, nodes))
    X = np.empty((nodes, n, S.size))
    x0 = np.zeros((n, S.size))
    for j in range(nodes - 1, -1, -1):  # from small h (large mu') down: warm starts
        X[j] = x0 = path.solve(np.exp(grid[:, j]), x0)
        psi[:, j], F[:, j] = path.psi_f_at(X[j], np.exp(grid[:, j]), mu, p)
    rows = np.arange(n)
    # Local minima of F: psi rises through 0 between nodes j and j + 1 (F may be flat to
    # rounding, so the bracket is chosen by psi; among several, the lowest F).
    rises = (psi[:, :-1] < 0) & (psi[:, 1:] >= 0)
    i_lo = np.argmin(np.where(rises, np.minimum(F[:, :-1], F[:, 1:]), np.inf), axis=1)
    valid = live & rises.any(axis=1)
    lo, hi = grid[rows, i_lo], grid[rows, i_lo + 1]
    x_sol = X[i_lo, rows]
    f_lo, f_hi = psi[rows, i_lo], psi[rows, i_lo + 1]
    # Illinois (regula falsi that halves the stale end's value): superlinear, always bracketed.
    side = np.zeros(n)
    x_at = 0.5 * (lo + hi)
    eps = np.finfo(float).eps
    active = valid.copy()
    for _ in range(100):
        if not active.any():
            break
        with np.errstate(divide="ignore", invalid="ignore"):
            new = hi - f_hi * (hi - lo) / (f_hi - f_lo)
        inside = (new > lo) & (new < hi) & np.isfinite(new)
        new = np.where(inside, new, 0.5 * (lo + hi))
        new = np.where(active, new, x_at)
        x_new = path.solve(np.exp(new), x_sol)
        f_new = path.psi_f_at(x_new, np.exp(new), mu, p)[0]
        neg = f_new < 0
        upd_lo, upd_hi = active & neg, active & ~neg
        f_hi = np.where(upd_lo & (side == -1), 0.5 * f_hi, f_hi)
        f_lo = np.where(upd_hi & (side == 1), 0.5 * f_lo, f_lo)
        lo, f_lo = np.where(upd_lo, new, lo), np.where(upd_lo, f_new, f_lo)
        hi, f_hi = np.where(upd_hi, new, hi), np.where(upd_hi, f_new, f_hi)
        side = np.where(upd_lo, -1, np.where(upd_hi, 1, side))
        x_sol = np.where(active[:, None], x_new, x_sol)
        x_at = np.where(active, new, x_at)
        tiny = (np.abs(f_new) <= 64 * eps) | (hi - lo <= 4 * eps * np.maximum(1.0, np.abs(new)))
        active &= ~tiny
    F_sol = path.psi_f_at(x_sol, np.exp(x_at), mu, p)[1]
    zero = ~valid | (L0 <= F_sol)
    return np.where(zero[:, None], 0.0, x_sol) @ Vt


class _Path:
    """The p = 2 path x(mu') (h = V x) for per-point weight decays mu', and psi, F along it."""

    def __init__(self, M, U, S, b, t, loss):
        self.M, self.U, self.S, self.b, self.t, self.loss = M, U, S, b, t, loss
        self.gtol = 1e-13 * (1.0 + S[0])

    def grad_loss(self, x: np.ndarray) -> np.ndarray:
        z = x @ self.M.T + self.b
        gz = softmax(z, axis=1) - self.t if self.loss == "ce" else 2.0 * (z - self.t)
        return gz @ self.M

    def solve(self, mu_p: np.ndarray, x0: np.ndarray) -> np.ndarray:
        if self.loss == "mse":
            return ((self.t - self.b) @ self.U) * (self.S / (self.S**2 + 0.5 * mu_p[:, None]))
        return _newton_ce(self.M, self.b, mu_p, self.t, x0, self.gtol, 200, jitter=True)

    def psi_f(self, mu_p, mu, p):
        x = self.solve(mu_p, np.zeros((len(mu_p), self.S.size)))
        return self.psi_f_at(x, mu_p, mu, p)

    def psi_f_at(self, x, mu_p, mu, p):
        r = np.linalg.norm(x, axis=1)
        with np.errstate(divide="ignore"):
            psi = np.log(mu_p) - np.log(mu) + (2 - p) * np.log(r)
        F = _loss(x @ self.M.T + self.b, self.t, self.loss) + (mu / p) * r**p
        return psi, F
