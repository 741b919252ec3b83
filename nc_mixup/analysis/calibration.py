"""Calibration of a classifier's probabilities: accuracy, NLL, ECE, MCE, Brier, reliability.

probs (N, K) predicted probabilities, labels (N,) integer classes. Confidence c_i = max_k p_ik,
prediction yhat_i = argmax_k p_ik (top label). Bins follow torchmetrics'
`multiclass_calibration_error` exactly: edges e = linspace(0, 1, n_bins + 1) and bin index
searchsorted(e, c, side='right') - 1 (torch.bucketize(c, e, right=True) - 1), i.e. the
half-open intervals [e_b, e_b+1), plus one extra bin holding the confidences equal to 1.
ECE = sum_b (n_b / N) |acc_b - conf_b| over all bins (L1), MCE = max_b |acc_b - conf_b| over
non-empty bins.
"""

from __future__ import annotations

import numpy as np
from scipy.special import xlogy


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax, computed stably in float64."""
    z = np.asarray(logits, dtype=np.float64)
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def log_softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise log-softmax in float64."""
    z = np.asarray(logits, dtype=np.float64)
    z = z - z.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


def accuracy(probs: np.ndarray, labels: np.ndarray) -> float:
    """Fraction of samples with argmax_k p_k = y."""
    return float(np.mean(np.argmax(probs, axis=1) == np.asarray(labels)))


def nll(logits: np.ndarray, labels: np.ndarray) -> float:
    """Mean negative log-likelihood -log softmax(z)_y (from logits, for stability)."""
    logp = log_softmax(logits)
    return float(-np.mean(logp[np.arange(len(logp)), np.asarray(labels)]))


def brier(probs: np.ndarray, labels: np.ndarray) -> float:
    """Multiclass Brier score: mean over samples of sum_k (p_k - [y = k])^2 (in [0, 2])."""
    probs = np.asarray(probs, dtype=np.float64)
    onehot = np.eye(probs.shape[1])[np.asarray(labels)]
    return float(np.mean(np.sum((probs - onehot) ** 2, axis=1)))


def _bin_stats(probs: np.ndarray, labels: np.ndarray, n_bins: int):
    """(count, sum of confidences, sum of correct) over the n_bins + 1 torchmetrics bins."""
    probs = np.asarray(probs, dtype=np.float64)
    conf = probs.max(axis=1)
    correct = (probs.argmax(axis=1) == np.asarray(labels)).astype(np.float64)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    idx = np.clip(np.searchsorted(edges, conf, side="right") - 1, 0, n_bins)
    count = np.bincount(idx, minlength=n_bins + 1).astype(np.float64)
    conf_sum = np.bincount(idx, weights=conf, minlength=n_bins + 1)
    acc_sum = np.bincount(idx, weights=correct, minlength=n_bins + 1)
    return count, conf_sum, acc_sum


def _gaps(probs: np.ndarray, labels: np.ndarray, n_bins: int) -> tuple[np.ndarray, np.ndarray]:
    """(|acc_b - conf_b|, n_b) for the non-empty bins."""
    count, conf_sum, acc_sum = _bin_stats(probs, labels, n_bins)
    nz = count > 0
    return np.abs(acc_sum[nz] - conf_sum[nz]) / count[nz], count[nz]


def ece(probs: np.ndarray, labels: np.ndarray, n_bins: int = 15) -> float:
    """Expected calibration error sum_b (n_b / N) |acc_b - conf_b| (top label, L1, equal-width
    bins; see the module docstring for the binning)."""
    gaps, count = _gaps(probs, labels, n_bins)
    return float(np.sum(count / count.sum() * gaps))


def mce(probs: np.ndarray, labels: np.ndarray, n_bins: int = 15) -> float:
    """Maximum calibration error: max over non-empty bins of |acc_b - conf_b|."""
    gaps, _ = _gaps(probs, labels, n_bins)
    return float(np.max(gaps))


def reliability_bins(probs: np.ndarray, labels: np.ndarray, n_bins: int = 15) -> dict:
    """Per-bin statistics for a reliability diagram (n_bins bins; confidence 1 joins the last).

    Returns {'edges' (n_bins+1,), 'count' (n_bins,), 'confidence' (mean confidence in each
    bin), 'accuracy' (fraction correct in each bin)}; empty bins have count 0 and NaN means.
    """
    count, conf_sum, acc_sum = (a.copy() for a in _bin_stats(probs, labels, n_bins))
    for a in (count, conf_sum, acc_sum):
        a[n_bins - 1] += a[n_bins]
    count, conf_sum, acc_sum = count[:n_bins], conf_sum[:n_bins], acc_sum[:n_bins]
    with np.errstate(invalid="ignore", divide="ignore"):
        return {
            "edges": np.linspace(0.0, 1.0, n_bins + 1),
            "count": count,
            "confidence": conf_sum / count,
            "accuracy": acc_sum / count,
        }


def calibration_metrics(logits: np.ndarray, labels: np.ndarray, n_bins: int = 15) -> dict:
    """{'accuracy', 'nll', 'ece', 'mce', 'brier'} of logits (N, K) against labels (N,)."""
    probs = softmax(logits)
    return {
        "accuracy": accuracy(probs, labels),
        "nll": nll(logits, labels),
        "ece": ece(probs, labels, n_bins),
        "mce": mce(probs, labels, n_bins),
        "brier": brier(probs, labels),
    }


def mixed_label_kl(
    logits: np.ndarray, y1: np.ndarray, y2: np.ndarray, lam: np.ndarray
) -> np.ndarray:
    """Per row, KL(t || softmax(logits)) in nats for the mixed label t = lam e_y1 + (1 - lam)
    e_y2 (the mixup cross-entropy minus the entropy of t: 0 exactly when the network predicts
    the mixed label). Rows with y1 == y2 have t = e_y1 (KL = its NLL)."""
    logp = log_softmax(np.asarray(logits, np.float64))
    lam = np.asarray(lam, np.float64)
    rows = np.arange(len(logp))
    same = np.asarray(y1) == np.asarray(y2)
    w1 = np.where(same, 1.0, lam)
    w2 = 1.0 - w1
    return xlogy(w1, w1) + xlogy(w2, w2) - w1 * logp[rows, y1] - w2 * logp[rows, y2]
