"""The theory_residual study (issue 13): registered, opt-in, never claim evidence; its figure,
statistics and findings on synthetic records."""

import json

import numpy as np
import pytest

from experiments import figures, registry, report
from experiments.configs import load


def test_registered_opt_in_and_kept_out_of_the_claims():
    assert "theory_residual" in registry.EXPERIMENT_NAMES
    assert "theory_residual" in registry.OPT_IN
    # the default reproduce and the claims (which read experiments(profile)) leave it out
    assert "theory_residual" not in registry.select("quick")
    assert "theory_residual" not in registry.experiments("quick")
    assert list(registry.select("quick", ["theory_residual"])) == ["theory_residual"]


def test_quick_study_varies_one_factor_at_a_time_over_every_seed():
    exp = registry.select("quick", ["theory_residual"])["theory_residual"]
    groups = dict(exp.figures[0].params)["groups"]
    levels = {}
    for factor, level, _ in groups:
        levels.setdefault(factor, set()).add(level)
    assert levels == {
        "weight decay": {5e-5, 5e-4, 5e-3},
        "depth": {1, 3},
        "width": {64, 256},
        "classifier": {"learned", "fixed ETF"},
        "epoch": {3, 10, 30, 60},
    }
    by_id = {a.analysis_id: a for a in exp.analyses}
    seeds = {by_id[aid].run.tags["seed"] for _, _, aid in groups}
    assert seeds == {0, 1, 2}
    cfg = {
        (f, lv): by_id[aid].run.config for f, lv, aid in groups if by_id[aid].run.tags["seed"] == 0
    }
    assert cfg[("weight decay", 5e-3)]["optimizer"]["weight_decay"] == 5e-3
    assert cfg[("depth", 1)]["model"]["depth"] == 1 and cfg[("width", 64)]["model"]["width"] == 64
    assert cfg[("classifier", "fixed ETF")]["fixed_etf"] is True
    # the base run is one analysis shared by its factors (and with the geometry experiment)
    shared = (
        ("weight decay", 5e-4),
        ("depth", 3),
        ("width", 256),
        ("classifier", "learned"),
        ("epoch", 60),
    )
    base = {aid for f, lv, aid in groups if (f, lv) in shared}
    assert len(base) == 3  # one per seed
    geometry = {a.analysis_id for a in registry.experiments("quick")["geometry"].analyses}
    assert base <= geometry
    # 4 new runs per seed (2 weight decays, 1 depth, 1 width)
    default_runs = {r.config_hash for e in registry.experiments("quick").values() for r in e.runs}
    assert len({r.config_hash for r in exp.runs} - default_runs) == 4 * 3


def test_quick_config_rejects_a_negative_depth():
    from nc_mixup.config import ConfigError

    with pytest.raises(ConfigError, match="depth=-1"):
        load("experiments/configs/quick.py:depth=-1")


def _records(delta_p, delta_2):
    groups, recs = [], []
    for i, (factor, level) in enumerate(
        [("weight decay", 5e-4), ("weight decay", 5e-3), ("classifier", "learned")]
    ):
        for seed in range(3):
            aid = f"a{i}-{seed}"
            groups.append((factor, level, aid))
            recs.append(
                {
                    "analysis_id": aid,
                    "metrics": {
                        "theory_delta_straight": delta_p + 0.01 * i + 0.001 * seed,
                        "theory_delta_straight_p2": delta_2 + 0.01 * i + 0.001 * seed,
                        "theory_fit_power": 0.5,
                        "theory_rel_dist_heldout": 0.3,
                        "theory_rel_dist_straight_heldout": 0.35,
                        "theory_confidence_rmse": 0.1,
                        "theory_confidence_rmse_same": 0.04,
                    },
                }
            )
    return recs, tuple(groups)


def test_figure_statistics_and_findings(tmp_path):
    recs, groups = _records(0.06, 0.06)
    files = figures.residual_study(
        recs, [tmp_path] * len(recs), tmp_path / "fig", {"groups": groups}
    )
    assert [f.suffix for f in files] == [".png", ".pdf"] and all(f.exists() for f in files)
    stats = json.loads((tmp_path / "fig.json").read_text())
    row = next(r for r in stats if r["factor"] == "weight decay" and r["level"] == 5e-3)
    assert row["n"] == 3
    assert row["theory_delta_straight"]["mean"] == pytest.approx(0.071)
    lo, hi = row["theory_delta_straight"]["ci"]
    assert 0.07 - 1e-12 <= lo <= 0.071 <= hi <= 0.072 + 1e-12
    text = report.residual_findings(stats)
    assert "does not improve the held-out agreement" in text
    assert "largest at 0.005" in text and "RMSE 0.1" in text
    # a fitted p that helps held out is reported as such
    recs, groups = _records(0.08, 0.06)
    figures.residual_study(recs, [tmp_path] * len(recs), tmp_path / "fig2", {"groups": groups})
    text = report.residual_findings(json.loads((tmp_path / "fig2.json").read_text()))
    assert "improves the held-out agreement" in text and "does not improve" not in text
    assert np.isfinite(stats[0]["theory_confidence_rmse"]["mean"])
