"""The B.2 projection and the mixup-geometry metrics on cases with known answers."""

import numpy as np
import pytest

from nc_mixup.analysis import geometry
from nc_mixup.analysis.projection import project, project_boundaries


def _rotation(d, rng):
    Q, _ = np.linalg.qr(rng.normal(size=(d, d)))
    return Q


def _etf(K, d, rng, norm=1.0):
    M = norm * np.sqrt(K / (K - 1)) * (np.eye(K) - np.ones((K, K)) / K)
    return M @ _rotation(d, rng)[:K]


def _pairwise(P):
    return np.array([np.linalg.norm(P[i] - P[j]) for i, j in ((0, 1), (0, 2), (1, 2))])


@pytest.mark.parametrize("K", [3, 10])
def test_etf_rows_map_to_an_equilateral_triangle(K):
    rng = np.random.default_rng(K)
    W = _etf(K, 16, rng, norm=2.5)
    W3 = W[[0, 4 % K, 2]] if K > 3 else W
    P = project(W3, W3)
    sides = _pairwise(P)
    assert np.allclose(sides, sides[0], rtol=1e-12)
    assert np.allclose(P.mean(0), 0, atol=1e-12)  # centred on the triangle's centroid
    assert np.allclose(sides, _pairwise(W3))  # an isometry of the plane: true side lengths


def test_matches_the_formula_of_the_spec():
    rng = np.random.default_rng(0)
    W3, H = rng.normal(size=(3, 7)), rng.normal(size=(5, 7))
    m = W3.mean(0)
    U, S, Vt = np.linalg.svd(W3 - m, full_matrices=False)
    Q = U[:, :2] @ Vt[:2]
    A = np.sqrt(2) * np.array([[0.5, -0.5, 0], [0, 0, np.sqrt(3) / 2]]) @ (np.eye(3) - 1 / 3)
    assert np.allclose(project(H, W3), (A @ Q @ (H - m).T).T)


def test_isometry_on_the_plane_and_blind_to_the_rest():
    rng = np.random.default_rng(1)
    d = 9
    W3 = rng.normal(size=(3, d))
    m = W3.mean(0)
    coef = rng.normal(size=(6, 3))
    H = m + coef @ (W3 - m)  # points of the plane through the rows
    P = project(H, W3)
    Dh = np.linalg.norm(H[:, None] - H[None], axis=-1)
    Dp = np.linalg.norm(P[:, None] - P[None], axis=-1)
    assert np.allclose(Dh, Dp)
    # a component orthogonal to the plane changes nothing
    _, _, Vt = np.linalg.svd(np.vstack([W3 - m, rng.normal(size=(1, d))]))
    normal = Vt[-1] - (W3 - m).T @ np.linalg.lstsq((W3 - m).T, Vt[-1], rcond=None)[0]
    assert np.allclose(project(H + 5 * normal, W3), P)


def test_invariant_to_rotations_of_feature_space():
    rng = np.random.default_rng(2)
    d = 11
    W3, H = rng.normal(size=(3, d)), rng.normal(size=(20, d))
    R = _rotation(d, rng)
    assert np.allclose(project(H @ R.T, W3 @ R.T), project(H, W3))


def test_boundaries_in_the_plane_give_the_logit_differences():
    rng = np.random.default_rng(3)
    W3, b3, H = rng.normal(size=(3, 6)), rng.normal(size=3), rng.normal(size=(10, 6))
    G, g0 = project_boundaries(W3, b3)
    z = H @ W3.T + b3
    zp = project(H, W3) @ G.T + g0
    dz = lambda a: a[:, [0, 0, 1]] - a[:, [1, 2, 2]]
    assert np.allclose(dz(z), dz(zp))


def _grid_case(rng, K=10, d=24):
    """Mixtures of three classes of an ETF classifier, features a known function of lam."""
    W = _etf(K, d, rng, norm=1.7)
    cls = np.array([2, 5, 7])
    lams = np.linspace(0, 1, 5)
    y1, y2, lam, pair = [], [], [], []
    p = 0
    for a in range(3):
        for b in range(a, 3):
            for _ in range(4):
                for t in lams:
                    y1.append(cls[a]), y2.append(cls[b]), lam.append(t), pair.append(p)
                p += 1
    return W, cls, np.array(y1), np.array(y2), np.array(lam), np.array(pair)


def test_collapsed_same_class_mixtures_align_perfectly():
    rng = np.random.default_rng(4)
    W, cls, y1, y2, lam, _ = _grid_case(rng)
    mu_g = np.zeros(W.shape[1])
    off = _rotation(W.shape[1], rng)[-1]  # energy outside the classifier's span...
    off -= W.T @ np.linalg.lstsq(W.T, off, rcond=None)[0]
    H = 4.0 * W[y1] + 30.0 * off  # ...and a global mean along it
    align, spread = geometry.same_class_alignment(H, y1, y2, lam, W, cls)
    assert align == pytest.approx(1.0) and spread == pytest.approx(0.0, abs=1e-12)
    full = geometry.same_class_alignment_full(H, y1, y2, W, mu_g + 30.0 * off)
    assert full == pytest.approx(1.0)
    # a raw cosine would be far from 1 here: that is why the metric projects
    raw = np.mean(geometry.cos_rows(H[y1 == y2], W[y1[y1 == y2]]))
    assert raw < 0.5


