"""Kill mutmut's survivors in nc_mixup/analysis/geometry.py (issue 16; see docs/mutation.md).

Expected values are worked by hand (noted at each case), not computed with the code under test.
"""

import contextlib
import math
import warnings

import numpy as np
import pytest

from nc_mixup.analysis import geometry

# Logits whose normalised margin (z_0 - z_1) / ||z - mean z|| is exactly 0.1: z - mean z =
# (0.5, -0.5, 6.5, 1, -7.5) has mean 0 and squared norm 100, and z_0 - z_1 = 1.
Z_TENTH = np.array([0.5, -0.5, 6.5, 1.0, -7.5])


@contextlib.contextmanager
def _strict():
    """Warnings and floating-point errors become exceptions."""
    with warnings.catch_warnings(), np.errstate(all="raise"):
        warnings.simplefilter("error")
        yield


def test_boundary_gap_and_linearity_without_their_rows_are_nan():
    y1, y2 = np.array([0, 1]), np.array([1, 1])
    assert math.isnan(geometry.boundary_gap(np.zeros((2, 3)), y1, y2, np.array([0.2, 0.5])))
    # only same-class rows: no different-class pair to measure
    H = np.arange(6.0).reshape(3, 2)
    assert math.isnan(
        geometry.linearity_error(
            H,
            np.array([1, 1, 1]),
            np.array([1, 1, 1]),
            np.array([0.0, 0.5, 1.0]),
            np.array([0, 0, 0]),
        )
    )


def test_linearity_error_ignores_same_class_rows_and_computes_in_float64():
    # Pair 0 (classes 0|1) at lam 0, 0.25, 1 with features 0, (1, 1), (4, 0) (float32, exact):
    # the chord at t = 0.25 is (1, 0), so the offset is 1 / ||(4, 0)|| = 0.25.
    # Pair 1 is same-class (2|2) and bent far away: it must not count.
    H = np.array([[0, 0], [1, 1], [4, 0], [0, 0], [50, 50], [4, 0]], np.float32)
    y1 = np.array([0, 0, 0, 2, 2, 2])
    y2 = np.array([1, 1, 1, 2, 2, 2])
    lam = np.array([0.0, 0.25, 1.0, 0.0, 0.25, 1.0])
    pair = np.array([0, 0, 0, 1, 1, 1])
    assert geometry.linearity_error(H, y1, y2, lam, pair) == pytest.approx(0.25, abs=1e-15)
    # Non-dyadic values: float32 arithmetic would be off by ~1e-8. Features 0, (0.1, 0.3), (1, 0)
    # at lam 0, 0.3, 1: chord (0.3, 0), offset |(-0.2, 0.3)| / 1 = sqrt(0.13).
    H = np.array([[0, 0], [0.1, 0.3], [1, 0]], np.float32).astype(np.float64)
    h32 = H.astype(np.float32)
    expected = math.hypot(float(h32[1, 0]) - 0.3, float(h32[1, 1]))
    got = geometry.linearity_error(h32, y1[:3], y2[:3], np.array([0.0, 0.3, 1.0]), pair[:3])
    assert float(got) == pytest.approx(expected, rel=1e-13, abs=0)


def test_cos_rows_zero_rows_and_small_rows():
    A = np.array([[0.0, 0.0], [0.3, 0.4], [1e-3, 0.0]])
    B = np.array([[1.0, 2.0], [0.4, 0.3], [1e-3, 1e-3]])
    with _strict():
        got = geometry.cos_rows(A, B)
    # 0 for the zero row; (0.12 + 0.12) / (0.5 * 0.5) = 0.96; 1 / sqrt(2) (norms below 1)
    np.testing.assert_allclose(got, [0.0, 0.96, 1 / math.sqrt(2)], rtol=1e-12)


