"""How close the measured features come to the UFM optimum of the mixup loss (SPEC sections 2, 4).

For every (pair, lam) cell of the grid, (c, c') a class pair (same-class included) with c weighted
by lam, the empirical mean e(c, c', lam) of P(h - mu_G) (P the projection onto the row space of
the centred classifier W_c = W - 1 w_bar^T, mu_G the global mean of the clean training features;
computed in an orthonormal basis of that row space) is compared with the theory:

(a) 'etf': the optimum for a simplex-ETF classifier with bias 0 (theory.etf_optimum), of row norm
    s = RMS ||w_k - w_bar||, carried into feature space by the orthogonal Procrustes map R
    (R = argmin ||M_etf R - W_c||_F over R with orthonormal columns, M_etf = simplex_etf(K, s));
(b) 'own_w': the optimum for the network's own W and bias (theory.fixed_classifier_optimum), with
    the bias b + W mu_G that the centred features h - mu_G see (z = W (h - mu_G) + b + W mu_G).

The feature weight decay mu is unknown. The ETF optimum depends on it only through
gamma = a / mu (a = s^2 K / (K - 1)) up to an overall 1/mu scale, so we fit mu by a 1-D search
(a coarse log grid over gamma in [1e-2, 1e4], then bounded Brent) and one overall scale alpha by
least squares over the whole grid: alpha = <E, T> / <T, T>, so the residual
||E - alpha T||^2 / ||E||^2 = 1 - cos^2(E, T) of the stacked grids, which is what the search
minimises. Per cell: cos(e, alpha t) and the relative distance ||e - alpha t|| / ||e||;
reported as their means over the grid, with the fitted mu.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np
from scipy.optimize import minimize_scalar

from nc_mixup.analysis.geometry import row_space_basis

GAMMA_RANGE = (1e-2, 1e4)


def _theory():
    """(etf_optimum, simplex_etf, fixed_classifier_optimum) from the theory package."""
    try:
        from theory import etf_optimum, fixed_classifier_optimum, simplex_etf
    except ImportError:  # the package's __init__ not there yet: its modules
        from theory.etf import etf_optimum, simplex_etf
        from theory.fixed_classifier import fixed_classifier_optimum
    return etf_optimum, simplex_etf, fixed_classifier_optimum


@dataclasses.dataclass(frozen=True)
class GridMeans:
    """Empirical means e (m, r) per (c, c2, lam) cell, with the cell keys (m,) each."""

    c: np.ndarray
    c2: np.ndarray
    lam: np.ndarray
    E: np.ndarray


@dataclasses.dataclass(frozen=True)
class TheoryFit:
    """What is needed to evaluate the fitted theories in feature space (for figures)."""

    K: int
    loss: str
    basis: np.ndarray  # (d, r) orthonormal basis of the row space of W_c
    mu_g: np.ndarray  # (d,)
    W: np.ndarray  # (K, d)
    b_eff: np.ndarray  # (K,) bias seen by h - mu_G
    etf_norm: float
    etf_rotation: np.ndarray  # (K, r): ETF coordinates -> row-space coordinates
    mu_etf: float
    alpha_etf: float
    mu_own: float
    alpha_own: float


def grid_means(Z: np.ndarray, y1: np.ndarray, y2: np.ndarray, lam: np.ndarray) -> GridMeans:
    """Mean of the rows of Z over each distinct (y1, y2, lam) cell."""
    keys = np.stack([np.asarray(y1, np.float64), np.asarray(y2, np.float64), np.asarray(lam)], 1)
    uniq, inv = np.unique(keys, axis=0, return_inverse=True)
    inv = inv.ravel()
    sums = np.zeros((len(uniq), Z.shape[1]))
    np.add.at(sums, inv, Z)
    E = sums / np.bincount(inv, minlength=len(uniq))[:, None]
    return GridMeans(uniq[:, 0].astype(np.int64), uniq[:, 1].astype(np.int64), uniq[:, 2], E)


def procrustes(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """R = argmin_R ||A R - B||_F over R with orthonormal columns: R = U V^T, A^T B = U S V^T."""
    U, _, Vt = np.linalg.svd(A.T @ B, full_matrices=False)
    return U @ Vt


def global_cosine(E: np.ndarray, T: np.ndarray) -> float:
    """<E, T>_F / (||E||_F ||T||_F) of two stacked grids (0 if either is zero)."""
    den = np.linalg.norm(E) * np.linalg.norm(T)
    return float(np.sum(E * T) / den) if den > 0 else 0.0


def best_scale(E: np.ndarray, T: np.ndarray) -> float:
    """alpha = argmin ||E - alpha T||_F = <E, T> / <T, T>."""
    tt = float(np.sum(T * T))
    return float(np.sum(E * T) / tt) if tt > 0 else 0.0


def cell_agreement(E: np.ndarray, T: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(cos(e, t), ||e - t|| / ||e||) per row."""
    ne, nt = np.linalg.norm(E, axis=1), np.linalg.norm(T, axis=1)
    den = ne * nt
    cos = np.divide(np.sum(E * T, axis=1), den, out=np.zeros(len(E)), where=den > 0)
    dist = np.divide(np.linalg.norm(E - T, axis=1), ne, out=np.full(len(E), np.nan), where=ne > 0)
    return cos, dist


