"""The geometry of mixed-up activations (SPEC section 4), as pure functions of arrays.

Inputs describe n mixed examples x = lam x_i + (1 - lam) x_j: features H (n, d), the class y1 of
x_i (weight lam) and y2 of x_j (weight 1 - lam), lam (n,), logits (n, K); the classifier W (K, d)
and bias b (K,); `classes` the three analysed classes; mu_G the global mean of the clean
training features. A mixture is *same-class* when y1 == y2, *different-class* otherwise.

Two spaces are used, because raw post-ReLU features carry a large global mean and energy
outside the classifier's span:
- the B.2 plane pi (nc_mixup.analysis.projection) of the three analysed classifier rows, the
  plane of the paper's figures;
- the centred classifier row space: W_c = W - 1 w_bar^T (w_bar the mean row), P the orthogonal
  projection onto the row space of W_c. P(h - mu_G) is the only part of h that moves the logit
  differences.
"""

from __future__ import annotations

import numpy as np

from nc_mixup.analysis.projection import project

#: lam within this distance of 1/2 counts as lam = 1/2.
HALF_TOL = 1e-6


def cos_rows(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """Row-wise cosine between A and B (n, q); 0 where a row is zero."""
    num = np.sum(A * B, axis=-1)
    den = np.linalg.norm(A, axis=-1) * np.linalg.norm(B, axis=-1)
    return np.divide(num, den, out=np.zeros_like(num), where=den > 0)


def per_lambda_mean(values: np.ndarray, lam: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(distinct lam values, mean of `values` at each)."""
    grid, inv = np.unique(np.asarray(lam, dtype=np.float64), return_inverse=True)
    sums = np.bincount(inv, weights=np.asarray(values, dtype=np.float64), minlength=len(grid))
    return grid, sums / np.bincount(inv, minlength=len(grid))


def row_space_basis(W: np.ndarray, rtol: float = 1e-8) -> np.ndarray:
    """(d, r) orthonormal basis B of the row space of W_c = W - mean row; P = B B^T."""
    Wc = np.asarray(W, dtype=np.float64) - np.mean(W, axis=0)
    _, S, Vt = np.linalg.svd(Wc, full_matrices=False)
    return Vt[S > rtol * S[0]].T


def same_class_cosines(
    H: np.ndarray, y1: np.ndarray, y2: np.ndarray, W: np.ndarray, classes
) -> tuple[np.ndarray, np.ndarray]:
    """(cos(pi(h), pi(w_c)) for every same-class mixture of `classes`, mask of those rows)."""
    classes = np.asarray(classes)
    mask = (np.asarray(y1) == np.asarray(y2)) & np.isin(y1, classes)
    W = np.asarray(W, dtype=np.float64)
    W3 = W[classes]
    return cos_rows(project(H[mask], W3), project(W[np.asarray(y1)[mask]], W3)), mask


def same_class_alignment(
    H: np.ndarray, y1: np.ndarray, y2: np.ndarray, lam: np.ndarray, W: np.ndarray, classes
) -> tuple[float, float]:
    """(alignment, spread): alignment = mean over same-class mixtures (all lam) of
    cos(pi(h), pi(w_c)); spread = std over lam of the per-lam means (0 if lam-invariant)."""
    cos, mask = same_class_cosines(H, y1, y2, W, classes)
    _, curve = per_lambda_mean(cos, np.asarray(lam)[mask])
    return float(np.mean(cos)), float(np.std(curve))


def same_class_alignment_full(
    H: np.ndarray, y1: np.ndarray, y2: np.ndarray, W: np.ndarray, mu_g: np.ndarray
) -> float:
    """Mean over same-class mixtures of cos(P(h - mu_G), w_c - w_bar) in the full centred
    classifier row space (all K classes, not just the plane of three)."""
    mask = np.asarray(y1) == np.asarray(y2)
    return float(np.mean(full_cosines(H[mask], np.asarray(y1)[mask], W, mu_g)))


def full_cosines(H: np.ndarray, y: np.ndarray, W: np.ndarray, mu_g: np.ndarray) -> np.ndarray:
    """cos(P(h - mu_G), w_y - w_bar) per row (P as in the module docstring)."""
    W = np.asarray(W, dtype=np.float64)
    B = row_space_basis(W)
    Wc = (W - W.mean(axis=0)) @ B
    return cos_rows((np.asarray(H, dtype=np.float64) - mu_g) @ B, Wc[np.asarray(y)])


def normalised_margin(logits: np.ndarray, y1: np.ndarray, y2: np.ndarray) -> np.ndarray:
    """(z_y1 - z_y2) / ||z - mean(z)|| per row: signed distance to the y1|y2 boundary, relative
    to the spread of the logits (scale free; 0 on the decision boundary)."""
    z = np.asarray(logits, dtype=np.float64)
    rows = np.arange(len(z))
    norm = np.linalg.norm(z - z.mean(axis=1, keepdims=True), axis=1)
    diff = z[rows, np.asarray(y1)] - z[rows, np.asarray(y2)]
    return np.divide(diff, norm, out=np.zeros_like(diff), where=norm > 0)


def half_mask(y1: np.ndarray, y2: np.ndarray, lam: np.ndarray) -> np.ndarray:
    """Rows that are different-class mixtures at lam = 1/2."""
    return (np.asarray(y1) != np.asarray(y2)) & (np.abs(np.asarray(lam) - 0.5) <= HALF_TOL)


def boundary_gap(logits: np.ndarray, y1: np.ndarray, y2: np.ndarray, lam: np.ndarray) -> float:
    """Mean over different-class mixtures at lam = 1/2 of |z_c - z_c'| / ||z - mean(z)||
    (0 when every such mixture sits on the decision boundary between its two classes; NaN if
    lam = 1/2 was not extracted)."""
    m = half_mask(y1, y2, lam)
    if not m.any():
        return float("nan")
    return float(np.mean(np.abs(normalised_margin(logits[m], y1[m], y2[m]))))


def mean_paths(
    X: np.ndarray, y1: np.ndarray, y2: np.ndarray, lam: np.ndarray
) -> dict[tuple[int, int], tuple[np.ndarray, np.ndarray]]:
    """{(c, c'): (lam grid, mean of X over the mixtures of (c, c') at each lam)} for every
    different-class ordered pair (c weighted by lam) present."""
    y1, y2, lam = np.asarray(y1), np.asarray(y2), np.asarray(lam, dtype=np.float64)
    out = {}
    for c, c2 in sorted({(int(a), int(b)) for a, b in zip(y1, y2, strict=True) if a != b}):
        m = (y1 == c) & (y2 == c2)
        grid, inv = np.unique(lam[m], return_inverse=True)
        sums = np.zeros((len(grid), X.shape[1]))
        np.add.at(sums, inv, np.asarray(X, dtype=np.float64)[m])
        out[(c, c2)] = (grid, sums / np.bincount(inv, minlength=len(grid))[:, None])
    return out


def chord_offsets(grid: np.ndarray, path: np.ndarray) -> np.ndarray:
    """||m(lam) - chord(lam)|| / ||m(lam_max) - m(lam_min)|| along one mean path, with
    chord(lam) = m(lam_min) + (lam - lam_min) / (lam_max - lam_min) (m(lam_max) - m(lam_min))
    the straight segment between the path's end points traversed at constant speed."""
    t = (grid - grid[0]) / (grid[-1] - grid[0])
    chord = path[0] + t[:, None] * (path[-1] - path[0])
    length = np.linalg.norm(path[-1] - path[0])
    return np.linalg.norm(path - chord, axis=1) / max(length, 1e-300)


def chord_deviation(
    X: np.ndarray, y1: np.ndarray, y2: np.ndarray, lam: np.ndarray
) -> tuple[float, np.ndarray, np.ndarray]:
    """How far the mean different-class path strays from the straight chord between its ends.

    For each different-class pair, the mean path m(lam) of the rows of X (e.g. pi(h), the B.2
    plane) and its chord_offsets; chord_deviation = mean over pairs of max over lam of the
    offset (0 for straight, constant-speed paths such as the MSE optimum lam h*(c) + (1 - lam)
    h*(c'); large for the CE 'channels'). Returns (value, lam grid, mean offset per lam).
    """
    paths = {k: v for k, v in mean_paths(X, y1, y2, lam).items() if len(v[0]) >= 3}
    if not paths:
        return float("nan"), np.zeros(0), np.zeros(0)
    offsets = [chord_offsets(g, p) for g, p in paths.values()]
    grid = next(iter(paths.values()))[0]
    same_grid = all(len(o) == len(grid) for o in offsets)
    curve = np.mean(offsets, axis=0) if same_grid else np.full(len(grid), np.nan)
    return float(np.mean([o.max() for o in offsets])), grid, curve


def line_offsets(path: np.ndarray) -> np.ndarray:
    """Perpendicular distance of each point of `path` (L, q) from the LINE through its end points,
    over the distance between the end points. Unlike chord_offsets it ignores where along the
    line a point sits, so a straight path traversed at any speed has offsets 0."""
    path = np.asarray(path, dtype=np.float64)
    direction = path[-1] - path[0]
    length = np.linalg.norm(direction)
    rel = path - path[0]
    if length <= 0:
        return np.full(len(path), np.nan)  # coincident end points: no line
    u = direction / length
    perp = rel - np.outer(rel @ u, u)
    return np.linalg.norm(perp, axis=1) / length


def channel_deviation(X: np.ndarray, y1: np.ndarray, y2: np.ndarray, lam: np.ndarray) -> float:
    """How far the mean different-class path bends away from a straight line (SPEC 6).

    For each different-class pair, the mean path m(lam) of the rows of X (e.g. pi(h)); the max
    over lam of the perpendicular distance from m(lam) to the line through m(lam_min) and
    m(lam_max), over |m(lam_max) - m(lam_min)| (line_offsets); the mean over pairs. 0 for any
    straight path whatever its speed; a path bowed by b chord lengths at its middle scores b.
    """
    paths = [p for g, p in mean_paths(X, y1, y2, lam).values() if len(g) >= 3]
    if not paths:
        return float("nan")
    return float(np.mean([line_offsets(p).max() for p in paths]))


def same_class_spread(
    X: np.ndarray, y1: np.ndarray, y2: np.ndarray, lam: np.ndarray, classes
) -> float:
    """Lambda-invariance of same-class mixtures: for each class c of `classes`, the mean m_c(lam)
    of the rows of X (e.g. pi(h)) over its same-class mixtures at each lam, and the reference
    r_c = (m_c(lam_min) + m_c(lam_max)) / 2 (clean images at lam in {0, 1}); the max over lam of
    ||m_c(lam) - r_c|| / ||r_c||; the mean over classes. 0 when mixing two images of a class
    gives the features of a clean image of it, whatever lam (the UFM optimum); NaN without
    same-class mixtures."""
    y1, y2 = np.asarray(y1), np.asarray(y2)
    lam = np.asarray(lam, dtype=np.float64)
    X = np.asarray(X, dtype=np.float64)
    values = []
    for c in np.asarray(classes):
        m = (y1 == c) & (y2 == c)
        if not m.any():
            continue
        grid, inv = np.unique(lam[m], return_inverse=True)
        if len(grid) < 2:
            continue
        sums = np.zeros((len(grid), X.shape[1]))
        np.add.at(sums, inv, X[m])
        means = sums / np.bincount(inv, minlength=len(grid))[:, None]
        ref = 0.5 * (means[0] + means[-1])
        norm = np.linalg.norm(ref)
        if norm > 0:
            values.append(np.max(np.linalg.norm(means - ref, axis=1)) / norm)
    return float(np.mean(values)) if values else float("nan")


def linearity_error(
    H: np.ndarray, y1: np.ndarray, y2: np.ndarray, lam: np.ndarray, pair: np.ndarray
) -> float:
    """Per-example distance to linear interpolation, for different-class mixtures.

    For each image pair (i, j) (rows sharing `pair`), with f(lam) its features on the lam grid:
    ||f(lam) - [(1 - t) f(lam_min) + t f(lam_max)]|| / ||f(lam_max) - f(lam_min)||,
    t = (lam - lam_min) / (lam_max - lam_min), averaged over pairs and interior lam. 0 for any
    layer that is affine in the input. The analysis mixes INPUTS, so it is not 0 at the layer
    where a manifold-mixup network mixes during training (its training interpolates there, the
    measurement does not); the measure of 'as if trained with manifold mixup' for earlier layers
    is the comparison with the same layers of such a network (claim C6).
    """
    y1, y2 = np.asarray(y1), np.asarray(y2)
    lam, pair = np.asarray(lam, dtype=np.float64), np.asarray(pair)
    H = np.asarray(H, dtype=np.float64)
    sel = np.flatnonzero(y1 != y2)
    if len(sel) == 0:
        return float("nan")
    order = sel[np.lexsort((lam[sel], pair[sel]))]
    _, counts = np.unique(pair[order], return_counts=True)
    L = counts[0]
    if not np.all(counts == L) or L < 3:
        return float("nan")  # needs one common grid of >= 3 lam values
    F = H[order].reshape(-1, L, H.shape[1])
    g = lam[order].reshape(-1, L)
    t = (g - g[:, :1]) / (g[:, -1:] - g[:, :1])
    lin = F[:, :1] + t[..., None] * (F[:, -1:] - F[:, :1])
    scale = np.linalg.norm(F[:, -1] - F[:, 0], axis=1)[:, None]
    err = np.linalg.norm(F - lin, axis=2) / np.maximum(scale, 1e-300)
    return float(np.mean(err[:, 1:-1]))


def density_half(
    P2: np.ndarray,
    logits: np.ndarray,
    y1: np.ndarray,
    y2: np.ndarray,
    lam: np.ndarray,
    bins: int = 41,
) -> dict:
    """Distribution of different-class activations at lam = 1/2: their B.2 coordinates P2 (the
    figure's 2-D density) and a histogram of the signed normalised margin
    (z_y1 - z_y2)/||z - mean(z)|| on [-1.5, 1.5] (mass at 0 = on the boundary). Also
    'boundary_fraction': the share with |margin| < 0.1."""
    m = half_mask(y1, y2, lam)
    margin = normalised_margin(logits[m], y1[m], y2[m])
    counts, edges = np.histogram(np.clip(margin, -1.5, 1.5), bins=bins, range=(-1.5, 1.5))
    return {
        "points": np.asarray(P2)[m],
        "margin": margin,
        "hist_edges": edges,
        "hist_counts": counts,
        "boundary_fraction": float(np.mean(np.abs(margin) < 0.1)) if m.any() else float("nan"),
    }
