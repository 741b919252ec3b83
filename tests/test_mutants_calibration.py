"""Kill mutmut's survivors in nc_mixup/analysis/calibration.py (issue 16; see docs/mutation.md).

Expected values are worked by hand from the definitions in the module docstring, not computed
with the code under test.
"""

import math

import numpy as np
import pytest

from nc_mixup.analysis import calibration


def _hand_softmax_row(z):
    """exp(z_k - max z) / sum, written out in Python floats."""
    m = max(z)
    e = [math.exp(v - m) for v in z]
    return [v / sum(e) for v in e]


def test_softmax_and_log_softmax_are_per_row_and_stable():
    # Row maxima 1000 and -1000: a global (not per-row) shift underflows row 2 to 0/0, and adding
    # the maximum instead of subtracting it overflows row 1.
    logits = np.array([[1000.0, 999.0, 998.0], [-1000.0, -1001.0, -1003.0]])
    expected = np.array([_hand_softmax_row([0.0, -1.0, -2.0]), _hand_softmax_row([0, -1, -3])])
    p = calibration.softmax(logits)
    np.testing.assert_allclose(p, expected, rtol=1e-12)
    logp = calibration.log_softmax(logits)
    np.testing.assert_allclose(logp, np.log(expected), rtol=1e-12)


def test_softmax_and_log_softmax_compute_in_float64():
    # float32 input: the result is float64 and keeps the e^-30 term that float32 rounds away.
    z = np.array([[0.0, 30.0]], dtype=np.float32)
    assert calibration.softmax(z).dtype == np.float64
    assert calibration.log_softmax(z).dtype == np.float64
    # log softmax(z)_0 = -30 - log(1 + e^-30); float32 loses the e^-30 term entirely.
    assert calibration.log_softmax(z)[0, 0] == pytest.approx(
        -30.0 - math.log1p(math.exp(-30)), abs=1e-15
    )
    assert calibration.softmax(z)[0, 0] == pytest.approx(
        math.exp(-30) / (1 + math.exp(-30)), rel=1e-12
    )


def test_softmax_of_a_single_column_batch_normalises_each_row():
    # (3, 1) logits: every probability is 1 (a sum over the wrong axis gives 1/3 each).
    np.testing.assert_allclose(calibration.softmax(np.array([[1.0], [2.0], [3.0]])), 1.0)
    np.testing.assert_allclose(calibration.log_softmax(np.array([[1.0], [2.0], [3.0]])), 0.0)


def test_reliability_bins_by_hand():
    # 4 bins, edges 0, .25, .5, .75, 1. Confidences 0.35 (wrong), 0.6 (right), 0.7 (wrong) and
    # 1.0 (right; joins the last bin). Row 0: confidence 0.35, predicted class 1 (the first max).
    probs = np.array([[0.3, 0.35, 0.35], [0.6, 0.4, 0.0], [0.7, 0.3, 0.0], [1.0, 0.0, 0.0]])
    labels = np.array([0, 0, 1, 0])
    r = calibration.reliability_bins(probs, labels, n_bins=4)
    np.testing.assert_allclose(r["edges"], [0.0, 0.25, 0.5, 0.75, 1.0])
    np.testing.assert_array_equal(r["count"], [0, 1, 2, 1])
    np.testing.assert_allclose(r["confidence"][1:], [0.35, 0.65, 1.0])
    np.testing.assert_allclose(r["accuracy"][1:], [0.0, 0.5, 1.0])
    assert np.isnan(r["confidence"][0]) and np.isnan(r["accuracy"][0])
    assert set(r) == {"edges", "count", "confidence", "accuracy"}


def test_reliability_bins_empty_bins_raise_no_warning():
    probs = np.array([[0.9, 0.1]])
    with np.errstate(all="raise"):
        r = calibration.reliability_bins(probs, np.array([0]), n_bins=2)
    np.testing.assert_array_equal(r["count"], [0, 1])


# Three samples, K = 3: confidence 0.47 (right), 0.52 (wrong), 0.9 (right). Worked by hand:
# 15 bins (width 1/15): 0.47 and 0.52 share [7/15, 8/15) (acc 1/2, conf 0.495, gap 0.005) and 0.9
# is alone in [13/15, 14/15) (gap 0.1): ECE = 2/3 * 0.005 + 1/3 * 0.1, MCE = 0.1.
# 16 bins would split 0.47 | 0.52 (ECE (0.53 + 0.52 + 0.1) / 3); 2 bins: [0, .5) holds 0.47
# (gap 0.53), [.5, 1) holds 0.52 and 0.9 (acc 1/2, conf 0.71, gap 0.21).
_P3 = np.array([[0.47, 0.28, 0.25], [0.52, 0.24, 0.24], [0.9, 0.05, 0.05]])
_Y3 = np.array([0, 1, 0])


def test_calibration_metrics_by_hand_with_the_default_and_a_given_bin_count():
    logits = np.log(_P3)
    m = calibration.calibration_metrics(logits, _Y3)
    assert set(m) == {"accuracy", "nll", "ece", "mce", "brier"}
    assert m["accuracy"] == pytest.approx(2 / 3)
    assert m["nll"] == pytest.approx(-(math.log(0.47) + math.log(0.24) + math.log(0.9)) / 3)
    brier = (
        (0.53**2 + 0.28**2 + 0.25**2) + (0.52**2 + 0.76**2 + 0.24**2) + (0.1**2 + 0.05**2 + 0.05**2)
    ) / 3
    assert m["brier"] == pytest.approx(brier)
    assert m["ece"] == pytest.approx(2 / 3 * 0.005 + 1 / 3 * 0.1)
    assert m["mce"] == pytest.approx(0.1)
    m2 = calibration.calibration_metrics(logits, _Y3, n_bins=2)
    assert m2["ece"] == pytest.approx(0.53 / 3 + 2 / 3 * 0.21)
    assert m2["mce"] == pytest.approx(0.53)
    assert calibration.accuracy(_P3, _Y3) == pytest.approx(2 / 3)


def test_reliability_bins_default_is_fifteen_bins():
    r = calibration.reliability_bins(_P3, _Y3)
    np.testing.assert_allclose(r["edges"], np.arange(16) / 15)
    expected = np.zeros(15)
    expected[7], expected[13] = 2, 1
    np.testing.assert_array_equal(r["count"], expected)


def test_reliability_bins_lowest_bin():
    # Confidence 0.2 (five equal classes) lies in the first of 4 bins, [0, 0.25).
    r = calibration.reliability_bins(np.full((1, 5), 0.2), np.array([0]), n_bins=4)
    np.testing.assert_array_equal(r["count"], [1, 0, 0, 0])
    assert r["accuracy"][0] == 1.0 and r["confidence"][0] == pytest.approx(0.2)
