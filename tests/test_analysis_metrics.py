"""NC1-NC4 and calibration metrics against independent computations on known cases."""

import numpy as np
import pytest

from nc_mixup.analysis import calibration
from nc_mixup.analysis.neural_collapse import nc_metrics


def _etf(K, d, rng, norm=1.0):
    """A simplex ETF (K, d), randomly rotated in R^d."""
    M = norm * np.sqrt(K / (K - 1)) * (np.eye(K) - np.ones((K, K)) / K)
    Q, _ = np.linalg.qr(rng.normal(size=(d, d)))
    return M @ Q[:K]


def _reference_nc(H, y, W, b):
    """Straight from the definitions, with d x d matrices and numpy's pinv."""
    K = W.shape[0]
    mu = np.stack([H[y == k].mean(0) for k in range(K)])
    mu_g = H.mean(0)
    R = H - mu[y]
    Sw = R.T @ R / len(H)
    M = mu - mu_g
    Sb = M.T @ M / K
    nc1 = np.trace(Sw @ np.linalg.pinv(Sb, rcond=1e-10, hermitian=True)) / K
    norms = np.linalg.norm(M, axis=1)
    cos = [M[i] @ M[j] / (norms[i] * norms[j]) for i in range(K) for j in range(K) if i < j]
    G = M @ M.T
    E = np.eye(K) - 1 / K
    return {
        "nc1": nc1,
        "nc2_equinorm": norms.std() / norms.mean(),
        "nc2_equiangular": np.std(cos),
        "nc2_etf_distance": np.linalg.norm(G / np.linalg.norm(G) - E / np.linalg.norm(E)),
        "nc3": np.linalg.norm(W / np.linalg.norm(W) - M / np.linalg.norm(M)),
        "nc4": np.mean(
            np.argmax(H @ W.T + b, 1) != np.argmin(((H[:, None] - mu[None]) ** 2).sum(-1), 1)
        ),
    }


def test_exact_collapse_on_a_simplex_etf_gives_zeros():
    rng = np.random.default_rng(0)
    K, d = 5, 12
    W = _etf(K, d, rng)
    y = np.repeat(np.arange(K), 7)
    offset = rng.normal(size=d)  # a global mean does not matter
    H = 3.0 * W[y] + offset
    m = nc_metrics(H, y, W, np.zeros(K))
    for key in ("nc1", "nc2_equinorm", "nc2_equiangular", "nc2_etf_distance", "nc3", "nc4"):
        assert m[key] == pytest.approx(0.0, abs=1e-9), key


def test_random_features_match_the_reference():
    rng = np.random.default_rng(1)
    K, d = 4, 9
    y = rng.integers(0, K, size=200)
    H = rng.normal(size=(200, d)) + 2.0 * rng.normal(size=(K, d))[y]
    W, b = rng.normal(size=(K, d)), rng.normal(size=K)
    got, ref = nc_metrics(H, y, W, b), _reference_nc(H, y, W, b)
    for key, value in ref.items():
        assert got[key] == pytest.approx(value, rel=1e-7, abs=1e-12), key
    assert got["nc1"] > 0.01 and got["nc2_etf_distance"] > 0.01


def test_nc1_is_the_within_over_between_ratio_in_a_hand_case():
    # two classes in 1-D: means -1, +1, within-class spread +-0.5 -> Sigma_W = 0.25, Sigma_B = 1.
    H = np.array([[-1.5], [-0.5], [0.5], [1.5]])
    y = np.array([0, 0, 1, 1])
    assert nc_metrics(H, y)["nc1"] == pytest.approx(0.25 / 1.0 / 2)


def test_nc4_counts_disagreements_with_the_nearest_centre():
    H = np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.1, 0.9]])
    y = np.array([0, 0, 1, 1])
    W = np.array([[0.0, 1.0], [1.0, 0.0]])  # swapped classifier: every decision disagrees
    assert nc_metrics(H, y, W)["nc4"] == 1.0
    assert nc_metrics(H, y, W[::-1])["nc4"] == 0.0


def test_perfectly_calibrated_toy_has_zero_ece():
    # In each of three confidence levels, the fraction correct equals the confidence.
    probs, labels = [], []
    for conf, n in ((0.5, 10), (0.8, 10), (1.0, 4)):
        n_right = round(conf * n)
        for i in range(n):
            probs.append([conf, 1 - conf])
            labels.append(0 if i < n_right else 1)
    probs, labels = np.array(probs), np.array(labels)
    assert calibration.ece(probs, labels) == pytest.approx(0.0, abs=1e-12)
    assert calibration.mce(probs, labels) == pytest.approx(0.0, abs=1e-12)


def test_hand_worked_ece_bins():
    # 15 bins of width 1/15. Confidences 0.95, 0.97 (bin 14), 0.55 (bin 8), 0.40 (bin 6).
    probs = np.array([[0.95, 0.05, 0.0], [0.03, 0.97, 0.0], [0.55, 0.45, 0.0], [0.4, 0.3, 0.3]])
    labels = np.array([0, 0, 0, 1])  # right, wrong, right, wrong
    # bin 14: conf mean 0.96, acc 0.5 -> |gap| 0.46, weight 2/4; bin 8: |1 - 0.55| = 0.45 (1/4);
    # bin 6: |0 - 0.4| = 0.4 (1/4).
    expected = 0.5 * 0.46 + 0.25 * 0.45 + 0.25 * 0.40
    assert calibration.ece(probs, labels) == pytest.approx(expected)
    assert calibration.mce(probs, labels) == pytest.approx(0.46)


def test_ece_bin_edges_follow_torchmetrics():
    # torch.bucketize(c, linspace(0, 1, 16), right=True) - 1: a confidence of exactly 1 gets a
    # bin of its own, separate from [14/15, 1).
    probs = np.array([[1.0, 0.0], [0.95, 0.05]])
    labels = np.array([0, 1])
    # bins: {1.0} (right, gap 0) and [14/15, 1) (wrong, gap 0.95): ece = 0.5 * 0.95.
    assert calibration.ece(probs, labels) == pytest.approx(0.5 * 0.95)
    r = calibration.reliability_bins(probs, labels)
    assert r["count"].sum() == 2 and r["count"][-1] == 2  # the diagram merges them


def test_nll_brier_accuracy():
    logits = np.array([[2.0, 0.0], [0.0, 1.0]])
    labels = np.array([0, 0])
    p = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    m = calibration.calibration_metrics(logits, labels)
    assert m["accuracy"] == 0.5
    assert m["nll"] == pytest.approx(-np.mean(np.log(p[[0, 1], [0, 0]])))
    assert m["brier"] == pytest.approx(np.mean(((p - np.eye(2)[labels]) ** 2).sum(1)))