def test_full_cosines_centre_both_sides():
    # W rows (6,0,0), (5,1,0), (5,0,1): mean (16/3, 1/3, 1/3) (not along 1), centred rows
    # e_k - 1/3, row space the plane 1^perp. mu_g = (1, 2, 3) is not along 1 either.
    W = np.array([[6.0, 0, 0], [5, 1, 0], [5, 0, 1]])
    mu_g = np.array([1.0, 2.0, 3.0])
    c = np.eye(3) - 1.0 / 3.0
    # h = mu_g + 2 (e_1 - 1/3): cos 1 with class 1. h = mu_g + (e_0 - 1/3) + (e_1 - 1/3) =
    # mu_g + (1/3, 1/3, -2/3): cos with e_0 - 1/3 is (1/3) / (2/3) = 1/2.
    H = np.vstack([mu_g + 2 * c[1], mu_g + c[0] + c[1]])
    got = geometry.full_cosines(H, np.array([1, 0]), W, mu_g)
    np.testing.assert_allclose(got, [1.0, 0.5], rtol=1e-12)
    # float32 W (exact integers): centring in float64 keeps 1e-12 accuracy
    got = geometry.full_cosines(H, np.array([1, 0]), W.astype(np.float32), mu_g)
    np.testing.assert_allclose(got, [1.0, 0.5], rtol=1e-12)
    assert geometry.same_class_alignment_full(
        H[:1], np.array([1]), np.array([1]), W, mu_g
    ) == pytest.approx(1.0)


def _half_rows():
    """Four different-class rows at lam 1/2 with margins 0, 0.1 (exact), 1/sqrt(2) and -sqrt(2)
    (K = 5 logits), and one row at lam 0.3 that is not counted."""
    z = np.zeros((5, 5))
    z[0] = [1.0, 1.0, 0, 0, 0]  # margin 0
    z[1] = Z_TENTH  # margin 0.1
    z[2] = [1.0, 0, -1.0, 0, 0]  # diff 1, norm sqrt(2): 1/sqrt(2)
    z[3] = [-1.0, 1.0, 0, 0, 0]  # diff -2, norm sqrt(2): -sqrt(2)
    z[4] = [9.0, 0, 0, 0, 0]
    y1 = np.zeros(5, int)
    y2 = np.ones(5, int)
    lam = np.array([0.5, 0.5, 0.5, 0.5, 0.3])
    return z, y1, y2, lam


def test_density_half_by_hand():
    z, y1, y2, lam = _half_rows()
    P2 = np.arange(10.0).reshape(5, 2)
    d = geometry.density_half(P2, z, y1, y2, lam)
    assert set(d) == {"points", "margin", "hist_edges", "hist_counts", "boundary_fraction"}
    np.testing.assert_array_equal(d["points"], P2[:4])
    np.testing.assert_allclose(d["margin"], [0.0, 0.1, 1 / math.sqrt(2), -math.sqrt(2)])
    np.testing.assert_allclose(d["hist_edges"], np.linspace(-1.5, 1.5, 42))
    assert d["hist_counts"].shape == (41,) and d["hist_counts"].sum() == 4
    # bins of width 3/41 from -1.5: 0 -> bin 20, 0.1 -> 21, 0.7071 -> 30, -1.4142 -> 1
    expected = np.zeros(41, int)
    expected[[1, 20, 21, 30]] = 1
    np.testing.assert_array_equal(d["hist_counts"], expected)
    # |margin| < 0.1 strictly: only the row at 0 (0.1 itself is not inside)
    assert d["boundary_fraction"] == pytest.approx(0.25)
    d = geometry.density_half(P2, z, y1, y2, lam, bins=3)
    np.testing.assert_array_equal(d["hist_counts"], [1, 2, 1])


def test_density_half_without_half_rows_is_nan_quietly():
    z, y1, y2, lam = _half_rows()
    with _strict():
        d = geometry.density_half(np.zeros((5, 2)), z, y1, y2, np.full(5, 0.3))
    assert math.isnan(d["boundary_fraction"]) and d["hist_counts"].sum() == 0


def test_linearity_error_on_a_shifted_grid_at_a_small_scale():
    # lam 0.2, 0.3, 0.6: t = 0.1 / 0.4 = 1/4; features 0, (0.1, 0.1), (0.4, 0) (end points 0.4
    # apart, below 1): chord point (0.1, 0), offset 0.1 / 0.4 = 1/4.
    H = np.array([[0.0, 0.0], [0.1, 0.1], [0.4, 0.0]])
    y1, y2 = np.zeros(3, int), np.ones(3, int)
    got = geometry.linearity_error(H, y1, y2, np.array([0.2, 0.3, 0.6]), np.zeros(3, int))
    assert got == pytest.approx(0.25, rel=1e-12)


