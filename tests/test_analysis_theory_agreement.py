"""Theory agreement: features that follow the UFM optimum are recognised, with the right mu."""

import numpy as np
import pytest

pytest.importorskip("theory.etf")

from nc_mixup.analysis.theory_agreement import procrustes, theory_agreement  # noqa: E402
from theory.etf import etf_optimum, simplex_etf  # noqa: E402


def _case(loss="ce", mu=0.05, norm=2.0, scale=7.0, seed=0):
    K, d = 10, 24
    rng = np.random.default_rng(seed)
    Q, _ = np.linalg.qr(rng.normal(size=(d, d)))
    W = simplex_etf(K, norm) @ Q[:K]
    cls = [1, 4, 7]
    cells = [
        (cls[a], cls[b], t)
        for a in range(3)
        for b in range(a, 3)
        for t in np.linspace(0, 1, 11)
        for _ in range(2)
    ]
    y1, y2, lam = (np.array(v) for v in zip(*cells, strict=True))
    # a global mean outside the classifier's span, and along W^T 1 = 0 (no logit effect)
    mu_g = Q[K:].T @ rng.normal(size=d - K) * 3.0
    H = scale * etf_optimum(K, mu, y1, y2, lam, norm=norm, loss=loss) @ Q[:K] + mu_g
    return H, y1, y2, lam, W, mu_g


@pytest.mark.parametrize("loss", ["ce", "mse"])
def test_features_at_the_optimum_agree_exactly(loss):
    H, y1, y2, lam, W, mu_g = _case(loss)
    m, fit, _ = theory_agreement(H, y1, y2, lam, W, np.full(10, 0.3), mu_g, loss=loss)
    assert m["theory_cos_etf"] == pytest.approx(1.0, abs=1e-6)
    assert m["theory_cos_own_w"] == pytest.approx(1.0, abs=1e-6)
    assert m["theory_rel_dist_etf"] < 1e-3 and m["theory_rel_dist_own_w"] < 1e-3
    if loss == "ce":  # MSE: mu only moves the overall scale, so it is not identifiable
        assert m["theory_fitted_weight_decay"] == pytest.approx(0.05, rel=1e-3)
        assert fit.alpha_etf == pytest.approx(7.0, rel=1e-3)


def test_features_of_the_wrong_lambda_do_not_agree():
    # Features of (c, c', 1 - lam) labelled (c, c', lam): no mu and scale can fix that. (Straight
    # segments would not do as a counter-example: as gamma -> 0 the CE optimum becomes affine in
    # lam, so the CE theory contains them.)
    H, y1, y2, lam, W, mu_g = _case("ce", mu=0.02)
    m, _, _ = theory_agreement(H, y1, y2, 1.0 - lam, W, np.zeros(10), mu_g)
    assert m["theory_rel_dist_etf"] > 0.2 and m["theory_cos_etf"] < 0.95


def test_procrustes_recovers_a_rotation():
    rng = np.random.default_rng(3)
    A = rng.normal(size=(6, 4))
    Q, _ = np.linalg.qr(rng.normal(size=(4, 4)))
    assert np.allclose(procrustes(A, A @ Q), Q)


def _grid(H, y1, y2, lam, W, mu_g):
    from nc_mixup.analysis.theory_agreement import row_space_means

    return row_space_means(H, y1, y2, lam, W, mu_g)


def test_straight_comparison_recovers_gamma_and_prefers_the_ce_theory():
    """Features at the CE optimum: the fit recovers gamma = a / mu (on the objective it reports)
    and the CE theory beats the straight chord by a clear margin."""
    from nc_mixup.analysis.theory_agreement import straight_comparison

    H, y1, y2, lam, W, mu_g = _case("ce", mu=0.05, norm=2.0)
    means, basis = _grid(H, y1, y2, lam, W, mu_g)
    out = straight_comparison(means, W, basis)
    a = 2.0**2 * 10 / 9
    assert out["theory_gamma_etf"] == pytest.approx(a / 0.05, rel=1e-3)
    assert out["theory_rel_dist_interior"] < 1e-4
    assert out["theory_delta_straight"] > 0.02 and not out["theory_fit_at_bound"]
    assert out["theory_delta_straight"] == pytest.approx(
        out["theory_rel_dist_straight"] - out["theory_rel_dist_interior"]
    )


def test_straight_features_give_no_margin_and_a_fit_at_the_bound():
    """Features on straight segments (the MSE optimum): the CE fit runs to the lower gamma bound,
    where the CE optimum is the straight chord, and the margin is ~0."""
    from nc_mixup.analysis.theory_agreement import straight_comparison

    H, y1, y2, lam, W, mu_g = _case("mse", mu=0.05, norm=2.0)
    means, basis = _grid(H, y1, y2, lam, W, mu_g)
    out = straight_comparison(means, W, basis)
    assert out["theory_rel_dist_straight"] < 1e-6
    assert abs(out["theory_delta_straight"]) < 1e-3 and out["theory_fit_at_bound"]
