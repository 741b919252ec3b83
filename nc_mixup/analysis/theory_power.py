"""The generalised feature penalty (mu/p)||h||^p fitted to measured features, held out (issue 13).

The UFM optimum under a simplex-ETF classifier W = simplex_etf(K, s), a = s^2 K / (K - 1),

    h*(c, c2, lam) = argmin_h CE(W h, t) + (mu/p) ||h||^p,   t = lam e_c + (1 - lam) e_c2,

(theory.etf_optimum(..., penalty_power=p)) is h* = (d1 w_c + d2 w_c2) / a with the logit gaps
d1 = z_c - z_o, d2 = z_c2 - z_o (z_o: the logit of the other classes; theory.ce_gaps). For p < 2
it lies on the p = 2 regularisation path h*_2(gamma'), gamma' = e^x (theory.etf_power): the global
optimum minimises F(x) = CE(x) + (mu/p) r(x)^p over the path (r = ||h||) or is h = 0, and solves
psi(x) = log gamma - x + (1 - p/2) log r(x)^2 = 0 (gamma = a / mu).

A fit evaluates the optimum at hundreds of (gamma, p) on the same lambda grid, which the exact
solver (~0.5 s per p < 2 call on 2 cores) cannot afford. `PathTable` tabulates the p = 2 path
once per analysis on a fine grid of x (step X_STEP, one vectorised theory.ce_gaps call) for every
lambda of the grid; each (gamma, p) is then the grid argmin of F (global, h = 0 included) refined
by linear interpolation of the root of psi between neighbouring nodes. The result agrees with
theory.etf_optimum(..., penalty_power=p) to ~1e-4 relative (tests/test_analysis_theory_power.py);
at p = 2 the root is x = log gamma exactly. K >= 3 (the gap convention of K = 2 differs).

What is fitted and reported (the objective of every fit is the reported statistic: the mean over
interior different-class cells of the relative distance ||e - alpha t|| / ||e||, alpha >= 0 the
overall scale):
- `fit_power_gamma`: (gamma, p, alpha) minimising it: a coarse grid over (log gamma in
  GAMMA_RANGE) x POWER_GRID, then Nelder-Mead in (log gamma, p) within the bounds (p in
  POWER_RANGE);
- `heldout_comparison`: folds (`heldout_folds`) = class triples when the analysis has several
  (leave one triple out: fitted on the class pairs of the other triples that are not in the
  held-out one, since triples share pairs and their data), else the three different-class pairs
  of the one triple (leave one pair out). On each fold gamma, p and alpha of the theory, and the
  straight chord's scale, are fitted on the training pairs and evaluated on the held-out ones:
  delta = rel_dist(straight) - rel_dist(theory), averaged over the folds, for p fitted and for
  p = 2 (gamma and alpha still fitted);
- `predicted_calibration`: the confidence (max softmax) and the probability of the lam-weighted
  class of the optimum's logits z* = W h* along lambda (in the UFM z* = gamma (t - softmax(z*))
  at p = 2: the theory's own probabilities), different- and same-class.
"""

from __future__ import annotations

import dataclasses

import numpy as np
from scipy.optimize import minimize, minimize_scalar

from nc_mixup.analysis.theory_agreement import GAMMA_RANGE, GridMeans, interior_mask

#: p searched in this range (the issue's (0, 2]; below 0.2 the optimum is h = 0 or out of the
#: tabulated range for every gamma of GAMMA_RANGE on our data).
POWER_RANGE = (0.2, 2.0)
#: The coarse grid of p (then refined).
POWER_GRID = (2.0, 1.5, 1.0, 2.0 / 3.0, 0.5, 1.0 / 3.0)
#: The tabulated p = 2 path: x = log gamma' in X_RANGE, step X_STEP.
X_RANGE, X_STEP = (-20.0, 20.0), 0.025
_GAMMA_GRID = 25