def test_linearity_error_needs_one_common_grid():
    # pair 0 on 3 lam values, pair 1 on 4: no common grid -> NaN
    H = np.arange(14.0).reshape(7, 2)
    lam = np.array([0.0, 0.5, 1.0, 0.0, 0.3, 0.6, 1.0])
    pair = np.array([0, 0, 0, 1, 1, 1, 1])
    y1, y2 = np.zeros(7, int), np.ones(7, int)
    assert math.isnan(geometry.linearity_error(H, y1, y2, lam, pair))
    # two lam values only: no interior point -> NaN
    assert math.isnan(geometry.linearity_error(H[:2], y1[:2], y2[:2], lam[[0, 2]], pair[:2]))


def test_normalised_margin_in_float64():
    z32 = np.array([[0.1, 0.2, 0.4]], np.float32)
    z = [float(v) for v in z32[0]]
    mean = sum(z) / 3
    expected = (z[0] - z[1]) / math.sqrt(sum((v - mean) ** 2 for v in z))
    got = geometry.normalised_margin(z32, np.array([0]), np.array([1]))
    assert float(got[0]) == pytest.approx(expected, rel=1e-13, abs=0)


def test_per_lambda_mean_by_hand():
    grid, means = geometry.per_lambda_mean(np.array([1.0, 3.0, 5.0]), np.array([0.5, 0.5, 0.2]))
    np.testing.assert_array_equal(grid, [0.2, 0.5])
    np.testing.assert_allclose(means, [5.0, 2.0])


def test_row_space_basis_centres_each_column():
    # rows (2, 1), (0, 1), (1, 1): mean row (1, 1), centred rows (1, 0), (-1, 0), 0 -> e_1 only
    W = np.array([[2.0, 1.0], [0.0, 1.0], [1.0, 1.0]])
    B = geometry.row_space_basis(W)
    assert B.shape == (2, 1)
    np.testing.assert_allclose(np.abs(B[:, 0]), [1.0, 0.0], atol=1e-12)
    # at scale 1e6 with a 1e-3 wobble of one row off the line: S_1 / S_0 ~ 6e-10 < 1e-8, so the
    # wobble is dropped (the tolerance is relative to the largest singular value)
    Wbig = 1e6 * W + np.array([[0.0, 0.0], [0.0, 0.0], [0.0, 1e-3]])
    assert geometry.row_space_basis(Wbig).shape == (2, 1)
    # columns with different means (1, 2, 6): centring by one global mean (3) would leave a
    # second direction; per column, the rows differ only along (1, -1, 0)
    W3 = np.array([[2.0, 1.0, 6.0], [0.0, 3.0, 6.0], [1.0, 2.0, 6.0]])
    B = geometry.row_space_basis(W3)
    assert B.shape == (3, 1)
    np.testing.assert_allclose(np.abs(B[:, 0]), [2**-0.5, 2**-0.5, 0.0], atol=1e-12)


def test_same_class_cosines_select_same_class_rows_of_the_classes():
    # K = 4 ETF classifier in R^4; classes (0, 1, 2). Rows: same-class 0 (counted), different-class
    # 0|1 (not), same-class 3 (not in classes).
    W = np.eye(4) - 0.25
    H = np.vstack([W[0], W[1], W[3]])
    y1, y2 = np.array([0, 0, 3]), np.array([0, 1, 3])
    cos, mask = geometry.same_class_cosines(H, y1, y2, W, [0, 1, 2])
    np.testing.assert_array_equal(mask, [True, False, False])
    np.testing.assert_allclose(cos, [1.0])
    mu_g = np.zeros(4)
    # full space: only the same-class rows (0 and 3), each on its own centred row: cos 1
    assert geometry.same_class_alignment_full(H, y1, y2, W, mu_g) == pytest.approx(1.0)


