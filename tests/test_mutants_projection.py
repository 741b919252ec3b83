"""Kill mutmut's survivors in theory/projection.py (issue 16; see docs/mutation.md).

Expected values come from the geometry of the map, worked by hand: pi is an isometry on the
plane of the centred rows, the projected rows sum to zero, g = W3 m + b3.
"""

import itertools

import numpy as np
import pytest

from theory import projection

# Not centred (the row mean m = (1/3, 2/3, 1, 5) has a component in the rows' plane), integer
# entries (exact in float32).
W3 = np.array([[1.0, 0.0, 0.0, 5.0], [0.0, 2.0, 0.0, 5.0], [0.0, 0.0, 3.0, 5.0]])


def _pairwise(X):
    return [np.linalg.norm(X[i] - X[j]) for i, j in itertools.combinations(range(3), 2)]


def test_boundary_lines_without_bias_are_the_projected_rows_and_w_dot_m():
    G, g = projection.boundary_lines(W3)
    # The projected rows: centred (they sum to 0), at the rows' mutual distances.
    np.testing.assert_allclose(G.sum(axis=0), 0.0, atol=1e-12)
    np.testing.assert_allclose(_pairwise(G), [np.sqrt(5), np.sqrt(10), np.sqrt(13)], rtol=1e-12)
    # g_k = w_k . m with m = (1/3, 2/3, 1, 5): 1/3 + 25, 4/3 + 25, 3 + 25.
    np.testing.assert_allclose(g, [25 + 1 / 3, 25 + 4 / 3, 28.0], rtol=1e-12)
    G2, g2 = projection.boundary_lines(W3, np.array([1.0, -1.0, 0.5]))
    np.testing.assert_allclose(G2, G)
    np.testing.assert_allclose(g2, [26 + 1 / 3, 24 + 4 / 3, 28.5], rtol=1e-12)


def test_projection_map_of_float32_rows_is_computed_in_float64():
    P, m = projection.projection_map(W3.astype(np.float32))
    assert P.dtype == np.float64
    np.testing.assert_allclose(m, [1 / 3, 2 / 3, 1.0, 5.0], rtol=1e-15)
    # The rows map at their exact mutual distances (float32 SVD would be off by ~1e-7).
    np.testing.assert_allclose(
        _pairwise((W3 - m) @ P.T), [np.sqrt(5), np.sqrt(10), np.sqrt(13)], rtol=1e-13
    )


def test_projection_map_shape_errors():
    with pytest.raises(ValueError, match=r"W3 must be a \(3, d\) array, got shape \(4, 5\)"):
        projection.projection_map(np.ones((4, 5)))
    with pytest.raises(ValueError, match="must be a"):
        projection.projection_map(np.ones(3))
    # d = 1: three points on a line never span a plane.
    with pytest.raises(ValueError, match="do not span a plane"):
        projection.projection_map(np.array([[0.0], [1.0], [3.0]]))


def test_rows_in_two_dimensions_are_accepted():
    # d = 2 is the smallest feature space holding a plane: an isometry of it.
    tri = np.array([[0.0, 0.0], [3.0, 0.0], [0.0, 4.0]])
    P, m = projection.projection_map(tri)
    np.testing.assert_allclose(_pairwise((tri - m) @ P.T), [3.0, 4.0, 5.0], rtol=1e-12)


def test_the_plane_test_is_relative_to_the_scale_of_the_rows():
    # Collinear up to 1e-10 at scale 1e3: S_1 / S_0 ~ 1e-14 < 1e-12 -> no plane.
    flat = np.array([[0.0, 0.0], [1e3, 1e3], [2e3, 2e3 + 1e-10]])
    with pytest.raises(ValueError, match="do not span a plane"):
        projection.projection_map(flat)
    # A 3-4-5 triangle scaled by 1e-13: tiny but a plane (S_1 / S_0 ~ 0.5).
    tiny = 1e-13 * np.array([[0.0, 0.0], [3.0, 0.0], [0.0, 4.0]])
    P, m = projection.projection_map(tiny)
    np.testing.assert_allclose(_pairwise((tiny - m) @ P.T), [3e-13, 4e-13, 5e-13], rtol=1e-9)


def test_plane_message_exactly():
    msg = r"^the three centred classifier rows do not span a plane$"
    with pytest.raises(ValueError, match=msg):
        projection.projection_map(np.array([[0.0, 0.0], [1.0, 1.0], [2.0, 2.0]]))
