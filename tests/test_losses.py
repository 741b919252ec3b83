"""Mixup losses against hand-computed values (nc_mixup.losses)."""

import numpy as np
import optax
import pytest

from nc_mixup import losses

LOGITS = np.array([[2.0, -1.0, 0.5, 0.0], [0.1, 0.2, 0.3, 0.4], [-3.0, 1.0, 2.0, 0.0]], np.float32)
LABELS = np.array([0, 3, 2], np.int32)
PERM = np.array([2, 0, 1], np.int32)


def _log_softmax(z):
    z = np.asarray(z, np.float64)
    return (
        z
        - np.log(np.sum(np.exp(z - z.max(-1, keepdims=True)), -1, keepdims=True))
        - z.max(-1, keepdims=True)
    )


def test_mixup_ce_equals_hand_computed_value():
    lam = 0.3
    logp = _log_softmax(LOGITS)
    rows = np.arange(3)
    expected = np.mean(
        -lam * logp[rows, LABELS] - (1 - lam) * logp[rows, LABELS[PERM]]
    )  # lam CE(z, y_i) + (1 - lam) CE(z, y_perm[i])
    # by hand for row 0 (labels 0 and y_perm[0] = 2), as a spot check of the helper
    lse0 = np.log(np.exp(2.0) + np.exp(-1.0) + np.exp(0.5) + 1.0)
    assert np.isclose(-logp[0, 0], lse0 - 2.0) and np.isclose(-logp[0, 2], lse0 - 0.5)
    got = losses.mixup_loss(LOGITS, LABELS, np.float32(lam), PERM, "ce")
    assert np.isclose(float(got), expected, rtol=1e-6)


def test_mixup_ce_per_example_lambda():
    lam = np.array([0.1, 0.5, 0.9], np.float32)
    logp = _log_softmax(LOGITS)
    rows = np.arange(3)
    expected = np.mean(-lam * logp[rows, LABELS] - (1 - lam) * logp[rows, LABELS[PERM]])
    assert np.isclose(float(losses.mixup_loss(LOGITS, LABELS, lam, PERM)), expected, rtol=1e-6)


def test_mixup_mse_is_squared_error_to_soft_target():
    lam = 0.25
    t = np.zeros((3, 4))
    t[np.arange(3), LABELS] += lam
    t[np.arange(3), LABELS[PERM]] += 1 - lam
    expected = np.mean(np.sum((LOGITS - t) ** 2, -1))
    got = losses.mixup_loss(LOGITS, LABELS, np.float32(lam), PERM, "mse")
    assert np.isclose(float(got), expected, rtol=1e-6)


def test_without_mixup_is_plain_cross_entropy():
    expected = optax.softmax_cross_entropy_with_integer_labels(LOGITS, LABELS).mean()
    assert np.isclose(float(losses.mixup_loss(LOGITS, LABELS)), float(expected), rtol=1e-6)
    assert float(losses.mixup_accuracy(LOGITS, LABELS)) == pytest.approx(1.0)


def test_mixup_accuracy_weights_both_labels():
    # predictions: 0, 3, 2 -> all right for y_i; for y_perm = (2, 0, 3) all wrong
    acc = losses.mixup_accuracy(LOGITS, LABELS, np.float32(0.7), PERM)
    assert float(acc) == pytest.approx(0.7)


def test_unknown_loss():
    with pytest.raises(ValueError, match="unknown loss"):
        losses.mixup_loss(LOGITS, LABELS, kind="hinge")