def test_boundary_gap_zero_on_the_boundary_and_hand_value_off_it():
    y1, y2, lam = np.array([0, 1, 0]), np.array([1, 2, 0]), np.array([0.5, 0.5, 0.5])
    z = np.array([[1.0, 1.0, -2.0], [0.0, 3.0, 3.0], [5.0, 0.0, 0.0]])
    assert geometry.boundary_gap(z, y1, y2, lam) == 0.0  # same-class row ignored
    z2 = np.array([[2.0, 0.0, -2.0], [0.0, 3.0, 3.0], [5.0, 0.0, 0.0]])
    # row 0: |2 - 0| / ||(2, 0, -2)|| = 2 / sqrt(8); row 1: 0
    assert geometry.boundary_gap(z2, y1, y2, lam) == pytest.approx((2 / np.sqrt(8)) / 2)


def test_chord_deviation_zero_for_straight_paths_and_exact_for_a_parabola():
    rng = np.random.default_rng(5)
    W, cls, y1, y2, lam, pair = _grid_case(rng)
    P_end1, P_end2 = rng.normal(size=(10, 2)), rng.normal(size=(10, 2))
    X = lam[:, None] * P_end1[y1] + (1 - lam[:, None]) * P_end2[y2]
    dev, grid, curve = geometry.chord_deviation(X, y1, y2, lam)
    assert dev == pytest.approx(0.0, abs=1e-12) and np.allclose(curve, 0)
    assert geometry.linearity_error(X, y1, y2, lam, pair) == pytest.approx(0.0, abs=1e-12)
    # bend every path by lam (1 - lam) L n, n a unit normal of its chord: max offset L/4
    chord = P_end1[y1] - P_end2[y2]
    normal = np.stack([-chord[:, 1], chord[:, 0]], 1)
    bent = X + (lam * (1 - lam))[:, None] * normal
    dev, grid, curve = geometry.chord_deviation(bent, y1, y2, lam)
    assert dev == pytest.approx(0.25)
    assert curve[np.argmin(np.abs(grid - 0.5))] == pytest.approx(0.25)
    assert geometry.linearity_error(bent, y1, y2, lam, pair) == pytest.approx(
        np.mean([t * (1 - t) for t in grid[1:-1]])
    )


def test_density_half_counts_boundary_mass():
    y1, y2 = np.array([0, 0, 0, 1]), np.array([1, 1, 1, 1])
    lam = np.array([0.5, 0.5, 0.3, 0.5])
    z = np.array([[1.0, 1.0], [3.0, 0.0], [0.0, 0.0], [0.0, 0.0]])
    d = geometry.density_half(np.zeros((4, 2)), z, y1, y2, lam)
    assert d["hist_counts"].sum() == 2 and d["boundary_fraction"] == 0.5


def _paths(path_fn, n=3):
    """Rows of X for one different-class pair (classes 0, 1) following path_fn(lam) on a 21-point
    lambda grid, n rows each."""
    lam = np.repeat(np.linspace(0, 1, 21), n)
    X = np.stack([path_fn(t) for t in lam])
    return X, np.zeros(len(lam), int), np.ones(len(lam), int), lam


def test_channel_deviation_ignores_speed_along_a_straight_path():
    """A straight path traversed at a sigmoid speed has channel_deviation 0, while the old
    chord_deviation (the constant-speed offset) counts the speed as a bend."""
    a, b = np.array([1.0, 0.0]), np.array([-0.5, 0.8])
    s = lambda t: 1 / (1 + np.exp(-12 * (t - 0.5)))
    X, y1, y2, lam = _paths(lambda t: a + s(t) * (b - a))
    assert geometry.channel_deviation(X, y1, y2, lam) == pytest.approx(0.0, abs=1e-12)
    assert geometry.chord_deviation(X, y1, y2, lam)[0] > 0.2


def test_channel_deviation_measures_the_bow():
    """A path bowed perpendicularly by h chord lengths at its middle (a parabola) scores h, at
    any speed along the chord."""
    a = np.array([0.0, 0.0])
    for h in (0.05, 0.3):
        for speed in (lambda t: t, lambda t: t**2):
            bow = lambda t, h=h, speed=speed: np.array([2.0 * speed(t), 2.0 * 4 * h * t * (1 - t)])
            X, y1, y2, lam = _paths(bow)
            assert geometry.channel_deviation(X, y1, y2, lam) == pytest.approx(h, rel=1e-9)
    # scale- and rotation-free
    X, y1, y2, lam = _paths(lambda t: a + np.array([2 * t, 0.6 * t * (1 - t)]))
    R = np.array([[0.6, -0.8], [0.8, 0.6]])
    assert geometry.channel_deviation(5 * X @ R, y1, y2, lam) == pytest.approx(
        geometry.channel_deviation(X, y1, y2, lam)
    )


def test_line_offsets_by_hand():
    path = np.array([[0.0, 0.0], [1.0, 1.0], [3.0, -0.5], [4.0, 0.0]])
    np.testing.assert_allclose(geometry.line_offsets(path), [0, 0.25, 0.125, 0])
    assert np.isnan(geometry.line_offsets(np.zeros((3, 2)))).all()  # no line: undefined


def test_same_class_spread_zero_when_lambda_invariant_and_exact_otherwise():
    grid = np.linspace(0, 1, 11)
    lam = np.repeat(grid, 2)
    y = np.zeros(len(lam), int)
    w = np.array([2.0, 0.0])
    invariant = np.tile(w, (len(lam), 1))
    assert geometry.same_class_spread(invariant, y, y, lam, [0]) == pytest.approx(0.0)
    # features that shrink to 60% of the clean norm at lam = 1/2 (linearly in |lam - 1/2|)
    shrink = np.stack([w * (0.6 + 0.8 * abs(t - 0.5)) for t in lam])
    assert geometry.same_class_spread(shrink, y, y, lam, [0]) == pytest.approx(0.4)
    # different-class rows do not count; a class without same-class rows is skipped
    y2 = np.ones(len(lam), int)
    assert np.isnan(geometry.same_class_spread(shrink, y, y2, lam, [0]))
