"""The paper's 2-D projection of activations onto the plane of three classifier rows (B.2).

For three classifier rows W3 (3 x d) with mean m, take the thin SVD of the centred rows,
W3 - m = U S V^T, keep the two non-zero singular values (U2: 3 x 2, V2: d x 2), and set
Q = U2 V2^T (3 x d). An activation h maps to

    pi(h) = A Q (h - m),   A = sqrt(2) [[1/2, -1/2, 0], [0, 0, sqrt(3)/2]] (I - 11^T / 3).

Q is an isometry of the plane span(V2) (the plane of the centred rows) onto the plane 1^perp of
R^3, and A is an isometry of 1^perp onto R^2, so pi restricted to that plane is an isometry and
pi(h) is the orthogonal projection of h - m onto the plane, in those coordinates. The three
rows go to the vertices of an equilateral triangle when W3 is a simplex ETF (then
U2 S2 U2^T = s (I - 11^T/3)), and pi is invariant to rotations of feature space
(h -> R h, W3 -> W3 R^T leaves pi(h) unchanged) and to the sign/rotation ambiguity of the SVD
(U2 V2^T does not depend on it).
"""

from __future__ import annotations

import numpy as np

_SQRT2 = np.sqrt(2.0)

#: The 2 x 3 map of B.2: an isometry of {x in R^3 : sum(x) = 0} onto R^2.
A_MATRIX = (
    _SQRT2
    * np.array([[0.5, -0.5, 0.0], [0.0, 0.0, np.sqrt(3.0) / 2.0]])
    @ (np.eye(3) - np.ones((3, 3)) / 3.0)
)


def projection_map(W3: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(P, m) with pi(h) = (h - m) @ P.T: P = A Q is 2 x d, m the mean of the rows of W3.

    Raises ValueError if W3 is not 3 x d or its centred rows do not span a plane.
    """
    W3 = np.asarray(W3, dtype=np.float64)
    if W3.ndim != 2 or W3.shape[0] != 3:
        raise ValueError(f"W3 must be a (3, d) array of three classifier rows, got {W3.shape}")
    m = W3.mean(axis=0)
    U, S, Vt = np.linalg.svd(W3 - m, full_matrices=False)
    if S[1] <= 1e-12 * max(S[0], 1e-300):
        raise ValueError("the three centred rows are collinear: they do not span a plane")
    Q = U[:, :2] @ Vt[:2]
    return A_MATRIX @ Q, m


def project(H: np.ndarray, W3: np.ndarray) -> np.ndarray:
    """pi(h) = A Q (h - m) for every row h of H (n, d) -> (n, 2); see the module docstring."""
    P, m = projection_map(W3)
    H = np.asarray(H, dtype=np.float64)
    squeeze = H.ndim == 1
    out = (np.atleast_2d(H) - m) @ P.T
    return out[0] if squeeze else out


def project_boundaries(
    W3: np.ndarray, b3: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """The three logits of W3 as affine functions of the projected point p: z = G p + g0.

    For h - m in the plane, z_k - z_j = (pi(w_k) - pi(w_j)) . pi(h) + (w_k - w_j) . m + b_k - b_j
    exactly (the difference of two rows lies in the plane, where pi is an isometry), so the
    decision boundaries among the three classes are lines in the figure: G = pi(W3) (3 x 2) and
    g0 = W3 m + b3. A component shared by the three logits does not move the boundaries.
    """
    W3 = np.asarray(W3, dtype=np.float64)
    b3 = np.zeros(3) if b3 is None else np.asarray(b3, dtype=np.float64)
    P, m = projection_map(W3)
    return (W3 - m) @ P.T, W3 @ m + b3
