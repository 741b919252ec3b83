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
import scipy.linalg

from theory.fixed_classifier import _loss, _prepare, soft_targets, softmax

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
    best = np.argmin(F, axis=1)
    left = psi[rows, best] > 0  # F increases at the best node: the minimum is to its left
    i_lo = np.where(left, best - 1, best)
    valid = live & (i_lo >= 0) & (i_lo < nodes - 1)
    i_lo = np.clip(i_lo, 0, nodes - 2)
    lo, hi = grid[rows, i_lo], grid[rows, i_lo + 1]
    x_sol = X[i_lo, rows]
    for _ in range(80):
        mid = 0.5 * (lo + hi)
        if np.all((hi - lo) <= 4 * np.finfo(float).eps * np.maximum(1.0, np.abs(mid))):
            break
        x_mid = path.solve(np.exp(mid), x_sol)
        neg = path.psi_f_at(x_mid, np.exp(mid), mu, p)[0] < 0
        lo, hi = np.where(neg, mid, lo), np.where(neg, hi, mid)
        x_sol = x_mid
    x_sol = path.solve(np.exp(0.5 * (lo + hi)), x_sol)
    F_sol = path.psi_f_at(x_sol, np.exp(0.5 * (lo + hi)), mu, p)[1]
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
        return _newton_ce_rows(self.M, self.b, mu_p, self.t, x0, self.gtol, 200)

    def psi_f(self, mu_p, mu, p):
        x = self.solve(mu_p, np.zeros((len(mu_p), self.S.size)))
        return self.psi_f_at(x, mu_p, mu, p)

    def psi_f_at(self, x, mu_p, mu, p):
        r = np.linalg.norm(x, axis=1)
        with np.errstate(divide="ignore"):
            psi = np.log(mu_p) - np.log(mu) + (2 - p) * np.log(r)
        F = _loss(x @ self.M.T + self.b, self.t, self.loss) + (mu / p) * r**p
        return psi, F


def _newton_ce_rows(
    M: np.ndarray,
    b: np.ndarray,
    mu: np.ndarray,
    t: np.ndarray,
    x: np.ndarray,
    gtol: float,
    max_iter: int,
) -> np.ndarray:
    """Damped Newton for min_x CE(M x + b, t) + mu_i/2 ||x||^2, one problem (and mu_i) per row."""
    from theory.fixed_classifier import _ce

    x = x.copy()
    eye = np.eye(M.shape[1])
    active = np.arange(len(x))
    for _ in range(max_iter):
        if active.size == 0:
            break
        xa, ta, ma = x[active], t[active], mu[active]
        z = xa @ M.T + b
        pz = softmax(z, axis=1)
        g = (pz - ta) @ M + ma[:, None] * xa
        still = np.linalg.norm(g, axis=1) > gtol
        active, xa, ta, ma, z, pz, g = (v[still] for v in (active, xa, ta, ma, z, pz, g))
        if active.size == 0:
            break
        pM = pz @ M
        H = np.matmul(M.T, pz[:, :, None] * M)
        H -= pM[:, :, None] * pM[:, None, :]
        H += ma[:, None, None] * eye
        step = -scipy.linalg.solve(H, g[..., None], assume_a="pos", check_finite=False)[..., 0]
        dec = -np.sum(g * step, axis=1)
        f0 = _ce(z, ta) + 0.5 * ma * np.sum(xa * xa, axis=1)
        alpha = np.ones(len(xa))
        need = dec > 1e-12 * (1.0 + np.abs(f0))
        for _ in range(60):
            if not need.any():
                break
            xn = xa[need] + alpha[need, None] * step[need]
            f1 = _ce(xn @ M.T + b, ta[need]) + 0.5 * ma[need] * np.sum(xn * xn, axis=1)
            ok = f1 <= f0[need] - 0.25 * alpha[need] * dec[need]
            idx = np.flatnonzero(need)
            alpha[idx[~ok]] *= 0.5
            need[idx[ok]] = False
        xnew = xa + alpha[:, None] * step
        stalled = np.all(xnew == xa, axis=1)
        x[active] = xnew
        active = active[~stalled]
    return x