@dataclasses.dataclass(frozen=True)
class PathTable:
    """The p = 2 path per lambda column: gaps d1, d2, log ||h||^2 and CE loss on the x grid."""

    K: int
    a: float
    lam: np.ndarray  # (m,) one column per lambda of the grid, different-class
    same: np.ndarray  # (m,) bool: the last column is the same-class point
    x: np.ndarray  # (n,)
    d1: np.ndarray  # (n, m)
    d2: np.ndarray
    log_r2: np.ndarray
    ce: np.ndarray

    @classmethod
    def build(cls, K: int, a: float, lambdas: np.ndarray) -> PathTable:
        """The table for the different-class columns `lambdas` plus one same-class column."""
        from theory.ce_gaps import ce_gaps

        if K < 3:
            raise ValueError(f"PathTable needs K >= 3 classes, got {K}")
        lam = np.r_[np.asarray(lambdas, np.float64), 1.0]
        same = np.r_[np.zeros(len(lam) - 1, bool), True]
        x = np.arange(X_RANGE[0], X_RANGE[1] + X_STEP / 2, X_STEP)
        with np.errstate(all="ignore"):
            d1, d2 = ce_gaps(K, np.exp(x)[:, None], lam[None, :], same[None, :])
        d2 = np.where(same[None, :], 0.0, d2)
        quad = ((K - 1.0) * (d1 * d1 + d2 * d2) - 2.0 * d1 * d2) / K  # a ||h||^2
        with np.errstate(divide="ignore"):
            log_r2 = np.log(quad) - np.log(a)
        ce = _ce_loss(K, d1, d2, lam[None, :], same[None, :])
        return cls(K, float(a), lam, same, x, d1, d2, log_r2, ce)

    def column(self, lam: np.ndarray, same: bool = False) -> np.ndarray:
        """Column index of each lambda (different-class), or of the same-class column."""
        if same:
            return np.full(np.shape(lam), len(self.lam) - 1)
        cols = self.lam[:-1]
        idx = np.abs(np.asarray(lam)[..., None] - cols).argmin(-1)
        if np.any(np.abs(cols[idx] - lam) > 1e-9):
            raise ValueError("a lambda is not in the table's grid")
        return idx

    def gaps(self, gamma: float, p: float) -> tuple[np.ndarray, np.ndarray, bool]:
        """(d1, d2) per column of the global optimum of the (mu/p)||h||^p problem at
        gamma = a / mu, and whether every optimum lies inside the tabulated x range."""
        log_g = np.log(gamma)
        F = self.ce + (1.0 / (gamma * p)) * self.a * np.exp(0.5 * p * self.log_r2)
        j = np.nanargmin(F, axis=0)
        cols = np.arange(F.shape[1])
        zero = F[j, cols] >= np.log(self.K)  # h = 0 (loss log K, no penalty) is as good
        psi = log_g - self.x[:, None] + (1.0 - 0.5 * p) * self.log_r2
        n = len(self.x)
        # the root of psi next to the best node: psi > 0 left of it, < 0 right
        lo = np.where(psi[j, cols] > 0, j, j - 1)
        inside = (lo >= 0) & (lo < n - 1)
        lo = np.clip(lo, 0, n - 2)
        p0, p1 = psi[lo, cols], psi[lo + 1, cols]
        den = p0 - p1
        t = np.clip(np.divide(p0, den, out=np.zeros_like(p0), where=den != 0), 0.0, 1.0)
        d1 = (1 - t) * self.d1[lo, cols] + t * self.d1[lo + 1, cols]
        d2 = (1 - t) * self.d2[lo, cols] + t * self.d2[lo + 1, cols]
        ok = bool(np.all(inside | zero))
        return np.where(zero, 0.0, d1), np.where(zero, 0.0, d2), ok


def _ce_loss(K, d1, d2, lam, same) -> np.ndarray:
    """CE of the logits (d1, d2, 0 x others) against t (same: e_c)."""
    m = np.where(same, K - 1.0, K - 2.0)
    d2e = np.where(same, -np.inf, d2)
    mx = np.maximum(np.maximum(d1, d2e), 0.0)
    lse = mx + np.log(np.exp(d1 - mx) + np.exp(d2e - mx) + m * np.exp(-mx))
    return lse - np.where(same, d1, lam * d1 + (1 - lam) * d2)


