"""The p-family fit held out and the theory-predicted calibration (issue 13), on synthetic
features at the UFM optimum (known answers)."""

import inspect

import numpy as np
import pytest

pytest.importorskip("theory.etf")

from nc_mixup.analysis import calibration  # noqa: E402
from nc_mixup.analysis import theory_power as tp  # noqa: E402
from nc_mixup.analysis.theory_agreement import _etf_frame, row_space_means  # noqa: E402
from theory.etf import etf_optimum, simplex_etf  # noqa: E402

HAS_POWER = "penalty_power" in inspect.signature(etf_optimum).parameters
needs_power = pytest.mark.skipif(
    not HAS_POWER,
    reason="theory.etf_optimum has no penalty_power yet (theory branch of issue 13 not merged)",
)
K, D = 10, 24
LAMS = np.linspace(0, 1, 11)


def _optimum(mu, y1, y2, lam, norm, p):
    kw = {"penalty_power": p} if p != 2.0 else {}
    return etf_optimum(K, mu, y1, y2, lam, norm=norm, loss="ce", **kw)


def _case(mu=0.05, norm=2.0, scale=1.0, p=2.0, triples=((1, 4, 7),), seed=0):
    """Mean-exact features: scale * h*(c, c2, lam) in a random frame, plus a global mean that
    the classifier does not see; two rows per cell."""
    rng = np.random.default_rng(seed)
    Q, _ = np.linalg.qr(rng.normal(size=(D, D)))
    W = simplex_etf(K, norm) @ Q[:K]
    cells = [
        (t[a], t[b], lam)
        for t in triples
        for a in range(3)
        for b in range(a, 3)
        for lam in LAMS
        for _ in range(2)
    ]
    y1, y2, lam = (np.array(v) for v in zip(*cells, strict=True))
    mu_g = Q[K:].T @ rng.normal(size=D - K) * 3.0
    H = scale * _optimum(mu, y1, y2, lam, norm, p) @ Q[:K] + mu_g
    return H, y1, y2, lam, W, mu_g, [np.asarray(t) for t in triples]


def _means(H, y1, y2, lam, W, mu_g, triples):
    out = []
    for t in triples:
        rows = np.isin(y1, t) & np.isin(y2, t)
        m, basis = row_space_means(H[rows], y1[rows], y2[rows], lam[rows], W, mu_g)
        out.append(m)
    return out, basis


def _measured_confidence(H, y1, y2, lam, W, mu_g):
    """The runner's curves: mean max softmax of z = W (h - mu_G) per lambda (different and same
    class); mu_G is orthogonal to W's rows here, so z = W h."""
    probs = calibration.softmax((H - mu_g) @ W.T)
    conf = probs.max(1)
    diff = y1 != y2
    per = lambda m: np.array([conf[m & (lam == v)].mean() for v in LAMS])
    return per(diff), per(~diff)


def test_path_table_is_the_exact_optimum_at_p2():
    a = 2.0**2 * K / (K - 1)
    table = tp.PathTable.build(K, a, LAMS)
    for gamma in (0.3, 22.0, 900.0):
        d1, d2, ok = table.gaps(gamma, 2.0)
        h = etf_optimum(K, a / gamma, np.zeros(11, int), np.ones(11, int), LAMS, norm=2.0)
        W = simplex_etf(K, 2.0)
        z = h @ W.T
        assert ok
        np.testing.assert_allclose(d1[:-1], z[:, 0] - z[:, 5], rtol=1e-4, atol=1e-9)
        np.testing.assert_allclose(d2[:-1], z[:, 1] - z[:, 5], rtol=1e-4, atol=1e-9)


@needs_power
@pytest.mark.parametrize("p", [1.5, 1.0, 2.0 / 3.0, 0.5])
def test_path_table_is_the_exact_optimum_for_p_below_2(p):
    from theory import etf_coefficients

    a = 1.5**2 * K / (K - 1)
    table = tp.PathTable.build(K, a, LAMS)
    for gamma in (5.0, 22.0, 300.0):
        d1, d2, ok = table.gaps(gamma, p)
        A, B = etf_coefficients(
            K,
            a / gamma,
            np.zeros(11, int),
            np.ones(11, int),
            LAMS,
            norm=1.5,
            loss="ce",
            penalty_power=p,
        )
        assert ok
        np.testing.assert_allclose(d1[:-1] / a, A, rtol=2e-4, atol=1e-8)
        np.testing.assert_allclose(d2[:-1] / a, B, rtol=2e-4, atol=1e-8)


def test_features_at_the_optimum_predict_their_own_confidence():
    """Features exactly at the UFM optimum (scale 1): the fitted theory's predicted confidence
    is the measured one (RMSE ~ 0); the same features scaled by 2 are more confident than the
    theory that fits their shape predicts (RMSE clearly > 0)."""
    for scale, small in ((1.0, True), (2.0, False)):
        H, y1, y2, lam, W, mu_g, triples = _case(scale=scale)
        means, basis = _means(H, y1, y2, lam, W, mu_g, triples)
        metrics, curves = tp.power_analysis(means, W, basis, LAMS)
        diff, same = _measured_confidence(H, y1, y2, lam, W, mu_g)
        rmse = tp.confidence_rmse(diff, curves["theory_confidence_different"])
        rmse_same = tp.confidence_rmse(same, curves["theory_confidence_same"])
        if small:
            assert metrics["theory_gamma_power"] == pytest.approx(2.0**2 * 10 / 9 / 0.05, rel=2e-2)
            assert rmse < 2e-3 and rmse_same < 2e-3
            # the probability of the lam-weighted class is the softmax of the optimum's logits
            z = (H - mu_g) @ W.T
            p1 = calibration.softmax(z)[np.arange(len(y1)), y1]
            m = (y1 != y2) & (lam == LAMS[3])
            assert curves["theory_prob_y1_different"][3] == pytest.approx(p1[m].mean(), abs=2e-3)
        else:
            assert rmse > 0.02 and rmse_same > 0.02


