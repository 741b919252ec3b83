"""The full unconstrained-features model under the mixup loss: W, b and the features jointly.

    min_{W, b, H}  (1/K^2) sum_{c, c2} sum_j w_j [ loss(W h_{c,c2,j} + b, t_{c,c2,lam_j})
                                               + (mu_h/2) ||h_{c,c2,j}||^2 ] + (mu_w/2) ||W||_F^2

(t = lam e_c + (1 - lam) e_c2; loss = CE, or MSE = ||z - t||^2, which differs from the two-term
lam ||z - e_c||^2 + (1 - lam) ||z - e_c2||^2 by a constant) over all K^2 ordered class pairs
(uniform) and the Gauss-Jacobi nodes lam_j, weights w_j, of
lam ~ Beta(alpha, alpha): the expectation over lam is exact for polynomials of degree < 2 n.
Given (W, b) the features separate into the strictly convex per-point problems of
theory.fixed_classifier, solved exactly by Newton; so the problem is solved as
min_{W, b} F(W, b), F(W, b) = min_H L(W, b, H), whose gradient is dL/d(W, b) at H*(W, b)
(envelope theorem), by L-BFGS, followed by a few Newton steps on F (finite-difference Hessian of
the exact gradient, pseudo-inverted because F is invariant to rotations of feature space).
"""

from __future__ import annotations

import dataclasses

import numpy as np
from scipy.optimize import minimize
from scipy.special import roots_jacobi

from theory.etf import LOSSES, _check_positive, simplex_etf
from theory.fixed_classifier import (
    _loss,
    _loss_grad,
    fixed_classifier_optimum,
    soft_targets,
)


@dataclasses.dataclass
class UFMResult:
    """Result of full_ufm. features[c, c2, i] = h*(c, c2, lambdas[i]) for the returned (W, b)."""

    W: np.ndarray  # (K, d)
    b: np.ndarray  # (K,)
    lambdas: np.ndarray  # (m,) the output grid
    features: np.ndarray  # (K, K, m, d)
    nodes: np.ndarray  # (n,) quadrature nodes in lam
    weights: np.ndarray  # (n,) quadrature weights, sum 1
    loss: float  # F at the returned point
    loss_history: list[float]  # F after each L-BFGS / Newton iteration (first: the start)
    grad_norm: float  # ||dF/d(W, b)|| at the returned point (dL/dH = 0 there up to Newton tol)
    diagnostics: dict  # etf_diagnostics(W) plus the comparison with the best scaled ETF
    converged: bool