@dataclasses.dataclass(frozen=True)
class Cells:
    """Interior different-class cells reduced to what the fits need: with V1 = w_c R,
    V2 = w_c2 R (the ETF rows in the row-space coordinates of the means e), per cell
    n2 = ||e||^2, e1 = <e, V1>, e2 = <e, V2>, v11, v12, v22 = <V_i, V_j>, and the table column."""

    col: np.ndarray
    lam: np.ndarray
    n2: np.ndarray
    e1: np.ndarray
    e2: np.ndarray
    v11: np.ndarray
    v12: np.ndarray
    v22: np.ndarray

    def take(self, mask: np.ndarray) -> Cells:
        return Cells(*(getattr(self, f.name)[mask] for f in dataclasses.fields(self)))


def make_cells(table: PathTable, W_etf_r: np.ndarray, c, c2, lam, E) -> Cells:
    """Cells of the means E (rows) of the pairs (c, c2, lam); W_etf_r = simplex_etf @ R."""
    V1, V2 = W_etf_r[np.asarray(c)], W_etf_r[np.asarray(c2)]
    dot = lambda A, B: np.sum(A * B, axis=1)
    return Cells(
        table.column(lam),
        np.asarray(lam, np.float64),
        dot(E, E),
        dot(E, V1),
        dot(E, V2),
        dot(V1, V1),
        dot(V1, V2),
        dot(V2, V2),
    )


def rel_dist(cells: Cells, d1: np.ndarray, d2: np.ndarray, alpha: float, a: float) -> float:
    """Mean over cells of ||e - alpha t|| / ||e||, t = (d1 V1 + d2 V2) / a per cell
    (d1, d2: per cell)."""
    dot = (d1 * cells.e1 + d2 * cells.e2) / a
    tt = (d1 * d1 * cells.v11 + 2 * d1 * d2 * cells.v12 + d2 * d2 * cells.v22) / (a * a)
    sq = np.maximum(cells.n2 - 2 * alpha * dot + alpha * alpha * tt, 0.0)
    return float(np.mean(np.sqrt(sq / cells.n2)))


def fit_alpha(cells: Cells, d1: np.ndarray, d2: np.ndarray, a: float) -> tuple[float, float]:
    """(alpha >= 0 minimising rel_dist, the minimum). The objective is a mean of norms of
    affine functions of alpha, convex with f'' = mean (|e|^2 |t|^2 - <e, t>^2) / (|e| q^3) >= 0:
    safeguarded Newton from the weighted least-squares scale."""
    dot = (d1 * cells.e1 + d2 * cells.e2) / a
    tt = (d1 * d1 * cells.v11 + 2 * d1 * d2 * cells.v12 + d2 * d2 * cells.v22) / (a * a)
    n2 = cells.n2
    ne = np.sqrt(n2)
    den = float(np.sum(tt / n2))
    if not den > 0:
        return 0.0, 1.0
    f = lambda al: float(np.mean(np.sqrt(np.maximum(n2 - 2 * al * dot + al * al * tt, 0.0)) / ne))
    alpha = max(float(np.sum(dot / n2)) / den, 0.0)
    value = f(alpha)
    for _ in range(30):
        with np.errstate(all="ignore"):  # q -> 0: an exact fit, nothing left to do
            q = np.sqrt(np.maximum(n2 - 2 * alpha * dot + alpha * alpha * tt, 1e-300))
            g = float(np.mean((alpha * tt - dot) / (ne * q)))
            h = float(np.mean(np.maximum(n2 * tt - dot * dot, 0.0) / (ne * q**3)))
        step = g / h if h > 0 and np.isfinite(h) and np.isfinite(g) else 0.0
        while True:  # backtrack until the objective does not increase
            new = max(alpha - step, 0.0)
            new_value = f(new)
            if new_value <= value or abs(step) < 1e-15 * max(alpha, 1e-300):
                break
            step *= 0.5
        done = abs(new - alpha) <= 1e-12 * max(alpha, 1e-300)
        if new_value <= value:
            alpha, value = new, new_value
        if done or step == 0.0:
            break
    return alpha, value