def test_confidence_rmse_by_hand():
    assert tp.confidence_rmse([0.5, 1.0], [0.5, 0.0]) == pytest.approx(np.sqrt(0.5))
    assert np.isnan(tp.confidence_rmse([], []))


@needs_power
def test_heldout_fit_recovers_p_two_thirds():
    """Features at the p = 2/3 optimum, 3 class triples: the fit recovers p and gamma, the
    held-out relative distance at the fitted p is ~0 (each fold recovers p), and p = 2 leaves a
    larger held-out residual."""
    trip = ((1, 4, 7), (0, 2, 5), (3, 6, 8))
    H, y1, y2, lam, W, mu_g, triples = _case(
        mu=0.05, norm=2.0, scale=3.0, p=2.0 / 3.0, triples=trip
    )
    means, basis = _means(H, y1, y2, lam, W, mu_g, triples)
    m, _ = tp.power_analysis(means, W, basis, LAMS)
    assert m["theory_heldout_units"] == 3
    assert m["theory_fit_power"] == pytest.approx(2.0 / 3.0, rel=2e-2)
    assert m["theory_gamma_power"] == pytest.approx(2.0**2 * 10 / 9 / 0.05, rel=5e-2)
    assert all(p == pytest.approx(2.0 / 3.0, rel=2e-2) for p in m["theory_fold_powers"])
    assert m["theory_rel_dist_heldout"] < 2e-3
    assert m["theory_rel_dist_heldout_p2"] > m["theory_rel_dist_heldout"] + 1e-3
    assert m["theory_delta_straight"] > m["theory_delta_straight_p2"] > 0


def test_heldout_over_pairs_of_one_triple_at_p2():
    """One triple: leave-one-pair-out over its three different-class pairs; features at the
    p = 2 optimum give p ~ 2 and no held-out residual, and a clear margin over the chord."""
    H, y1, y2, lam, W, mu_g, triples = _case(mu=0.05, norm=2.0, scale=5.0)
    means, basis = _means(H, y1, y2, lam, W, mu_g, triples)
    m, _ = tp.power_analysis(means, W, basis, LAMS)
    assert m["theory_heldout_units"] == 3
    assert m["theory_fit_power"] == pytest.approx(2.0, rel=2e-2)
    assert m["theory_rel_dist_heldout_p2"] < 1e-3
    assert m["theory_delta_straight_p2"] > 0.02
    assert m["theory_delta_straight"] == pytest.approx(m["theory_delta_straight_p2"], abs=2e-3)


def test_fit_alpha_is_the_minimiser():
    from scipy.optimize import minimize_scalar

    rng = np.random.default_rng(1)
    n = 30
    E, V1, V2 = (rng.normal(size=(n, 4)) for _ in range(3))
    dot = lambda A, B: np.sum(A * B, axis=1)
    cells = tp.Cells(
        np.zeros(n, int),
        rng.uniform(size=n),
        dot(E, E),
        dot(E, V1),
        dot(E, V2),
        dot(V1, V1),
        dot(V1, V2),
        dot(V2, V2),
    )
    d1, d2 = rng.uniform(1, 2, size=n), rng.uniform(size=n)
    alpha, value = tp.fit_alpha(cells, d1, d2, 1.3)
    ref = minimize_scalar(
        lambda x: tp.rel_dist(cells, d1, d2, x, 1.3),
        bounds=(0, 20),
        method="bounded",
        options={"xatol": 1e-10},
    )
    assert value <= ref.fun + 1e-12 and alpha == pytest.approx(ref.x, abs=1e-6)
    # by hand: rel_dist of alpha = 0 is 1
    assert tp.rel_dist(cells, d1, d2, 0.0, 1.3) == pytest.approx(1.0)


def test_etf_frame_and_cells_reproduce_the_theory_in_row_space():
    """Cells: <e, t> from the per-cell scalars equals the explicit row-space computation."""
    H, y1, y2, lam, W, mu_g, triples = _case()
    means, basis = _means(H, y1, y2, lam, W, mu_g, triples)
    Kk, s, a, R = _etf_frame(W, basis)
    table = tp.PathTable.build(Kk, a, LAMS)
    units = tp.pair_units(means[0], table, simplex_etf(Kk, s) @ R)
    assert len(units) == 3 and all(len(u.col) == 9 for u in units.values())
    d1, d2, _ = table.gaps(a / 0.05, 2.0)
    every = tp._concat(list(units.values()))
    assert tp.rel_dist(every, d1[every.col], d2[every.col], 1.0, a) < 1e-4
