"""Kill mutmut's survivors in experiments/claims.py (issue 16; see docs/mutation.md)."""

import numpy as np

from experiments import claims


def test_rule_bounds_at_the_threshold_itself():
    # ">=" and "<=" hold with the bound exactly at the threshold; ">" and "<" do not.
    assert claims.Rule("s", ">=", 0.9).holds((0.9, 1.0))
    assert not claims.Rule("s", ">", 0.0).holds((0.0, 1.0))
    assert claims.Rule("s", "<=", 0.1).holds((0.0, 0.1))
    assert not claims.Rule("s", "<", 0.0).holds((-1.0, 0.0))


def test_bootstrap_defaults_to_seed_zero_and_float64():
    x = np.random.default_rng(0).normal(size=30)
    assert claims.bootstrap_ci(x) == claims.bootstrap_ci(x, seed=0)
    assert claims.bootstrap_ci(x) != claims.bootstrap_ci(x, seed=1)
    # float32 values are resampled as float64: the same interval as their float64 copies
    x32 = (x * 1e3 + 1e4).astype(np.float32)
    assert claims.bootstrap_ci(x32) == claims.bootstrap_ci(x32.astype(np.float64))


def test_bootstrap_interval_matches_the_exact_percentiles():
    # Ten single-value groups 0..9: a resample mean is the mean of 10 uniform draws from 0..9,
    # whose exact distribution is a 10-fold convolution; its 2.5% and 97.5% points are 2.7, 6.3.
    pmf = np.ones(1)
    for _ in range(10):
        pmf = np.convolve(pmf, np.full(10, 0.1))
    cdf = np.cumsum(pmf)
    exact = (np.searchsorted(cdf, 0.025) / 10, np.searchsorted(cdf, 0.975) / 10)
    assert exact == (2.7, 6.3)
    for seed in range(2):
        lo, hi = claims.bootstrap_ci(np.arange(10.0), n_boot=40000, seed=seed)
        assert (lo, hi) == (2.7, 6.3) or np.allclose((lo, hi), exact, atol=1e-9)


def test_bootstrap_draws_every_group_and_handles_no_values():
    # the first value is a group like the others: 100 among nine zeros lifts the upper bound
    lo, hi = claims.bootstrap_ci([100.0] + [0.0] * 9)
    assert lo == 0.0 and hi >= 10.0
    assert all(np.isnan(claims.bootstrap_ci([])))


def test_bootstrap_of_one_value_is_that_value():
    assert claims.bootstrap_ci([3.0]) == (3.0, 3.0)


def _obs(cell, seed, values):
    return [(cell, seed, (seed, i), (v,)) for i, v in enumerate(values)]


def test_evaluate_resamples_seeds_within_cells():
    # Two cells x two seeds, ten units each, constant per (cell, seed): 0, 1 in cell X and 1, 0
    # in cell Y. Resampling (cell, seed) groups, a resample mean is the mean of k groups of ones
    # among 2 (per cell) or 4 (pooled); P(all zeros) = 1/4 and 1/16 both exceed 2.5%, so every
    # interval is exactly [0, 1]. Resampling units (or seeds across cells) would give ~[0.3, 0.7].
    X, Y = ("a", "d", "sgd"), ("b", "d", "sgd")
    sample = (
        _obs(Y, 0, [1.0] * 10)
        + _obs(Y, 1, [0.0] * 10)
        + _obs(X, 0, [0.0] * 10)
        + _obs(X, 1, [1.0] * 10)
    )
    out = claims.evaluate([claims.Rule("s", ">=", 0.0)], sample)
    assert list(out["cells"]) == ["a/d/sgd", "b/d/sgd"]  # sorted, not in arrival order
    for cell in out["cells"].values():
        assert cell["rules"][0]["ci"] == [0.0, 1.0]
    assert out["ci"] == [0.0, 1.0] and out["value"] == 0.5


def test_evaluate_sorts_cells_with_and_without_an_optimizer():
    # cells are ordered by their text: "('a', 'd', 'sgd')" < "('a', 'd', None)" (a tuple sort
    # would compare None with a string and fail)
    sample = _obs(("a", "d", None), 0, [1.0, 2.0]) + _obs(("a", "d", "sgd"), 0, [1.0, 2.0])
    out = claims.evaluate([claims.Rule("s", ">=", 0.0)], sample)
    assert list(out["cells"]) == ["a/d/sgd", "a/d/None"]


def test_evaluate_of_no_observation_has_no_interval():
    out = claims.evaluate([claims.Rule("s", ">=", 0.0)], [])
    assert out["ci"] is None and out["value"] is None and out["holds"] is False


def _tags(**kw):
    base = {"loss": "ce", "mixup": True, "classifier": "learned", "epoch": "final"}
    base.update(kw)
    return {k: v for k, v in base.items() if v is not _DROP}


_DROP = object()


def test_run_role_by_its_docstring():
    role = claims.run_role
    # no mix_layer tag means input mixup; '0' and 'input' too; any other layer is manifold
    assert role(_tags()) == "mixup"
    assert role(_tags(mix_layer="0")) == "mixup"
    assert role(_tags(mix_layer="input")) == "mixup"
    assert role(_tags(mix_layer=0)) == "mixup"
    assert role(_tags(mix_layer=2)) == "manifold"
    # no epoch tag means the final checkpoint
    assert role(_tags(epoch=_DROP)) == "mixup"
    assert role(_tags(epoch=3)) is None
    # fixed ETF: CE with mixup only
    assert role(_tags(classifier="fixed_etf")) == "fixed_etf"
    assert role(_tags(classifier="fixed_etf", loss="mse")) is None
    assert role(_tags(classifier="fixed_etf", mixup=False)) is None
    # MSE: input mixup only
    assert role(_tags(loss="mse")) == "mse"
    assert role(_tags(loss="mse", mixup=False)) is None
    assert role(_tags(loss="mse", mix_layer=2)) is None