def straight_gaps(cells: Cells) -> tuple[np.ndarray, np.ndarray]:
    """The straight chord lam w_c + (1 - lam) w_c2 (up to scale) as gaps per cell."""
    return cells.lam, 1.0 - cells.lam


@dataclasses.dataclass(frozen=True)
class PowerFit:
    gamma: float
    power: float
    alpha: float
    value: float
    in_range: bool  # every optimum inside the table and gamma, p not at a bound


class _Objective:
    """rel_dist at (log gamma, p) with alpha fitted, cached per (gamma, p) for the table gaps."""

    def __init__(self, table: PathTable, cache: dict):
        self.table, self.cache = table, cache

    def gaps(self, log_g: float, p: float):
        key = (round(float(log_g), 12), round(float(p), 12))
        if key not in self.cache:
            self.cache[key] = self.table.gaps(float(np.exp(log_g)), float(p))
        return self.cache[key]

    def __call__(self, cells: Cells, log_g: float, p: float) -> tuple[float, float, bool]:
        g1, g2, ok = self.gaps(log_g, p)
        alpha, value = fit_alpha(cells, g1[cells.col], g2[cells.col], self.table.a)
        return value, alpha, ok


def fit_power_gamma(
    table: PathTable, cells: Cells, fixed_power: float | None = None, cache: dict | None = None
) -> PowerFit:
    """(gamma, p, alpha) minimising the mean relative distance on `cells` (p fixed if given)."""
    f = _Objective(table, {} if cache is None else cache)
    lo, hi = np.log(GAMMA_RANGE[0]), np.log(GAMMA_RANGE[1])
    powers = (fixed_power,) if fixed_power is not None else POWER_GRID
    grid = [(g, p) for p in powers for g in np.linspace(lo, hi, _GAMMA_GRID)]
    vals = [f(cells, g, p)[0] for g, p in grid]
    if not np.any(np.isfinite(vals)):  # e.g. every measured mean is 0
        nan = float("nan")
        return PowerFit(nan, nan, nan, nan, False)
    g0, p0 = grid[int(np.nanargmin(vals))]

    def obj(v):
        value, _, ok = f(cells, v[0], fixed_power if fixed_power is not None else v[1])
        return value if ok and np.isfinite(value) else 10.0

    if fixed_power is not None:
        res = minimize_scalar(
            lambda g: obj([g]),
            bounds=(max(lo, g0 - 0.6), min(hi, g0 + 0.6)),
            method="bounded",
            options={"xatol": 1e-4},
        )
        best = (float(res.x), fixed_power) if res.fun <= min(vals) else (g0, fixed_power)
    else:
        simplex = [[g0, p0], [g0 + 0.5, p0], [g0, p0 - 0.15 if p0 > 0.4 else p0 + 0.1]]
        res = minimize(
            obj,
            x0=[g0, p0],
            method="Nelder-Mead",
            bounds=[(lo, hi), POWER_RANGE],
            options={"xatol": 1e-4, "fatol": 1e-7, "initial_simplex": simplex},
        )
        best = (float(res.x[0]), float(res.x[1])) if res.fun <= min(vals) else (g0, p0)
    value, alpha, ok = f(cells, *best)
    at_bound = (
        abs(best[0] - lo) < 1e-3
        or abs(best[0] - hi) < 1e-3
        or (fixed_power is None and best[1] < POWER_RANGE[0] + 1e-3)
    )
    return PowerFit(float(np.exp(best[0])), float(best[1]), alpha, value, bool(ok and not at_bound))


def heldout_folds(triples: list[list[tuple[int, int]]]) -> list[tuple[list, list]]:
    """(test pairs, training pairs) of each fold. Several class triples: each triple's pairs are
    held out in turn and the model is fitted on every pair of the other triples that is NOT one
    of them (triples share class pairs, and a shared pair is the same sampled data in both, so
    it must not be on both sides). One triple: each of its pairs in turn (leave one pair out)."""
    every = list(dict.fromkeys(k for t in triples for k in t))
    if len(triples) > 1:
        folds = [list(dict.fromkeys(t)) for t in triples]
    else:
        folds = [[k] for k in every]
    return [(test, [k for k in every if k not in test]) for test in folds]