def test_same_class_spread_skips_classes_without_a_grid_and_keeps_going():
    # classes (5, 7, 0): 5 has no rows, 7 one lam value only, 0 two lam values (0 and 1 with
    # means (1, 0) and (3, 0): reference (2, 0), max offset 1, spread 1 / 2).
    X = np.array([[9.0, 9.0], [1.0, 0.0], [3.0, 0.0]])
    y = np.array([7, 0, 0])
    lam = np.array([0.5, 0.0, 1.0])
    assert geometry.same_class_spread(X, y, y, lam, [5, 7, 0]) == pytest.approx(0.5)


def test_same_class_spread_skips_a_zero_reference_and_averages_rows():
    # class 0: lam 0 -> (1, 0), lam 1 -> (-1, 0): reference 0, skipped. class 1: lam 0 -> mean of
    # (0.1, 0) and (0.3, 0) = (0.2, 0), lam 1 -> (0.6, 0): reference (0.4, 0), offset 0.2 -> 1/2.
    X = np.array([[1.0, 0], [-1.0, 0], [0.1, 0], [0.3, 0], [0.6, 0]])
    y = np.array([0, 0, 1, 1, 1])
    lam = np.array([0.0, 1.0, 0.0, 0.0, 1.0])
    assert geometry.same_class_spread(X, y, y, lam, [0, 1]) == pytest.approx(0.5)
    with _strict():
        assert math.isnan(geometry.same_class_spread(X[:2], y[:2], y[:2], lam[:2], [0]))


def _two_paths(scale=0.1):
    """Pair (0, 1) at lam 0.2, 0.4, 0.6 with means 0, (1, 1), (4, 0) (two rows at 0.4), pair
    (0, 2) straight: 0, (0, 1), (0, 2); all times `scale`."""
    X = scale * np.array([[0, 0], [0.5, 1.5], [1.5, 0.5], [4, 0], [0, 0], [0, 1], [0, 2.0]])
    y1 = np.zeros(7, int)
    y2 = np.array([1, 1, 1, 1, 2, 2, 2])
    lam = np.array([0.2, 0.4, 0.4, 0.6, 0.2, 0.4, 0.6])
    return X, y1, y2, lam


def test_chord_and_channel_deviation_by_hand():
    # pair (0, 1): at lam 0.4, t = 1/2, chord point (2, 0): offset |(-1, 1)| / 4 = sqrt(2)/4;
    # the line through the ends is the x axis: distance 1, / 4. Pair (0, 2): 0 and 0.
    X, y1, y2, lam = _two_paths()
    value, grid, curve = geometry.chord_deviation(X, y1, y2, lam)
    assert value == pytest.approx(math.sqrt(2) / 8)
    np.testing.assert_allclose(grid, [0.2, 0.4, 0.6])
    np.testing.assert_allclose(curve, [0.0, math.sqrt(2) / 8, 0.0], atol=1e-15)
    assert geometry.channel_deviation(X, y1, y2, lam) == pytest.approx(1 / 8)
    paths = geometry.mean_paths(X, y1, y2, lam)
    assert sorted(paths) == [(0, 1), (0, 2)]
    np.testing.assert_allclose(paths[(0, 1)][1], 0.1 * np.array([[0, 0], [1, 1], [4, 0]]))


def test_chord_deviation_on_different_grids_and_without_paths():
    X, y1, y2, lam = _two_paths()
    # pair (0, 2) also at lam 0.5, on its chord ((0, 1.5) at t = 3/4): offsets still 0, but the
    # grids differ (3 and 4 values) -> no mean curve
    value, grid, curve = geometry.chord_deviation(
        np.vstack([X, [0.0, 0.15]]), np.append(y1, 0), np.append(y2, 2), np.append(lam, 0.5)
    )
    assert value == pytest.approx(math.sqrt(2) / 8)
    assert curve.shape == (3,) and np.isnan(curve).all()
    # two lam values per pair: no path to measure
    keep = lam != 0.4
    value, grid, curve = geometry.chord_deviation(X[keep], y1[keep], y2[keep], lam[keep])
    assert math.isnan(value) and grid.shape == (0,) and curve.shape == (0,)
    assert math.isnan(geometry.channel_deviation(X[keep], y1[keep], y2[keep], lam[keep]))