def beta_quadrature(alpha: float, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Nodes lam_j, weights w_j (sum 1) with sum_j w_j f(lam_j) = E_{lam ~ Beta(alpha, alpha)} f.

    Exact for polynomials f of degree < 2n (Gauss-Jacobi with exponents alpha - 1 on [-1, 1],
    mapped by lam = (1 + x) / 2).
    """
    alpha = _check_positive(alpha, "alpha")
    if int(n) != n or n < 1:
        raise ValueError(f"number of quadrature nodes must be an integer >= 1, got {n}")
    x, w = roots_jacobi(int(n), alpha - 1.0, alpha - 1.0)
    return (1.0 + x) / 2.0, w / w.sum()


def etf_diagnostics(W: np.ndarray, atol: float = 1e-9) -> dict:
    """How far the rows of W (K x d) are from a simplex ETF: all 0 for one (any scale, rotation).

    norm_cv = std/mean of ||w_k||; max_cos_deviation = max_{i != j} |cos(w_i, w_j) + 1/(K-1)|;
    mean_row_ratio = ||mean_k w_k|| / mean_k ||w_k||; etf_distance =
    || W W^T / ||W W^T||_F - (I - 11^T/K) / ||I - 11^T/K||_F ||_F (the NC2 distance, uncentred:
    a common shift of the rows moves no CE decision, but weight decay removes it at an optimum).
    `collapsed` is True when every row norm is <= atol (weight decay too large for any non-zero
    optimum); then, and whenever a row vanishes, the four distances are nan.
    """
    W = np.asarray(W, dtype=np.float64)
    K = W.shape[0]
    norms = np.linalg.norm(W, axis=1)
    out = {"row_norm_mean": float(norms.mean()), "collapsed": bool(norms.max() <= atol)}
    if out["collapsed"] or norms.min() <= 0:
        nan = float("nan")
        out.update(norm_cv=nan, max_cos_deviation=nan, mean_row_ratio=nan, etf_distance=nan)
        return out
    cos = (W @ W.T) / np.outer(norms, norms)
    off = ~np.eye(K, dtype=bool)
    G = W @ W.T
    P = np.eye(K) - np.full((K, K), 1.0 / K)
    out["norm_cv"] = float(norms.std() / norms.mean())
    out["max_cos_deviation"] = float(np.abs(cos[off] + 1.0 / (K - 1)).max())
    out["mean_row_ratio"] = float(np.linalg.norm(W.mean(axis=0)) / norms.mean())
    out["etf_distance"] = float(np.linalg.norm(G / np.linalg.norm(G) - P / np.linalg.norm(P)))
    return out


class _Problem:
    """The reduced objective F(W, b) with warm-started inner Newton solves."""

    def __init__(
        self,
        K: int,
        d: int,
        mu_h: float,
        mu_w: float,
        nodes: np.ndarray,
        weights: np.ndarray,
        loss: str,
        bias: bool,
    ) -> None:
        self.K, self.d, self.mu_h, self.mu_w = K, d, mu_h, mu_w
        self.loss, self.bias = loss, bias
        c, c2, j = np.meshgrid(np.arange(K), np.arange(K), np.arange(len(nodes)), indexing="ij")
        self.c, self.c2 = c.ravel(), c2.ravel()
        self.lam = nodes[j.ravel()]
        self.weight = weights[j.ravel()] / K**2
        self.t = soft_targets(K, self.c, self.c2, self.lam)
        self.H = None  # warm start

    def unpack(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        K, d = self.K, self.d
        W = x[: K * d].reshape(K, d)
        b = x[K * d :] if self.bias else np.zeros(K)
        return W, b

    def pack(self, W: np.ndarray, b: np.ndarray) -> np.ndarray:
        return np.concatenate([W.ravel(), b]) if self.bias else W.ravel().copy()

    def features(self, W: np.ndarray, b: np.ndarray) -> np.ndarray:
        self.H = fixed_classifier_optimum(
            W, b, self.mu_h, self.c, self.c2, self.lam, loss=self.loss, h0=self.H
        )
        return self.H

    def joint(
        self, W: np.ndarray, b: np.ndarray, H: np.ndarray
    ) -> tuple[float, np.ndarray, np.ndarray, np.ndarray]:
        """L(W, b, H) and its gradients in W, b, H."""
        z = H @ W.T + b
        per = _loss(z, self.t, self.loss) + 0.5 * self.mu_h * np.sum(H * H, axis=1)
        value = float(self.weight @ per + 0.5 * self.mu_w * np.sum(W * W))
        gz = _loss_grad(z, self.t, self.loss) * self.weight[:, None]
        gW = gz.T @ H + self.mu_w * W
        gb = gz.sum(axis=0)
        gH = gz @ W + self.mu_h * self.weight[:, None] * H
        return value, gW, gb, gH

    def reduced(self, x: np.ndarray) -> tuple[float, np.ndarray]:
        W, b = self.unpack(x)
        value, gW, gb, _ = self.joint(W, b, self.features(W, b))
        return value, self.pack(gW, gb)


def full_ufm(
    K: int,
    d: int,
    weight_decay_h: float,
    weight_decay_w: float,
    alpha: float = 1.0,
    loss: str = "ce",
    bias: bool = True,
    nodes: int = 16,
    lambdas: np.ndarray | None = None,
    seed: int = 0,
    W0: np.ndarray | None = None,
    max_iter: int = 5000,
    newton_steps: int = 8,
) -> UFMResult:
    """argmin_{W, b, H} E_{(c,c2) uniform, lam ~ Beta(alpha, alpha)} [loss(W h + b, t)
    + mu_h/2 ||h||^2] + mu_w/2 ||W||_F^2, with one free feature h per (c, c2, lam).

    The expectation over lam uses `nodes` Gauss-Jacobi nodes. W starts at W0 or a seeded Gaussian;
    bias=False fixes b = 0. Returns the optimum, the features h*(c, c2, lam) on `lambdas`
    (default 21 points on [0, 1]) for the returned (W, b), the loss history, the final gradient
    norm and etf_diagnostics(W) together with `etf_loss_gap` = F(best scaled simplex ETF, best b)
    - F(W, b) (>= 0 up to tolerance; > 0 means the ETF is not optimal; nan if d < K - 1).
    """
    if int(K) != K or K < 2:
        raise ValueError(f"K (number of classes) must be an integer >= 2, got {K}")
    if int(d) != d or d < 1:
        raise ValueError(f"d (feature dimension) must be an integer >= 1, got {d}")
    if loss not in LOSSES:
        raise ValueError(f"unknown loss {loss!r}: expected one of {LOSSES}")
    mu_h = _check_positive(weight_decay_h, "weight_decay_h")
    mu_w = _check_positive(weight_decay_w, "weight_decay_w")
    lam_nodes, lam_weights = beta_quadrature(alpha, nodes)
    lambdas = np.linspace(0.0, 1.0, 21) if lambdas is None else np.asarray(lambdas, float)
    if lambdas.size and not (np.all(lambdas >= 0) and np.all(lambdas <= 1)):
        raise ValueError("lambdas must lie in [0, 1]")
    K, d = int(K), int(d)
    prob = _Problem(K, d, mu_h, mu_w, lam_nodes, lam_weights, loss, bias)
    if W0 is None:
        W0 = np.random.default_rng(seed).normal(size=(K, d)) / np.sqrt(d)
    x0 = prob.pack(np.asarray(W0, float), np.zeros(K))

    history = [prob.reduced(x0)[0]]

    def record(intermediate_result) -> None:  # scipy passes the iterate under this name
        history.append(float(intermediate_result.fun))

    res = minimize(
        prob.reduced,
        x0,
        jac=True,
        method="L-BFGS-B",
        callback=record,
        options={"maxiter": max_iter, "maxcor": 30, "ftol": 0.0, "gtol": 1e-12},
    )
    x = res.x
    x, value, grad = _newton_polish(prob, x, newton_steps, history)
    W, b = prob.unpack(x)
    gnorm = float(np.linalg.norm(grad))
    features = _grid_features(W, b, mu_h, loss, lambdas)
    diagnostics = etf_diagnostics(W)
    diagnostics["etf_loss_gap"] = _best_etf_loss(prob, K, d) - value
    diagnostics["same_class_alignment"] = (
        float("nan") if diagnostics["collapsed"] else _same_class_alignment(W, features)
    )
    return UFMResult(
        W=W,
        b=b,
        lambdas=lambdas,
        features=features,
        nodes=lam_nodes,
        weights=lam_weights,
        loss=value,
        loss_history=history,
        grad_norm=gnorm,
        diagnostics=diagnostics,
        converged=bool(gnorm <= 1e-8 * max(1.0, abs(value))),
    )


def _newton_polish(
    prob: _Problem, x: np.ndarray, steps: int, history: list[float]
) -> tuple[np.ndarray, float, np.ndarray]:
    """Newton steps on F with a central-difference Hessian of the exact gradient.

    F is flat along rotations of feature space (and along b + const for CE), so the Hessian is
    singular there: the step uses its pseudo-inverse; a step that does not decrease F stops.
    """
    value, grad = prob.reduced(x)
    n = x.size
    if n > 600:
        return x, value, grad
    for _ in range(steps):
        gnorm = np.linalg.norm(grad)
        if gnorm <= 1e-13 * max(1.0, abs(value)):
            break
        eps = 1e-6 * max(1.0, np.linalg.norm(x) / np.sqrt(n))
        Hs = np.empty((n, n))
        H_save = prob.H
        for i in range(n):
            e = np.zeros(n)
            e[i] = eps
            Hs[i] = (prob.reduced(x + e)[1] - prob.reduced(x - e)[1]) / (2 * eps)
            prob.H = H_save
        Hs = 0.5 * (Hs + Hs.T)
        step = -np.linalg.lstsq(Hs, grad, rcond=1e-8)[0]
        new_value, new_grad = prob.reduced(x + step)
        if not (np.linalg.norm(new_grad) < gnorm and new_value <= value + 1e-12 * abs(value)):
            prob.reduced(x)  # restore the warm start
            break
        x, value, grad = x + step, new_value, new_grad
        history.append(value)
    return x, value, grad


def _best_etf_loss(prob: _Problem, K: int, d: int) -> float:
    """min_{s, b} F(s E, b), E a simplex ETF embedded in R^d (nan if d < K - 1)."""
    if d < K - 1:
        return float("nan")
    E = simplex_etf(K)
    if d >= K:
        E = np.hstack([E, np.zeros((K, d - K))])
    else:  # d = K - 1: coordinates in an orthonormal basis of 1^perp
        basis = np.linalg.svd(np.eye(K) - np.full((K, K), 1.0 / K))[0][:, : K - 1]
        E = E @ basis
    saved = prob.H
    prob.H = None

    def f(y: np.ndarray) -> tuple[float, np.ndarray]:
        s, b = y[0], y[1:] if prob.bias else np.zeros(K)
        value, gW, gb, _ = prob.joint(s * E, b, prob.features(s * E, b))
        g = np.concatenate([[np.sum(gW * E)], gb]) if prob.bias else np.array([np.sum(gW * E)])
        return value, g

    best = np.inf
    for s0 in (0.5, 2.0, 8.0):
        y0 = np.concatenate([[s0], np.zeros(K)]) if prob.bias else np.array([s0])
        prob.H = None
        r = minimize(
            f,
            y0,
            jac=True,
            method="L-BFGS-B",
            options={"maxiter": 2000, "ftol": 0.0, "gtol": 1e-12},
        )
        best = min(best, float(r.fun))
    prob.H = saved
    return best


def _grid_features(
    W: np.ndarray, b: np.ndarray, mu_h: float, loss: str, lambdas: np.ndarray
) -> np.ndarray:
    """h*(c, c2, lam) for all ordered pairs and the lambdas, shape (K, K, m, d)."""
    K, d = W.shape
    c, c2, lam = np.meshgrid(np.arange(K), np.arange(K), lambdas, indexing="ij")
    H = fixed_classifier_optimum(W, b, mu_h, c.ravel(), c2.ravel(), lam.ravel(), loss=loss)
    return H.reshape(K, K, len(lambdas), d)


def _same_class_alignment(W: np.ndarray, features: np.ndarray) -> float:
    """Mean over classes and lambdas of cos(h*(c, c, lam), w_c) (nan if W or h vanishes)."""
    K = W.shape[0]
    same = features[np.arange(K), np.arange(K)]  # (K, m, d)
    num = np.einsum("kmd,kd->km", same, W)
    den = np.linalg.norm(same, axis=2) * np.linalg.norm(W, axis=1)[:, None]
    with np.errstate(invalid="ignore", divide="ignore"):
        return float(np.mean(num / den))
