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

The map itself lives in `theory.projection` (one implementation for the theory figure and the
activation figures, so both are drawn in exactly the same coordinates); this module is the
analysis-side name for it.
"""

from __future__ import annotations

import numpy as np

from theory.projection import A_MATRIX, project, projection_map
from theory.projection import boundary_lines as _boundary_lines

__all__ = ["A_MATRIX", "project", "project_boundaries", "projection_map"]


def project_boundaries(
    W3: np.ndarray, b3: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """The three logits of W3 as affine functions of the projected point p: z = G p + g0.

    For h - m in the plane, z_k - z_j = (pi(w_k) - pi(w_j)) . pi(h) + (w_k - w_j) . m + b_k - b_j
    exactly (the difference of two rows lies in the plane, where pi is an isometry), so the
    decision boundaries among the three classes are lines in the figure: G = pi(W3) (3 x 2) and
    g0 = W3 m + b3. A component shared by the three logits does not move the boundaries.
    """
    return _boundary_lines(W3, b3)