def test_mean_paths_needs_labels_of_one_length():
    with pytest.raises(ValueError):
        # (a length-1 y2 would broadcast in numpy: only the zip's strictness catches it)
        geometry.mean_paths(
            np.zeros((3, 2)), np.array([0, 0, 0]), np.array([1]), np.array([0.0, 0.5, 1.0])
        )


def test_line_offsets_edge_cases():
    # coincident end points: no line, NaN, quietly
    with _strict():
        assert np.isnan(geometry.line_offsets(np.array([[1.0, 1], [2, 2], [1, 1]]))).all()
    # float32 path, not axis-aligned: distance |x1 dy - y1 dx| / |d|, over |d|
    p32 = np.array([[0.0, 0.0], [0.1, 0.3], [0.3, 0.4]], np.float32)
    (x1, y1), (dx, dy) = (float(v) for v in p32[1]), (float(v) for v in p32[2])
    d2 = dx * dx + dy * dy
    expected = abs(x1 * dy - y1 * dx) / d2
    np.testing.assert_allclose(
        geometry.line_offsets(p32), [0.0, expected, 0.0], rtol=1e-13, atol=1e-15
    )


def test_float32_lambdas_are_used_in_float64():
    # lam 0.2, 0.3, 0.6 in float32: t = (l1 - l0) / (l2 - l0) of those float32 values, in float64
    # (a float32 division rounds differently). Features 0, (0.3, 0.1), (0.4, 0): the offset
    # |(0.3 - 0.4 t, 0.1)| / 0.4 moves with t.
    lam32 = np.array([0.2, 0.3, 0.6], np.float32)
    l0, l1, l2 = (float(v) for v in lam32)
    t = (l1 - l0) / (l2 - l0)
    expected = math.hypot(0.3 - 0.4 * t, 0.1) / 0.4
    H = np.array([[0.0, 0.0], [0.3, 0.1], [0.4, 0.0]])
    y1, y2 = np.zeros(3, int), np.ones(3, int)
    got = geometry.linearity_error(H, y1, y2, lam32, np.zeros(3, int))
    assert float(got) == pytest.approx(expected, rel=1e-14, abs=0)
    value, _, _ = geometry.chord_deviation(H, y1, y2, lam32)
    assert float(value) == pytest.approx(expected, rel=1e-14, abs=0)


def test_float32_features_are_interpolated_in_float64():
    # end points (0.3, 0) and (1000.1, 0) in float32: their difference rounds in float32.
    # lam 0, 1/2, 1: chord point a0 + (a2 - a0) / 2; offset |F1 - chord| / |a2 - a0|.
    F = np.array([[0.3, 0.0], [500.0, 7.0], [1000.1, 0.0]], np.float32)
    a0, a1, a2 = (float(F[i, 0]) for i in range(3))
    expected = math.hypot(a1 - (a0 + 0.5 * (a2 - a0)), 7.0) / (a2 - a0)
    got = geometry.linearity_error(
        F, np.zeros(3, int), np.ones(3, int), np.array([0.0, 0.5, 1.0]), np.zeros(3, int)
    )
    assert float(got) == pytest.approx(expected, rel=1e-13, abs=0)


def test_full_cosines_centre_float32_features_in_float64():
    # float32 h and mu_g far apart: h - mu_g in float32 would round. P = projection on 1^perp
    # (the row space of the centred W below), computed by hand.
    W = np.array([[6.0, 0, 0], [5, 1, 0], [5, 0, 1]])
    mu32 = np.array([0.3, 0.7, 0.1], np.float32)
    h32 = np.array([[1000.1, 3.3, -2.9]], np.float32)
    v = [float(a) - float(b) for a, b in zip(h32[0], mu32, strict=True)]
    pv = [x - sum(v) / 3 for x in v]
    w = [2 / 3, -1 / 3, -1 / 3]
    expected = sum(a * b for a, b in zip(pv, w, strict=True)) / (
        math.sqrt(sum(a * a for a in pv)) * math.sqrt(sum(b * b for b in w))
    )
    got = geometry.full_cosines(h32, np.array([0]), W, mu32)
    assert float(got[0]) == pytest.approx(expected, rel=1e-13, abs=0)