def fit_gamma(theory: Callable[[float], np.ndarray], E: np.ndarray, grid_points: int = 25) -> float:
    """gamma in GAMMA_RANGE maximising the stacked cosine between E and theory(gamma) (a coarse
    log grid, then bounded Brent on the bracket around the best grid point)."""
    lo, hi = np.log(GAMMA_RANGE[0]), np.log(GAMMA_RANGE[1])
    grid = np.linspace(lo, hi, grid_points)
    f = lambda g: -global_cosine(E, theory(float(np.exp(g))))
    vals = np.array([f(g) for g in grid])
    i = int(np.nanargmin(vals))
    a, b = grid[max(i - 1, 0)], grid[min(i + 1, grid_points - 1)]
    res = minimize_scalar(f, bounds=(a, b), method="bounded", options={"xatol": 1e-4})
    best = res.x if res.fun <= vals[i] else grid[i]
    return float(np.exp(best))


def fit_theories(
    means: GridMeans,
    W: np.ndarray,
    b: np.ndarray,
    mu_g: np.ndarray,
    basis: np.ndarray,
    loss: str = "ce",
) -> TheoryFit:
    """Fit mu and the scale of both theories to the grid means (see the module docstring)."""
    etf_optimum, simplex_etf, fixed_classifier_optimum = _theory()
    W = np.asarray(W, dtype=np.float64)
    K = W.shape[0]
    Wc = (W - W.mean(axis=0)) @ basis  # (K, r)
    s = float(np.sqrt(np.mean(np.sum(Wc**2, axis=1))))
    a = s**2 * K / (K - 1.0)
    R = procrustes(simplex_etf(K, s), Wc)
    b_eff = np.asarray(b, dtype=np.float64) + W @ mu_g
    c, c2, lam = means.c, means.c2, means.lam

    etf = lambda mu: etf_optimum(K, mu, c, c2, lam, norm=s, loss=loss) @ R
    own = lambda mu: fixed_classifier_optimum(W, b_eff, mu, c, c2, lam, loss=loss) @ basis
    mu_etf = a / fit_gamma(lambda g: etf(a / g), means.E)
    mu_own = a / fit_gamma(lambda g: own(a / g), means.E)
    return TheoryFit(
        K=K,
        loss=loss,
        basis=basis,
        mu_g=np.asarray(mu_g, np.float64),
        W=W,
        b_eff=b_eff,
        etf_norm=s,
        etf_rotation=R,
        mu_etf=mu_etf,
        alpha_etf=best_scale(means.E, etf(mu_etf)),
        mu_own=mu_own,
        alpha_own=best_scale(means.E, own(mu_own)),
    )


