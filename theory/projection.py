"""The paper's 2-D projection (appendix B.2) onto the plane of three classifier rows.

W3 (3 x d) with row mean m; thin SVD W3 - m = U S V^T keeping the two non-zero singular values;
Q = U V^T (3 x d); an activation h maps to

    pi(h) = A Q (h - m),   A = sqrt(2) [[1/2, -1/2, 0], [0, 0, sqrt(3)/2]] (I - 11^T/3).

pi is the orthogonal projection of h - m onto the plane of the centred rows, written in
isometric 2-D coordinates; a simplex-ETF W3 maps to an equilateral triangle. (nc_mixup.analysis
re-exports this map as nc_mixup.analysis.projection; theory never imports nc_mixup.)
"""

from __future__ import annotations

import numpy as np

A_MATRIX = (
    np.sqrt(2.0)
    * np.array([[0.5, -0.5, 0.0], [0.0, 0.0, np.sqrt(3.0) / 2.0]])
    @ (np.eye(3) - np.full((3, 3), 1.0 / 3.0))
)


def projection_map(W3: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(P, m) with pi(h) = P (h - m): P = A Q (2 x d), m = mean of the rows of W3 (3 x d)."""
    W3 = np.asarray(W3, dtype=np.float64)
    if W3.ndim != 2 or W3.shape[0] != 3:
        raise ValueError(f"W3 must be a (3, d) array, got shape {W3.shape}")
    m = W3.mean(axis=0)
    U, S, Vt = np.linalg.svd(W3 - m, full_matrices=False)
    if S.size < 2 or S[1] <= 1e-12 * max(S[0], 1e-300):
        raise ValueError("the three centred classifier rows do not span a plane")
    return A_MATRIX @ (U[:, :2] @ Vt[:2]), m


def project(H: np.ndarray, W3: np.ndarray) -> np.ndarray:
    """pi(h) = A Q (h - m) for each row of H (..., d) -> (..., 2)."""
    P, m = projection_map(W3)
    return (np.asarray(H, dtype=np.float64) - m) @ P.T


def boundary_lines(W3: np.ndarray, b3: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(G, g) with the three logits z = W3 h + b3 = G pi(h) + g + (a term shared by all three).

    Differences of rows lie in the projected plane, where pi is an isometry, so
    z_k - z_j = (G_k - G_j) . pi(h) + g_k - g_j exactly: the pairwise decision boundaries are
    lines in the figure. G = pi(W3) (3 x 2), g = W3 m + b3.
    """
    W3 = np.asarray(W3, dtype=np.float64)
    b3 = np.zeros(3) if b3 is None else np.asarray(b3, dtype=np.float64)
    P, m = projection_map(W3)
    return (W3 - m) @ P.T, W3 @ m + b3