def heldout_comparison(
    table: PathTable, pairs: dict[tuple[int, int], Cells], folds: list[tuple[list, list]]
) -> dict[str, float]:
    """Held-out deltas (straight minus theory, mean relative distance on each fold's test pairs,
    everything fitted on its training pairs) with p fitted and with p = 2, their fold means, and
    the fit on every pair.

    Returns 'theory_fit_power', 'theory_gamma_power' (the fit on every pair),
    'theory_fit_power_at_bound', 'theory_delta_straight' (held out, fitted p),
    'theory_delta_straight_p2' (held out, p = 2),
    'theory_rel_dist_heldout', 'theory_rel_dist_heldout_p2', 'theory_rel_dist_straight_heldout',
    'theory_heldout_units' (the number of folds) and 'theory_fold_powers'."""
    nan = float("nan")
    pairs = {k: u for k, u in pairs.items() if len(u.col)}
    folds = [([k for k in te if k in pairs], [k for k in tr if k in pairs]) for te, tr in folds]
    folds = [(te, tr) for te, tr in folds if te and tr]
    cache: dict = {}
    out: dict = {"theory_heldout_units": len(folds)}
    heldout_keys = (
        "theory_delta_straight",
        "theory_delta_straight_p2",
        "theory_rel_dist_heldout",
        "theory_rel_dist_heldout_p2",
        "theory_rel_dist_straight_heldout",
    )
    if not pairs:
        return {
            **out,
            "theory_fit_power": nan,
            "theory_gamma_power": nan,
            "theory_fit_power_at_bound": False,
            **{k: nan for k in heldout_keys},
            "theory_fold_powers": [],
        }
    full = fit_power_gamma(table, _concat(list(pairs.values())), cache=cache)
    out.update(
        {
            "theory_fit_power": full.power,
            "theory_gamma_power": full.gamma,
            "theory_fit_power_at_bound": not full.in_range,
        }
    )
    if not folds:
        return {**out, **{k: nan for k in heldout_keys}, "theory_fold_powers": []}
    rows: dict[str, list[float]] = {"p": [], "p2": [], "straight": [], "powers": []}
    for test_keys, train_keys in folds:
        test = _concat([pairs[k] for k in test_keys])
        train = _concat([pairs[k] for k in train_keys])
        s_alpha, _ = fit_alpha(train, *straight_gaps(train), table.a)
        rows["straight"].append(rel_dist(test, *straight_gaps(test), s_alpha, table.a))
        for key, power in (("p", None), ("p2", 2.0)):
            fit = fit_power_gamma(table, train, fixed_power=power, cache=cache)
            g1, g2, _ = table.gaps(fit.gamma, fit.power)
            rows[key].append(rel_dist(test, g1[test.col], g2[test.col], fit.alpha, table.a))
            if power is None:
                rows["powers"].append(fit.power)
    straight = float(np.mean(rows["straight"]))
    out.update(
        {
            "theory_rel_dist_heldout": float(np.mean(rows["p"])),
            "theory_rel_dist_heldout_p2": float(np.mean(rows["p2"])),
            "theory_rel_dist_straight_heldout": straight,
            "theory_delta_straight": straight - float(np.mean(rows["p"])),
            "theory_delta_straight_p2": straight - float(np.mean(rows["p2"])),
            "theory_fold_powers": rows["powers"],
        }
    )
    return out


def _concat(units: list[Cells]) -> Cells:
    return Cells(
        *(np.concatenate([getattr(u, f.name) for u in units]) for f in dataclasses.fields(Cells))
    )


