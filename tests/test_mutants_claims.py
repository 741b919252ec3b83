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
