"""Optimal features of the mixup UFM for an arbitrary fixed classifier (W, b).

Per point (c, c2, lam), with t = lam e_c + (1 - lam) e_c2:

    h*(c, c2, lam) = argmin_h  loss(W h + b, t) + (mu/2) ||h||^2,

loss = CE (-sum_k t_k log softmax(z)_k) or MSE (sum_k (z_k - t_k)^2). The objective is strictly
convex in h. The optimum lies in the row space of W (the gradient condition h = -W^T g / mu), so
with the thin SVD W = U S V^T (rank r <= min(K, d)) we write h = V x and solve for x in R^r: the
logit space of W, of dimension <= K however large d is. CE: vectorised Newton with Armijo
backtracking; MSE: closed form.
"""

from __future__ import annotations

import warnings

import numpy as np
import scipy.linalg

from theory.etf import LOSSES, _check_positive

_CHUNK_FLOATS = 1 << 23  # points per Newton chunk x r^2 stays below this (64 MiB of float64)


def soft_targets(K: int, c: np.ndarray, c2: np.ndarray, lam: np.ndarray) -> np.ndarray:
    """t = lam e_c + (1 - lam) e_c2 for each point, shape (n, K)."""
    n = len(lam)
    t = np.zeros((n, K))
    rows = np.arange(n)
    np.add.at(t, (rows, c), lam)
    np.add.at(t, (rows, c2), 1.0 - lam)
    return t


def point_loss(
    W: np.ndarray,
    b: np.ndarray | None,
    weight_decay: float,
    c: np.ndarray | int,
    c2: np.ndarray | int,
    lam: np.ndarray | float,
    h: np.ndarray,
    loss: str = "ce",
) -> np.ndarray:
    """loss(W h + b, t) + mu/2 ||h||^2 per point, shape (n,)."""
    W, b, c, c2, lam = _prepare(W, b, c, c2, lam)
    h = np.asarray(h, dtype=np.float64).reshape(len(lam), W.shape[1])
    z = h @ W.T + b
    t = soft_targets(W.shape[0], c, c2, lam)
    return _loss(z, t, loss) + 0.5 * weight_decay * np.sum(h * h, axis=1)


