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

The feature weight decay mu is unknown. The optimum depends on it only through gamma = a / mu
(a = s^2 K / (K - 1)) up to an overall scale, so each theory is fitted by a 1-D search over gamma
(a coarse log grid over GAMMA_RANGE, then bounded Brent) with one overall scale alpha fitted
inside, and the objective of the fit is the statistic it reports: the mean over cells of the
relative distance ||e - alpha t|| / ||e||. The fit uses the INTERIOR DIFFERENT-CLASS cells
(c != c', 0 < lam < 1), the only cells where the CE theory and a straight segment differ.

The straight alternative: the chord between the ETF class vertices, lam w_c + (1 - lam) w_c'
(mapped by the same R), with its own fitted scale: the MSE optimum, and the CE optimum's
gamma -> 0 limit. `theory_delta_straight` = (mean relative distance to the fitted straight
chord) - (mean relative distance to the fitted CE optimum) on the interior cells: > 0 when the CE
theory explains the measured paths better than straight segments; ~0 when the data are straight
(then the CE fit runs to the lower gamma bound, `theory_fit_at_bound`). It always uses the CE
theory, whatever loss the network was trained with (the MSE network is a control of the claim that
the CE theory describes CE-mixup features). `straight_comparison` is in-sample with p = 2 (the
statistic of claim C5, per class triple); the held-out comparison with the generalised penalty
(mu/p)||h||^p is nc_mixup.analysis.theory_power. The whole-grid metrics (theory_cos_*,
theory_rel_dist_*) evaluate the fitted theory of the network's own loss on every cell, at the
interior fit.
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


def cell_agreement(E: np.ndarray, T: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(cos(e, t), ||e - t|| / ||e||) per row."""
    ne, nt = np.linalg.norm(E, axis=1), np.linalg.norm(T, axis=1)
    den = ne * nt
    cos = np.divide(np.sum(E * T, axis=1), den, out=np.zeros(len(E)), where=den > 0)
    dist = np.divide(np.linalg.norm(E - T, axis=1), ne, out=np.full(len(E), np.nan), where=ne > 0)
    return cos, dist


def mean_rel_dist(E: np.ndarray, T: np.ndarray) -> float:
    """Mean over rows with e != 0 of ||e - t|| / ||e||."""
    return float(np.nanmean(cell_agreement(E, T)[1]))


def fit_scale(E: np.ndarray, T: np.ndarray) -> tuple[float, float]:
    """(alpha, value): alpha >= 0 minimising mean_rel_dist(E, alpha T) (a convex 1-D problem:
    a mean of norms of affine functions of alpha), and the minimum."""
    ne, nt = np.linalg.norm(E, axis=1), np.linalg.norm(T, axis=1)
    if not np.any(nt > 0):
        return 0.0, mean_rel_dist(E, T)
    upper = 4.0 * float(np.sum(ne)) / float(np.sum(nt)) + 1e-300
    f = lambda alpha: mean_rel_dist(E, alpha * T)
    res = minimize_scalar(f, bounds=(0.0, upper), method="bounded", options={"xatol": 1e-8 * upper})
    return float(res.x), float(res.fun)


def fit_gamma(
    theory: Callable[[float], np.ndarray], E: np.ndarray, grid_points: int = 25
) -> tuple[float, float, float]:
    """(gamma, alpha, value): gamma in GAMMA_RANGE and alpha minimising the mean relative distance
    between E and alpha * theory(gamma) (a coarse log grid, then bounded Brent on the bracket
    around the best grid point; the scale is fitted inside by fit_scale)."""
    lo, hi = np.log(GAMMA_RANGE[0]), np.log(GAMMA_RANGE[1])
    grid = np.linspace(lo, hi, grid_points)
    f = lambda g: fit_scale(E, theory(float(np.exp(g))))[1]
    vals = np.array([f(g) for g in grid])
    i = int(np.nanargmin(vals))
    a, b = grid[max(i - 1, 0)], grid[min(i + 1, grid_points - 1)]
    res = minimize_scalar(f, bounds=(a, b), method="bounded", options={"xatol": 1e-4})
    best = res.x if res.fun <= vals[i] else grid[i]
    gamma = float(np.exp(best))
    alpha, value = fit_scale(E, theory(gamma))
    return gamma, alpha, value


def interior_mask(means: GridMeans) -> np.ndarray:
    """Different-class cells with 0 < lam < 1 (where CE channels and straight chords differ)."""
    return (means.c != means.c2) & (means.lam > 0) & (means.lam < 1)


def _etf_frame(W: np.ndarray, basis: np.ndarray) -> tuple[int, float, float, np.ndarray]:
    """(K, s, a, R): row norm s = RMS ||w_k - w_bar||, a = s^2 K / (K - 1), and the Procrustes
    map R from ETF coordinates to the row-space coordinates of W_c."""
    _, simplex_etf, _ = _theory()
    K = W.shape[0]
    Wc = (W - W.mean(axis=0)) @ basis  # (K, r)
    s = float(np.sqrt(np.mean(np.sum(Wc**2, axis=1))))
    return K, s, s**2 * K / (K - 1.0), procrustes(simplex_etf(K, s), Wc)


def fit_theories(
    means: GridMeans,
    W: np.ndarray,
    b: np.ndarray,
    mu_g: np.ndarray,
    basis: np.ndarray,
    loss: str = "ce",
) -> TheoryFit:
    """Fit gamma (hence mu) and the scale of both theories of `loss` to the interior
    different-class cells of the grid means (see the module docstring)."""
    etf_optimum, _, fixed_classifier_optimum = _theory()
    W = np.asarray(W, dtype=np.float64)
    K, s, a, R = _etf_frame(W, basis)
    b_eff = np.asarray(b, dtype=np.float64) + W @ mu_g
    m = interior_mask(means)
    if not m.any():
        m = np.ones(len(means.c), dtype=bool)  # no interior cell: fit on the whole grid
    c, c2, lam, E = means.c[m], means.c2[m], means.lam[m], means.E[m]

    etf = lambda mu: etf_optimum(K, mu, c, c2, lam, norm=s, loss=loss) @ R
    own = lambda mu: fixed_classifier_optimum(W, b_eff, mu, c, c2, lam, loss=loss) @ basis
    g_etf, alpha_etf, _ = fit_gamma(lambda g: etf(a / g), E)
    g_own, alpha_own, _ = fit_gamma(lambda g: own(a / g), E)
    return TheoryFit(
        K=K,
        loss=loss,
        basis=basis,
        mu_g=np.asarray(mu_g, np.float64),
        W=W,
        b_eff=b_eff,
        etf_norm=s,
        etf_rotation=R,
        mu_etf=a / g_etf,
        alpha_etf=alpha_etf,
        mu_own=a / g_own,
        alpha_own=alpha_own,
    )


def straight_comparison(means: GridMeans, W: np.ndarray, basis: np.ndarray) -> dict[str, float]:
    """The CE theory against the straight chord on the interior different-class cells.

    Returns 'theory_gamma_etf' (the fitted gamma = a / mu of the CE optimum under the ETF),
    'theory_rel_dist_interior' (its fitted mean relative distance), 'theory_rel_dist_straight'
    (the straight chord's, scale fitted), 'theory_delta_straight' (straight minus CE; NaN without
    interior cells) and 'theory_fit_at_bound' (gamma at an end of GAMMA_RANGE)."""
    etf_optimum, _, _ = _theory()
    W = np.asarray(W, dtype=np.float64)
    K, s, a, R = _etf_frame(W, basis)
    m = interior_mask(means)
    if not m.any():
        nan = float("nan")
        return {
            "theory_gamma_etf": nan,
            "theory_rel_dist_interior": nan,
            "theory_rel_dist_straight": nan,
            "theory_delta_straight": nan,
            "theory_fit_at_bound": False,
        }
    c, c2, lam, E = means.c[m], means.c2[m], means.lam[m], means.E[m]
    ce = lambda g: etf_optimum(K, a / g, c, c2, lam, norm=s, loss="ce") @ R
    gamma, _, rel_ce = fit_gamma(ce, E)
    chord = etf_optimum(K, 1.0, c, c2, lam, norm=s, loss="mse") @ R  # straight, any mu
    _, rel_straight = fit_scale(E, chord)
    return {
        "theory_gamma_etf": gamma,
        "theory_rel_dist_interior": rel_ce,
        "theory_rel_dist_straight": rel_straight,
        "theory_delta_straight": rel_straight - rel_ce,
        "theory_fit_at_bound": gamma_at_bound(gamma),
    }


def gamma_at_bound(gamma: float, rtol: float = 1e-3) -> bool:
    """Whether a fitted gamma sits at an end of GAMMA_RANGE (the data prefer a value outside)."""
    return bool(any(abs(np.log(gamma / g)) < rtol for g in GAMMA_RANGE))


def at_bound(mu: float, fit: TheoryFit, rtol: float = 1e-3) -> bool:
    """Whether the fitted mu sits at an end of the search range (gamma = a / mu in GAMMA_RANGE):
    then the data prefer a weaker or stronger feature decay than the range allows."""
    return gamma_at_bound(fit.etf_norm**2 * fit.K / (fit.K - 1.0) / mu, rtol)


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


def row_space_means(
    H: np.ndarray, y1: np.ndarray, y2: np.ndarray, lam: np.ndarray, W: np.ndarray, mu_g: np.ndarray
) -> tuple[GridMeans, np.ndarray]:
    """(grid means of P(h - mu_G) in an orthonormal basis of the centred row space, the basis)."""
    basis = row_space_basis(W)
    Z = (np.asarray(H, dtype=np.float64) - mu_g) @ basis
    return grid_means(Z, y1, y2, lam), basis


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
    'theory_fit_at_bound_own_w', and per-cell arrays
    under 'cells' (c, c2, lam, cos_etf, cos_own_w, rel_dist_etf, rel_dist_own_w).
    """
    means, basis = row_space_means(H, y1, y2, lam, W, mu_g)
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
        "theory_fit_at_bound_own_w": bool(at_bound(fit.mu_own, fit)),
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