def at_bound(mu: float, fit: TheoryFit, rtol: float = 1e-3) -> bool:
    """Whether the fitted mu sits at an end of the search range (gamma = a / mu in GAMMA_RANGE):
    then the data prefer a weaker or stronger feature decay than the range allows."""
    gamma = fit.etf_norm**2 * fit.K / (fit.K - 1.0) / mu
    return any(abs(np.log(gamma / g)) < rtol for g in GAMMA_RANGE)


def theory_coordinates(fit: TheoryFit, c, c2, lam, which: str = "etf") -> np.ndarray:
    """alpha T(c, c2, lam) of the fitted theory `which` ('etf' | 'own_w'), in row-space
    coordinates (n, r), comparable with the grid means."""
    etf_optimum, _, fixed_classifier_optimum = _theory()
    if which == "etf":
        T = etf_optimum(fit.K, fit.mu_etf, c, c2, lam, norm=fit.etf_norm, loss=fit.loss)
        return fit.alpha_etf * (T @ fit.etf_rotation)
    if which == "own_w":
        T = fixed_classifier_optimum(fit.W, fit.b_eff, fit.mu_own, c, c2, lam, loss=fit.loss)
        return fit.alpha_own * (T @ fit.basis)
    raise ValueError(f"unknown theory {which!r}: expected 'etf' or 'own_w'")


def theory_features(fit: TheoryFit, c, c2, lam, which: str = "etf") -> np.ndarray:
    """The fitted theory in feature space, mu_G + basis @ coordinates, (n, d): what the network's
    features h would be if P(h - mu_G) followed the theory (for the overlay figure)."""
    return fit.mu_g + theory_coordinates(fit, c, c2, lam, which) @ fit.basis.T


def theory_agreement(
    H: np.ndarray,
    y1: np.ndarray,
    y2: np.ndarray,
    lam: np.ndarray,
    W: np.ndarray,
    b: np.ndarray,
    mu_g: np.ndarray,
    loss: str = "ce",
) -> tuple[dict, TheoryFit, GridMeans]:
    """Agreement of the mixed features with both fitted theories.

    Returns (metrics, fit, means): metrics has 'theory_cos_etf', 'theory_cos_own_w',
    'theory_rel_dist_etf', 'theory_rel_dist_own_w' (means over the grid cells),
    'theory_fitted_weight_decay' (mu of the ETF fit, in the units where the ETF has row norm
    s = RMS ||w_k - w_bar||), 'theory_fitted_weight_decay_own_w', 'theory_etf_norm',
    'theory_fit_at_bound' (a fitted mu at an end of the search range), and per-cell arrays
    under 'cells' (c, c2, lam, cos_etf, cos_own_w, rel_dist_etf, rel_dist_own_w).
    """
    basis = row_space_basis(W)
    Z = (np.asarray(H, dtype=np.float64) - mu_g) @ basis
    means = grid_means(Z, y1, y2, lam)
    fit = fit_theories(means, W, b, mu_g, basis, loss=loss)
    cos_e, dist_e = cell_agreement(means.E, theory_coordinates(fit, means.c, means.c2, means.lam))
    cos_o, dist_o = cell_agreement(
        means.E, theory_coordinates(fit, means.c, means.c2, means.lam, "own_w")
    )
    metrics = {
        "theory_cos_etf": float(np.mean(cos_e)),
        "theory_cos_own_w": float(np.mean(cos_o)),
        "theory_rel_dist_etf": float(np.nanmean(dist_e)),
        "theory_rel_dist_own_w": float(np.nanmean(dist_o)),
        "theory_fitted_weight_decay": fit.mu_etf,
        "theory_fitted_weight_decay_own_w": fit.mu_own,
        "theory_etf_norm": fit.etf_norm,
        "theory_fit_at_bound": bool(at_bound(fit.mu_etf, fit) or at_bound(fit.mu_own, fit)),
        "cells": {
            "c": means.c,
            "c2": means.c2,
            "lam": means.lam,
            "cos_etf": cos_e,
            "cos_own_w": cos_o,
            "rel_dist_etf": dist_e,
            "rel_dist_own_w": dist_o,
        },
    }
    return metrics, fit, means