def kkt_residual(
    W: np.ndarray,
    b: np.ndarray | None,
    weight_decay: float,
    c: np.ndarray | int,
    c2: np.ndarray | int,
    lam: np.ndarray | float,
    h: np.ndarray,
    loss: str = "ce",
    relative: bool = False,
    *,
    penalty_power: float = 2.0,
) -> np.ndarray:
    """||grad_h [loss(W h + b, t) + mu/p ||h||^p]|| per point, shape (n,); h has shape (n, d).

    relative=True divides by ||grad loss|| + mu ||h||^(p-1) (scale invariant; 0 where both
    vanish): the two terms cancel at a stationary point.
    """
    from theory.etf import check_penalty_power

    mu = _check_positive(weight_decay, "weight_decay")
    p = check_penalty_power(penalty_power)
    W, b, c, c2, lam = _prepare(W, b, c, c2, lam)
    h = np.asarray(h, dtype=np.float64).reshape(len(lam), W.shape[1])
    z = h @ W.T + b
    t = soft_targets(W.shape[0], c, c2, lam)
    g_loss = _loss_grad(z, t, loss) @ W
    if p == 2.0:
        g_pen = mu * h
    else:
        r = np.linalg.norm(h, axis=1, keepdims=True)
        with np.errstate(divide="ignore", invalid="ignore"):
            g_pen = np.where(r > 0, mu * r ** (p - 2) * h, 0.0)
    norm = np.linalg.norm(g_loss + g_pen, axis=1)
    if not relative:
        return norm
    scale = np.linalg.norm(g_loss, axis=1) + np.linalg.norm(g_pen, axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = np.where(norm == 0, 0.0, norm / scale)
    if p <= 1:  # h = 0 is a (local) minimum for p < 1; for p = 1 iff ||grad loss(0)|| <= mu
        at_zero = 0.0 if p < 1 else np.maximum(0.0, np.linalg.norm(g_loss, axis=1) / mu - 1.0)
        rel = np.where(np.any(h != 0, axis=1), rel, at_zero)
    return rel


def fixed_classifier_optimum(
    W: np.ndarray,
    b: np.ndarray | None,
    weight_decay: float,
    c: np.ndarray | int,
    c2: np.ndarray | int,
    lam: np.ndarray | float,
    loss: str = "ce",
    h0: np.ndarray | None = None,
    tol: float = 1e-13,
    max_iter: int = 200,
    *,
    penalty_power: float = 2.0,
) -> np.ndarray:
    """h* = argmin_h loss(W h + b, t) + mu/p ||h||^p per point, t = lam e_c + (1 - lam) e_c2.

    W: (K, d), b: (K,) or None (zero bias); c, c2, lam broadcast to n points. Returns (n, d).
    p = penalty_power = 2 (default): CE by Newton in x (h = V x, W = U S V^T) from h0 (or 0),
    stopping when the gradient norm is below tol * (1 + ||W||_2); MSE: the closed form
    h = V diag(s / (s^2 + mu/2)) U^T (t - b). p in (0, 2) other than 2: the global optimum by the
    radial parametrisation along the p = 2 path (theory.fixed_power; h0 is not used).
    """
    from theory.etf import check_penalty_power

    mu = _check_positive(weight_decay, "weight_decay")
    if loss not in LOSSES:
        raise ValueError(f"unknown loss {loss!r}: expected one of {LOSSES}")
    p = check_penalty_power(penalty_power)
    if p != 2.0:
        from theory.fixed_power import fixed_power_optimum

        return fixed_power_optimum(W, b, mu, c, c2, lam, loss, p)
    W, b, c, c2, lam = _prepare(W, b, c, c2, lam)
    K, d = W.shape
    n = len(lam)
    U, S, Vt = np.linalg.svd(W, full_matrices=False)
    keep = S > S[0] * max(K, d) * np.finfo(float).eps if S.size and S[0] > 0 else S > 0
    U, S, Vt = U[:, keep], S[keep], Vt[keep]
    if S.size == 0:
        return np.zeros((n, d))
    t = soft_targets(K, c, c2, lam)
    if loss == "mse":
        x = ((t - b) @ U) * (S / (S**2 + 0.5 * mu))
        return x @ Vt
    M = U * S  # (K, r): z = M x + b
    x0 = np.zeros((n, S.size)) if h0 is None else np.asarray(h0, float).reshape(n, d) @ Vt.T
    gtol = tol * (1.0 + S[0])
    chunk = max(1, _CHUNK_FLOATS // max(1, S.size * max(S.size, K)))
    x = np.empty_like(x0)
    for start in range(0, n, chunk):
        sl = slice(start, start + chunk)
        x[sl] = _newton_ce(M, b, mu, t[sl], x0[sl], gtol, max_iter)
    return x @ Vt


def _newton_ce(
    M: np.ndarray,
    b: np.ndarray,
    mu: float | np.ndarray,
    t: np.ndarray,
    x: np.ndarray,
    gtol: float,
    max_iter: int,
    jitter: bool = False,
) -> np.ndarray:
    """Vectorised damped Newton for min_x CE(M x + b, t) + mu/2 ||x||^2, one problem per row
    (`mu` a scalar, or one value per row).

    `jitter`: add 1e-13 x the mean diagonal of the Hessian (and fall back to a pseudo-inverse) to
    keep it numerically positive definite where mu is tiny and the softmax saturates; the
    gradient stays exact, so only the step is approximate there (theory.fixed_power's path).
    """
    x = x.copy()
    mu = np.broadcast_to(np.asarray(mu, dtype=np.float64), (len(x),))
    eye = np.eye(M.shape[1])
    active = np.arange(len(x))
    for _ in range(max_iter):
        if active.size == 0:
            break
        xa, ta, ma = x[active], t[active], mu[active]
        z = xa @ M.T + b
        p = softmax(z, axis=1)
        g = (p - ta) @ M + ma[:, None] * xa
        still = np.linalg.norm(g, axis=1) > gtol
        active, xa, ta, ma, z, p, g = (v[still] for v in (active, xa, ta, ma, z, p, g))
        if active.size == 0:
            break
        pM = p @ M  # (n, r)
        H = np.matmul(M.T, p[:, :, None] * M)  # M^T diag(p) M, batched (BLAS)
        H -= pM[:, :, None] * pM[:, None, :]
        if jitter:
            H += (ma + 1e-13 * np.einsum("nii->n", H) / H.shape[1])[:, None, None] * eye
        else:
            H += ma[:, None, None] * eye
        step = -_solve_spd(H, g, fallback=jitter)
        decrement = -np.sum(g * step, axis=1)  # Newton decrement squared, > 0
        f0 = _ce(z, ta) + 0.5 * ma * np.sum(xa * xa, axis=1)
        alpha = np.ones(len(xa))
        # Near the optimum the objective decrease is below rounding: take the full step there.
        need = decrement > 1e-12 * (1.0 + np.abs(f0))
        for _ in range(60):
            if not need.any():
                break
            xn = xa[need] + alpha[need, None] * step[need]
            f1 = _ce(xn @ M.T + b, ta[need]) + 0.5 * ma[need] * np.sum(xn * xn, axis=1)
            ok = f1 <= f0[need] - 0.25 * alpha[need] * decrement[need]
            idx = np.flatnonzero(need)
            alpha[idx[~ok]] *= 0.5
            need[idx[ok]] = False
        xnew = xa + alpha[:, None] * step
        stalled = np.all(xnew == xa, axis=1)
        x[active] = xnew
        active = active[~stalled]
    return x


def _solve_spd(H: np.ndarray, g: np.ndarray, fallback: bool = False) -> np.ndarray:
    """H^-1 g for a batch of symmetric positive definite H (n, r, r), g (n, r), by Cholesky
    (numpy's batched LU solve is far slower under BLAS contention); `fallback`: a pseudo-inverse
    where the factorisation fails, and no warning about ill-conditioning."""
    if not fallback:
        return scipy.linalg.solve(H, g[..., None], assume_a="pos", check_finite=False)[..., 0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", scipy.linalg.LinAlgWarning)
        try:
            out = scipy.linalg.solve(H, g[..., None], assume_a="pos", check_finite=False)
        except np.linalg.LinAlgError:
            out = np.linalg.pinv(H, hermitian=True) @ g[..., None]
    return out[..., 0]


def logsumexp(z: np.ndarray, axis: int = -1) -> np.ndarray:
    """log sum_k exp(z_k) along `axis`, stably (plain numpy: scipy's has a large per-call cost)."""
    m = np.max(z, axis=axis, keepdims=True)
    return np.squeeze(m, axis) + np.log(np.sum(np.exp(z - m), axis=axis))


def softmax(z: np.ndarray, axis: int = -1) -> np.ndarray:
    """exp(z_k) / sum_j exp(z_j) along `axis`, stably."""
    e = np.exp(z - np.max(z, axis=axis, keepdims=True))
    return e / np.sum(e, axis=axis, keepdims=True)


def _ce(z: np.ndarray, t: np.ndarray) -> np.ndarray:
    return logsumexp(z, axis=1) * t.sum(axis=1) - np.sum(t * z, axis=1)


def _loss(z: np.ndarray, t: np.ndarray, loss: str) -> np.ndarray:
    if loss == "ce":
        return _ce(z, t)
    if loss == "mse":
        return np.sum((z - t) ** 2, axis=1)
    raise ValueError(f"unknown loss {loss!r}: expected one of {LOSSES}")


def _loss_grad(z: np.ndarray, t: np.ndarray, loss: str) -> np.ndarray:
    """d loss / d z, shape (n, K)."""
    if loss == "ce":
        return softmax(z, axis=1) * t.sum(axis=1, keepdims=True) - t
    if loss == "mse":
        return 2.0 * (z - t)
    raise ValueError(f"unknown loss {loss!r}: expected one of {LOSSES}")


def _prepare(
    W: np.ndarray,
    b: np.ndarray | None,
    c: np.ndarray | int,
    c2: np.ndarray | int,
    lam: np.ndarray | float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Validate and broadcast to flat arrays: W (K, d), b (K,), c, c2 int (n,), lam float (n,)."""
    W = np.asarray(W, dtype=np.float64)
    if W.ndim != 2 or W.shape[0] < 2:
        raise ValueError(f"W must be a (K, d) array with K >= 2, got shape {W.shape}")
    K = W.shape[0]
    b = np.zeros(K) if b is None else np.asarray(b, dtype=np.float64)
    if b.shape != (K,):
        raise ValueError(f"b must have shape ({K},), got {b.shape}")
    c, c2, lam = np.broadcast_arrays(np.asarray(c), np.asarray(c2), np.asarray(lam, float))
    c, c2, lam = c.ravel(), c2.ravel(), lam.ravel()
    for name, arr in (("c", c), ("c2", c2)):
        if arr.size and not np.issubdtype(arr.dtype, np.integer):
            raise ValueError(f"{name} must hold integer class indices, got dtype {arr.dtype}")
        if arr.size and (arr.min() < 0 or arr.max() >= K):
            raise ValueError(f"{name} must hold class indices in [0, {K - 1}]")
    if lam.size and not (np.all(lam >= 0) and np.all(lam <= 1)):
        raise ValueError("lam must lie in [0, 1]")
    return W, b, c.astype(np.intp), c2.astype(np.intp), lam
