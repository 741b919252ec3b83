"""Kill mutmut's survivors in the input checks of theory/etf.py (issue 16; docs/mutation.md).

The supported range of penalty_power, (0, 2], and of gamma = a / weight_decay, [GAMMA_MIN,
GAMMA_MAX], with their end points, and the messages that name the bad value.
"""

import numpy as np
import pytest

from theory import etf


def test_penalty_power_range_and_messages():
    assert etf.check_penalty_power(2) == 2.0 and isinstance(etf.check_penalty_power(2), float)
    assert etf.check_penalty_power(0.25) == 0.25  # below 1 is allowed (non-convex p)
    assert etf.check_penalty_power(1e-9) == 1e-9
    for bad in (0, 0.0, -1, 2.0000001, 2.5, float("nan"), float("inf")):
        with pytest.raises(ValueError, match=r"^penalty_power must be in \(0, 2\], got "):
            etf.check_penalty_power(bad)
    with pytest.raises(ValueError, match=r"^penalty_power must be a number in \(0, 2\], got 'x'$"):
        etf.check_penalty_power("x")
    with pytest.raises(ValueError, match=r"^penalty_power must be in \(0, 2\], got 0$"):
        etf.etf_coefficients(3, 0.5, 0, 1, 0.5, penalty_power=0)


def test_gamma_range_end_points_are_supported(monkeypatch):
    K, norm, mu = 3, 1.0, 0.37
    a = etf.etf_scale(K, norm)
    gamma = a / mu
    monkeypatch.setattr(etf, "GAMMA_MAX", gamma)  # gamma exactly at the upper end: allowed
    assert etf._check_gamma(K, mu, norm) == a
    monkeypatch.setattr(etf, "GAMMA_MAX", np.nextafter(gamma, 0.0))
    with pytest.raises(ValueError, match="outside the supported range"):
        etf._check_gamma(K, mu, norm)
    monkeypatch.setattr(etf, "GAMMA_MAX", 1e26)
    monkeypatch.setattr(etf, "GAMMA_MIN", gamma)  # and at the lower end
    assert etf._check_gamma(K, mu, norm) == a
    monkeypatch.setattr(etf, "GAMMA_MIN", np.nextafter(gamma, np.inf))
    with pytest.raises(ValueError, match="outside the supported range"):
        etf._check_gamma(K, mu, norm)


def test_gamma_outside_the_range_is_refused_with_its_value():
    # a = 1.5 (K = 3, norm 1): weight decay 1e-27 gives gamma = 1.5e27 > GAMMA_MAX = 1e26
    msg = (
        r"^gamma = a / weight_decay = 1\.5e\+27 \(a = norm\^2 K/\(K-1\) = 1\.5\) is outside the "
        r"supported range \[1e-30, 1e\+26\]$"
    )
    with pytest.raises(ValueError, match=msg):
        etf.etf_coefficients(3, 1e-27, 0, 1, 0.5)
    with pytest.raises(ValueError, match=r"= 1\.5e-31 "):  # and below GAMMA_MIN
        etf.etf_coefficients(3, 1e31, 0, 1, 0.5)
    # a norm so large that norm^2 overflows: refused as out of range, not a crash
    with pytest.raises(ValueError, match=r"= inf \(a = norm\^2 K/\(K-1\) = inf\) is outside"):
        etf.etf_coefficients(3, 1.0, 0, 1, 0.5, norm=1e200)


def test_unknown_loss_is_named():
    with pytest.raises(
        ValueError, match=r"^unknown loss 'hinge': expected one of \('ce', 'mse'\)$"
    ):
        etf.etf_coefficients(3, 0.5, 0, 1, 0.5, loss="hinge")


def test_penalty_power_reaches_the_power_solver():
    """p != 2 is solved by theory.etf_power with every argument passed through: the same
    coefficients as calling it directly, and not those of p = 2."""
    from theory.etf_power import power_coefficients

    lam = np.array([0.0, 0.3, 0.5, 1.0])
    c, c2 = np.array([0, 0, 0, 1]), np.array([1, 2, 1, 1])
    for loss in ("ce", "mse"):
        A, B = etf.etf_coefficients(4, 0.2, c, c2, lam, norm=1.3, loss=loss, penalty_power=1.5)
        a = etf.etf_scale(4, 1.3)
        A2, B2 = power_coefficients(4, 0.2, a, c == c2, lam, 1.5, loss)
        np.testing.assert_array_equal(A, A2)
        np.testing.assert_array_equal(B, B2)
        A3, _ = etf.etf_coefficients(4, 0.2, c, c2, lam, norm=1.3, loss=loss)
        assert np.abs(A - A3).max() > 1e-3
    # lam broadcast against c: the shape of the broadcast points
    A, _ = etf.etf_coefficients(4, 0.2, np.array([[0], [1]]), 2, lam, penalty_power=0.8)
    assert A.shape == (2, 4)


@pytest.mark.parametrize("K", [3, 5])
@pytest.mark.parametrize("gamma", [1e3, 1e5])
def test_a_pure_point_is_its_class_optimum_at_large_gamma(K, gamma):
    """lam = 0 (or 1) is a clean example of c2 (or c): h = B w_c2 with B the same-class
    coefficient and A = 0. At these gamma (below the switch to the v form) the probabilities of
    the classes a point is not made of underflow, and their logs come from x - omega(x)."""
    mu = etf.etf_scale(K) / gamma
    A, B = etf.etf_coefficients(K, mu, 0, 1, np.array([0.0, 1.0]))
    same, _ = etf.etf_coefficients(K, mu, 1, 1, 1.0)
    assert abs(A[0]) <= 1e-12 * same and B[0] == pytest.approx(float(same), rel=1e-10)
    assert abs(B[1]) <= 1e-12 * same and A[1] == pytest.approx(float(same), rel=1e-10)
