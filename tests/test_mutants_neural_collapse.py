"""Kill mutmut's survivors in nc_mixup/analysis/neural_collapse.py (issue 16; see
docs/mutation.md). Expected values are exact by construction (a collapsed simplex ETF gives 0)
or worked by hand."""

import math

import numpy as np
import pytest

from nc_mixup.analysis import neural_collapse as nc

KEYS = {"nc1", "nc2_equinorm", "nc2_equiangular", "nc2_etf_distance", "nc3", "nc4"}


def _etf(K):
    """Rows e_k - 1/K: a simplex ETF centred at 0 (dyadic entries for K = 4)."""
    return np.eye(K) - 1.0 / K


def test_without_a_classifier_nc3_and_nc4_are_nan_under_their_names():
    out = nc.nc_metrics(_etf(3), np.array([0, 1, 2]))
    assert set(out) == KEYS
    assert math.isnan(out["nc3"]) and math.isnan(out["nc4"])
    assert out["nc2_etf_distance"] == pytest.approx(0.0, abs=1e-12)


def test_a_class_without_samples_is_dropped_when_it_is_the_last_of_w():
    # One sample per class 0..2 on a simplex ETF; W has a 4th row whose class has no sample.
    H = _etf(3)
    W = np.vstack([_etf(3), [[5.0, -1.0, 2.0]]])
    out = nc.nc_metrics(H, np.array([0, 1, 2]), W)
    for key in KEYS:
        assert out[key] == pytest.approx(0.0, abs=1e-12), key
    means = nc.class_means(H, np.array([0, 1, 2]), 4)
    np.testing.assert_allclose(means[:3], H)
    assert np.isnan(means[3]).all()


def test_class_means_of_an_empty_class_raise_no_warning():
    with np.errstate(all="raise"):
        means = nc.class_means(np.ones((2, 2)), np.array([0, 0]), 2)
    np.testing.assert_allclose(means[0], [1.0, 1.0])
    assert np.isnan(means[1]).all()


def test_global_mean_is_computed_in_float64():
    # K = 4 ETF rows (entries 0.75 and -0.25) plus 1e6, two samples per class, float32: exact
    # inputs, but a float32 sum of the 8 rows (~8e6 + fractions) needs 25 bits and rounds.
    H = np.repeat(_etf(4) + 1e6, 2, axis=0).astype(np.float32)
    labels = np.repeat(np.arange(4), 2)
    out = nc.nc_metrics(H, labels, _etf(4))
    for key in KEYS:
        assert out[key] == pytest.approx(0.0, abs=1e-8), key


def test_nc1_when_the_largest_singular_value_is_one():
    # Centred means (+-1/2, +-1/2): orthonormal columns, singular values exactly 1 and 1.
    # Each class has two samples at its mean +- (0.1, 0): within-class covariance diag(0.01, 0),
    # between-class covariance (1/4) I, so NC1 = tr(Sigma_W Sigma_B^+) / K = 0.04 / 4 = 0.01.
    M = np.array([[0.5, 0.5], [0.5, -0.5], [-0.5, 0.5], [-0.5, -0.5]])
    H = np.vstack([M + [0.1, 0.0], M - [0.1, 0.0]])
    labels = np.tile(np.arange(4), 2)
    assert nc.within_class_variability(H, labels, M, np.zeros(2)) == pytest.approx(0.01)


def test_nc1_of_identical_means_is_infinite():
    H = np.ones((4, 3))
    assert (
        nc.within_class_variability(H, np.array([0, 0, 1, 1]), np.ones((2, 3)), np.ones(3))
        == math.inf
    )


@pytest.mark.parametrize("scale", [1e-6, 1e6])
def test_nc1_drops_null_directions_relative_to_the_scale(scale):
    # Same as above at another scale: NC1 is scale free (0.01); the centred means of a K = 4
    # simplex ETF would have a null direction, here the null space is what the rank test sees.
    E = _etf(4) * scale  # rank 3: one singular value ~1e-16 * scale must be dropped
    H = np.vstack([E + [0.1 * scale, 0, 0, 0], E - [0.1 * scale, 0, 0, 0]])
    labels = np.tile(np.arange(4), 2)
    # Sigma_W = diag(0.01, 0, 0, 0) s^2, Sigma_B = (1/4) (I - 11^T/4) s^2, its pseudo-inverse
    # 4 (I - 11^T/4) / s^2: tr = 0.01 * 4 * (1 - 1/4) = 0.03, / K = 0.0075.
    assert nc.within_class_variability(H, labels, E, np.zeros(4)) == pytest.approx(0.0075)


def test_ncc_mismatch_uses_the_squared_distance():
    # h = (1.5, 0): squared distances 2.25 to mu_0 = (0, 0) and 6.25 to mu_1 = (4, 0): nearest 0;
    # the classifier also picks 0, so no mismatch.
    means = np.array([[0.0, 0.0], [4.0, 0.0]])
    W = np.array([[1.0, 0.0], [-1.0, 0.0]])
    assert nc.ncc_mismatch(np.array([[1.5, 0.0]]), means, W) == 0.0


def test_self_duality_normalises_in_float64():
    M = np.array([[1.0, 2.0], [3.0, -4.0], [-4.0, 2.0]])
    assert nc.self_duality(M.astype(np.float32), M) == pytest.approx(0.0, abs=1e-15)