def pair_units(
    means: GridMeans, table: PathTable, W_etf_r: np.ndarray
) -> dict[tuple[int, int], Cells]:
    """The interior different-class cells of `means`, one unit per unordered class pair
    (min, max)."""
    m = interior_mask(means)
    c, c2 = means.c[m], means.c2[m]
    lo, hi = np.minimum(c, c2), np.maximum(c, c2)
    cells = make_cells(table, W_etf_r, c, c2, means.lam[m], means.E[m])
    keys = dict.fromkeys(zip(lo.tolist(), hi.tolist(), strict=True))
    return {k: cells.take((lo == k[0]) & (hi == k[1])) for k in keys}


def predicted_calibration(table: PathTable, gamma: float, power: float) -> dict[str, np.ndarray]:
    """Confidence (max softmax) and probability of the lam-weighted class of the optimum's
    logits along the table's lambdas (different-class), and the same-class confidence
    (constant in lambda), at (gamma, p)."""
    d1, d2, _ = table.gaps(gamma, power)
    K = table.K
    same = table.same
    m = np.where(same, K - 1.0, K - 2.0)
    d2e = np.where(same, -np.inf, d2)
    mx = np.maximum(np.maximum(d1, d2e), 0.0)
    den = np.exp(d1 - mx) + np.exp(d2e - mx) + m * np.exp(-mx)
    p1, p2, po = np.exp(d1 - mx) / den, np.exp(d2e - mx) / den, np.exp(-mx) / den
    conf = np.maximum(np.maximum(p1, p2), po)
    diff = ~same
    return {
        "confidence_different": conf[diff],
        "prob_y1_different": p1[diff],
        "confidence_same": np.full(int(diff.sum()), conf[same][0]),
    }


def confidence_rmse(measured, predicted) -> float:
    """RMSE over the lambda grid between a measured curve and a prediction (NaN if empty)."""
    a, b = np.asarray(measured, np.float64), np.asarray(predicted, np.float64)
    if a.size == 0 or a.shape != b.shape:
        return float("nan")
    return float(np.sqrt(np.mean((a - b) ** 2)))


def power_analysis(
    means: list[GridMeans], W: np.ndarray, basis: np.ndarray, lambdas: np.ndarray
) -> tuple[dict, dict]:
    """The p-family fit of an analysis: `means` the grid means of each class triple (the first
    is the one of the figures and curves), in the row-space coordinates `basis` of W.

    Returns (metrics, curves): heldout_comparison's keys (folds: heldout_folds),
    'theory_gamma_power_p2' (the p = 2 fit on every pair), and curves over `lambdas` of
    predicted_calibration at the fitted (gamma, p)
    ('theory_confidence_different', 'theory_prob_y1_different', 'theory_confidence_same') and
    at p = 2 ('theory_confidence_different_p2')."""
    from nc_mixup.analysis.theory_agreement import _etf_frame
    from theory import simplex_etf

    K, s, a, R = _etf_frame(np.asarray(W, np.float64), basis)
    table = PathTable.build(K, a, np.asarray(lambdas, np.float64))
    W_etf_r = simplex_etf(K, s) @ R
    per_triple = [pair_units(m, table, W_etf_r) for m in means]
    pairs: dict[tuple[int, int], Cells] = {}
    for units in per_triple:  # a pair shared by triples is the same data: once
        for k, u in units.items():
            pairs.setdefault(k, u)
    metrics = heldout_comparison(table, pairs, heldout_folds([list(u) for u in per_triple]))
    curves = {}
    if pairs:
        p2 = fit_power_gamma(table, _concat(list(pairs.values())), fixed_power=2.0)
        metrics["theory_gamma_power_p2"] = p2.gamma
        pred = predicted_calibration(
            table, metrics["theory_gamma_power"], metrics["theory_fit_power"]
        )
        curves = {
            "theory_confidence_different": pred["confidence_different"],
            "theory_prob_y1_different": pred["prob_y1_different"],
            "theory_confidence_same": pred["confidence_same"],
            "theory_confidence_different_p2": predicted_calibration(table, p2.gamma, 2.0)[
                "confidence_different"
            ],
        }
    else:
        metrics["theory_gamma_power_p2"] = float("nan")
    return metrics, {k: np.asarray(v).tolist() for k, v in curves.items()}
