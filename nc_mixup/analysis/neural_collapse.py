"""Neural collapse NC1-NC4 (Papyan, Han & Donoho 2020) as small pure functions of arrays.

Notation: H (N, d) features with labels y in {0..K-1}; mu_k the class means, mu_G the global mean
of all N features, M (K, d) the centred means mu_k - mu_G as rows; W (K, d) the classifier, b (K,)
its bias. Each quantity is 0 under exact neural collapse with a simplex-ETF classifier.
"""

from __future__ import annotations

import numpy as np


def class_means(H: np.ndarray, labels: np.ndarray, num_classes: int) -> np.ndarray:
    """(K, d) per-class means mu_k (NaN rows for classes with no sample)."""
    H = np.asarray(H, dtype=np.float64)
    labels = np.asarray(labels)
    sums = np.zeros((num_classes, H.shape[1]))
    np.add.at(sums, labels, H)
    counts = np.bincount(labels, minlength=num_classes).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        return sums / counts[:, None]


def within_class_variability(
    H: np.ndarray, labels: np.ndarray, means: np.ndarray, global_mean: np.ndarray
) -> float:
    """NC1 = tr(Sigma_W Sigma_B^+) / K.

    Sigma_W = (1/N) sum_i (h_i - mu_{y_i})(h_i - mu_{y_i})^T, Sigma_B = (1/K) sum_k (mu_k - mu_G)
    (mu_k - mu_G)^T, mu_G the mean of all N features. Computed in the span of the centred means:
    with the thin SVD M = U S V^T (singular values below 1e-10 s_1 dropped), Sigma_B^+ =
    K V S^-2 V^T, so NC1 = (1/N) sum_j ||(H - mu_y) v_j||^2 / s_j^2 (no d x d matrix is formed).
    """
    H = np.asarray(H, dtype=np.float64)
    _, S, Vt = np.linalg.svd(means - global_mean, full_matrices=False)
    keep = S > 1e-10 * S[0]
    if S[0] == 0 or not keep.any():
        return float("inf")
    proj = (H - means[labels]) @ Vt[keep].T  # (N, r)
    return float(np.sum(np.mean(proj**2, axis=0) / S[keep] ** 2))


def equinorm(centred_means: np.ndarray) -> float:
    """NC2 equinorm: coefficient of variation std_k ||mu_k - mu_G|| / mean_k ||mu_k - mu_G||."""
    norms = np.linalg.norm(centred_means, axis=1)
    return float(norms.std() / norms.mean())


def pairwise_cosines(X: np.ndarray) -> np.ndarray:
    """Cosines between the rows of X for all pairs k < j, shape (K(K-1)/2,)."""
    U = X / np.linalg.norm(X, axis=1, keepdims=True)
    G = U @ U.T
    return G[np.triu_indices(X.shape[0], k=1)]


def equiangularity(centred_means: np.ndarray) -> float:
    """NC2 equiangularity: std over k < j of cos(mu_k - mu_G, mu_j - mu_G) (0 for an ETF,
    where every cosine is -1/(K-1))."""
    return float(pairwise_cosines(centred_means).std())


def etf_distance(centred_means: np.ndarray) -> float:
    """NC2 distance to a simplex ETF: || G/||G||_F - E/||E||_F ||_F with G = M M^T the Gram
    matrix of the centred means and E = I - 11^T/K (the Gram matrix of any simplex ETF, up to
    scale). 0 iff the centred means form a simplex ETF (any norm, any rotation)."""
    K = centred_means.shape[0]
    G = centred_means @ centred_means.T
    E = np.eye(K) - np.ones((K, K)) / K
    return float(np.linalg.norm(G / np.linalg.norm(G) - E / np.linalg.norm(E)))


def self_duality(W: np.ndarray, centred_means: np.ndarray) -> float:
    """NC3: || W/||W||_F - M/||M||_F ||_F, classifier rows against centred class means."""
    W = np.asarray(W, dtype=np.float64)
    M = centred_means
    return float(np.linalg.norm(W / np.linalg.norm(W) - M / np.linalg.norm(M)))


def ncc_mismatch(
    H: np.ndarray, means: np.ndarray, W: np.ndarray, b: np.ndarray | None = None
) -> float:
    """NC4: fraction of samples where argmax_k (W h + b)_k != argmin_k ||h - mu_k||."""
    H = np.asarray(H, dtype=np.float64)
    logits = H @ np.asarray(W, dtype=np.float64).T
    if b is not None:
        logits = logits + np.asarray(b, dtype=np.float64)
    # ||h - mu_k||^2 = ||h||^2 - 2 h.mu_k + ||mu_k||^2; ||h||^2 does not change the argmin.
    dist = -2.0 * H @ means.T + np.sum(means**2, axis=1)
    return float(np.mean(np.argmax(logits, axis=1) != np.argmin(dist, axis=1)))


def nc_metrics(
    H: np.ndarray,
    labels: np.ndarray,
    W: np.ndarray | None = None,
    b: np.ndarray | None = None,
    num_classes: int | None = None,
) -> dict[str, float]:
    """NC1-NC4 of features H (N, d) with integer labels (N,), classifier W (K, d) and bias b.

    Returns {'nc1', 'nc2_equinorm', 'nc2_equiangular', 'nc2_etf_distance', 'nc3', 'nc4'}
    (definitions in the functions above; nc3 and nc4 are NaN without W). Classes without
    samples are dropped from the means (and from W for nc3).
    """
    H = np.asarray(H, dtype=np.float64)
    labels = np.asarray(labels).astype(np.int64)
    K = int(num_classes or (W.shape[0] if W is not None else labels.max() + 1))
    means = class_means(H, labels, K)
    present = np.bincount(labels, minlength=K) > 0
    mu_g = H.mean(axis=0)
    M = means[present] - mu_g
    remap = np.cumsum(present) - 1
    out = {
        "nc1": within_class_variability(H, remap[labels], means[present], mu_g),
        "nc2_equinorm": equinorm(M),
        "nc2_equiangular": equiangularity(M),
        "nc2_etf_distance": etf_distance(M),
        "nc3": float("nan"),
        "nc4": float("nan"),
    }
    if W is not None:
        W = np.asarray(W, dtype=np.float64)
        out["nc3"] = self_duality(W[present], M)
        bb = None if b is None else np.asarray(b)[present]
        out["nc4"] = ncc_mismatch(H, means[present], W[present], bb)
    return out
