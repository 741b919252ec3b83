"""claims.json: rules pinned, the bootstrap checked on known distributions, every claim holding
on evidence and failing on its control, replicated units, and the contract of claims.json."""

import json
import math

import numpy as np
import pytest

from experiments import claims

KEYS = (
    "C1_same_class_alignment",
    "C2_boundary_at_half",
    "C3_mse_straight_vs_ce_channels",
    "C4_mixup_lowers_ece",
    "C5_fixed_etf_matches_theory",
    "C5b_fixed_etf_closer_than_learned",
    "C6_earlier_layers_manifold_mixup",
)

# The rules as fixed before the runs (SPEC 6). Changing one must be a visible, reviewed edit of
# this table as well as of experiments/claims.py.
PINNED = {
    "C1_same_class_alignment": (
        [("same_class_spread", "<=", 0.1), ("same_class_alignment", ">=", 0.9)],
        ["no-mixup (ERM) network", "random initialisation"],
    ),
    "C2_boundary_at_half": (
        [("boundary_gap", "<=", 0.1)],
        ["no-mixup (ERM) network", "random initialisation"],
    ),
    "C3_mse_straight_vs_ce_channels": ([("channel_deviation", ">=", 0.1)], ["MSE-mixup network"]),
    "C4_mixup_lowers_ece": ([("ECE(no mixup) - ECE(mixup)", ">=", 0.01)], ["two no-mixup seeds"]),
    "C5_fixed_etf_matches_theory": (
        [("theory_delta_straight", ">=", 0.01)],
        ["MSE-mixup network", "no-mixup (ERM) network"],
    ),
    "C5b_fixed_etf_closer_than_learned": (
        [("rel_dist(learned) - rel_dist(fixed ETF)", ">", 0.0)],
        ["two learned-classifier seeds"],
    ),
    "C6_earlier_layers_manifold_mixup": (
        [
            ("KL(input mixup) - KL(ERM)", "<", 0.0),
            ("KL(input mixup) - (KL(ERM) + KL(manifold mixup)) / 2", "<", 0.0),
        ],
        [
            "random initialisation in place of the input-mixup network",
            "a no-mixup network of another seed in place of the input-mixup network",
        ],
    ),
}
#: The superseded versions (never edited) and the versions and seeds of the current ones.
PINNED_SUPERSEDED = {
    ("C4_mixup_lowers_ece", 1): (
        [("ECE(no mixup) - ECE(mixup)", ">", 0.0)],
        ["two no-mixup seeds"],
    ),
    ("C6_earlier_layers_manifold_mixup", 1): (
        [
            ("linearity(input mixup) - linearity(ERM)", "<", 0.0),
            ("linearity(input mixup) - linearity(manifold mixup)", "<=", 0.02),
        ],
        ["random initialisation in place of the input-mixup network"],
    ),
}
VERSIONS = {"C4_mixup_lowers_ece": 2, "C6_earlier_layers_manifold_mixup": 2}

TAGS = {
    "mixup": dict(loss="ce", mixup=True, mix_layer=0, classifier="learned", epoch="final"),
    "erm": dict(loss="ce", mixup=False, mix_layer=0, classifier="learned", epoch="final"),
    "mse": dict(loss="mse", mixup=True, mix_layer=0, classifier="learned", epoch="final"),
    "fixed_etf": dict(loss="ce", mixup=True, mix_layer=0, classifier="fixed_etf", epoch="final"),
    "manifold": dict(loss="ce", mixup=True, mix_layer=2, classifier="learned", epoch="final"),
    "random_init": dict(loss="ce", mixup=True, mix_layer=0, classifier="learned", epoch=0),
}
# Per-unit metric values of each kind of run: every claim holds on these and every control fails.
GOOD = {
    "mixup": dict(
        same_class_spread=0.03,
        same_class_alignment=0.97,
        boundary_gap=0.03,
        channel_deviation=0.3,
        theory_delta_straight=0.05,
        theory_fit_at_bound=False,
        theory_rel_dist_interior=0.20,
        earlier_linearity_error=0.10,
        feature_mixup_kl=0.2,
        ece=0.01,
    ),
    "erm": dict(
        same_class_spread=0.3,
        same_class_alignment=0.95,
        boundary_gap=0.4,
        channel_deviation=0.2,
        theory_delta_straight=0.0,
        theory_fit_at_bound=True,
        theory_rel_dist_interior=0.3,
        earlier_linearity_error=0.20,
        feature_mixup_kl=0.8,
        ece=0.05,
    ),
    "mse": dict(
        same_class_spread=0.03,
        same_class_alignment=0.97,
        boundary_gap=0.03,
        channel_deviation=0.02,
        theory_delta_straight=0.002,
        theory_fit_at_bound=False,
        theory_rel_dist_interior=0.3,
        earlier_linearity_error=0.1,
        ece=0.02,
    ),
    "fixed_etf": dict(
        theory_delta_straight=0.06,
        theory_fit_at_bound=False,
        theory_rel_dist_interior=0.10,
        ece=0.01,
    ),
    "manifold": dict(earlier_linearity_error=0.105, feature_mixup_kl=0.15),
    "random_init": dict(
        same_class_spread=0.5,
        same_class_alignment=0.3,
        boundary_gap=0.4,
        channel_deviation=0.1,
        earlier_linearity_error=0.3,
        feature_mixup_kl=1.5,
        ece=0.3,
    ),
}
# seeds 0-2: the design seeds (version 1 of every claim); 3-5 the unseen ones (version 2)
SEEDS, TRIPLES, ARCHS = (
    (0, 1, 2, 3, 4, 5),
    [(0, 1, 2), (1, 3, 5), (2, 4, 6), (0, 7, 9), (3, 8, 9)],
    ("mlp", "cnn"),
)


def _record(role, arch, seed, values, noise=0.002):
    rng = np.random.default_rng([seed, len(role), len(arch)])
    triples = []
    for t in TRIPLES:
        m = {"classes": list(t)}
        for k, v in values.items():
            m[k] = v if isinstance(v, bool) else v + noise * rng.standard_normal()
        triples.append(m)
    # test ECE varies by seed without a trend (two no-mixup seeds differ only by chance)
    metrics = {
        **triples[0],
        "triples": triples,
        "ece": values.get("ece", 0.0) + (0.0, 0.002, -0.001)[seed % 3],
    }
    tags = {
        "arch": arch,
        "dataset": "fashion_mnist",
        "optimizer": "sgd",
        "seed": seed,
        **TAGS[role],
    }
    aid = f"{arch}-{role}-s{seed}"
    return {
        "experiment": "x",
        "analysis_id": aid,
        "run_id": aid,
        "label": aid,
        "tags": tags,
        "metrics": metrics,
    }


def _records(**override):
    values = {role: {**v, **override.get(role, {})} for role, v in GOOD.items()}
    return [
        _record(role, arch, seed, v)
        for role, v in values.items()
        for arch in ARCHS
        for seed in SEEDS
    ]


@pytest.fixture(scope="module")
def good():
    return claims.compute_claims(_records())


def test_rules_are_pinned():
    got = {
        c.key: (
            [(r.statistic, r.direction, r.threshold) for r in c.rules],
            [name for name, _ in c.controls],
        )
        for c in claims.CLAIMS
    }
    assert got == PINNED
    old = {
        (c.key, c.version): (
            [(r.statistic, r.direction, r.threshold) for r in c.rules],
            [name for name, _ in c.controls],
        )
        for c in claims.SUPERSEDED
    }
    assert old == PINNED_SUPERSEDED
    assert {c.key: c.version for c in claims.CLAIMS if c.version != 1} == VERSIONS
    for c in claims.CLAIMS:  # a revised claim is judged on seeds its first version never saw
        assert c.seeds == (claims.UNSEEN_SEEDS if c.version > 1 else claims.DESIGN_SEEDS)
    assert not set(claims.UNSEEN_SEEDS) & set(claims.DESIGN_SEEDS)
    assert all(c.why for c in claims.SUPERSEDED)


def test_contract_shape_and_json(good):
    assert tuple(good) == KEYS
    for key, c in good.items():
        for field in ("value", "ci", "n", "threshold", "holds", "evidence", "control"):
            assert field in c, (key, field)
        assert isinstance(c["value"], float) and len(c["ci"]) == 2 and c["ci"][0] <= c["ci"][1]
        assert set(c["control"]) == {"name", "value", "ci", "holds"}
        assert isinstance(c["holds"], bool) and c["evidence"]
    json.loads(json.dumps(good, allow_nan=False))


def test_every_claim_holds_on_evidence_and_fails_on_its_control(good):
    for key, c in good.items():
        assert c["holds"], (key, c["verdict"])
        assert all(ctl["holds"] is False for ctl in c["controls"]), key


def test_replication_counts(good):
    per_arch = 3 * len(TRIPLES)  # 3 seeds of each set (design, unseen)
    for key in (
        "C1_same_class_alignment",
        "C2_boundary_at_half",
        "C5_fixed_etf_matches_theory",
        "C5b_fixed_etf_closer_than_learned",
        "C6_earlier_layers_manifold_mixup",
    ):
        assert good[key]["n"] == 2 * per_arch, key
        assert all(cell["n"] == per_arch for cell in good[key]["cells"].values())
    assert good["C4_mixup_lowers_ece"]["n"] == 2 * 3  # test metrics: one per seed
    # the control of C4 pairs different no-mixup seeds: 3 pairs per cell
    assert good["C4_mixup_lowers_ece"]["controls"][0]["n"] == 2 * 3
    # C6's second control: each seed's references against the next seed's no-mixup network
    assert [c["n"] for c in good["C6_earlier_layers_manifold_mixup"]["controls"]] == [30, 30]


@pytest.mark.parametrize(
    "key, role, values",
    [
        # the control looks like the evidence: the rule no longer discriminates
        ("C1_same_class_alignment", "erm", dict(same_class_spread=0.03)),
        ("C2_boundary_at_half", "erm", dict(boundary_gap=0.03)),
        ("C3_mse_straight_vs_ce_channels", "mse", dict(channel_deviation=0.3)),
        ("C5_fixed_etf_matches_theory", "mse", dict(theory_delta_straight=0.05)),
        ("C6_earlier_layers_manifold_mixup", "random_init", dict(feature_mixup_kl=0.1)),
    ],
)
def test_a_claim_whose_control_passes_does_not_hold(key, role, values):
    out = claims.compute_claims(_records(**{role: values}))
    assert not out[key]["holds"]
    assert any(ctl["holds"] for ctl in out[key]["controls"])
    assert "passes too" in out[key]["verdict"]


@pytest.mark.parametrize(
    "key, role, values",
    [
        ("C1_same_class_alignment", "mixup", dict(same_class_spread=0.2)),
        ("C1_same_class_alignment", "mixup", dict(same_class_alignment=0.8)),  # the second rule
        ("C2_boundary_at_half", "mixup", dict(boundary_gap=0.2)),
        ("C3_mse_straight_vs_ce_channels", "mixup", dict(channel_deviation=0.05)),
        ("C4_mixup_lowers_ece", "mixup", dict(ece=0.06)),
        ("C5_fixed_etf_matches_theory", "fixed_etf", dict(theory_fit_at_bound=True)),
        ("C5b_fixed_etf_closer_than_learned", "fixed_etf", dict(theory_rel_dist_interior=0.25)),
        ("C6_earlier_layers_manifold_mixup", "mixup", dict(feature_mixup_kl=0.9)),  # > ERM
        ("C6_earlier_layers_manifold_mixup", "mixup", dict(feature_mixup_kl=0.6)),  # nearer ERM
        ("C4_mixup_lowers_ece", "mixup", dict(ece=0.045)),  # lower, by less than 0.01
    ],
)
def test_a_claim_fails_when_its_evidence_fails(key, role, values):
    out = claims.compute_claims(_records(**{role: values}))
    assert not out[key]["holds"] and "fail in" in out[key]["verdict"]
    others = {k: c["holds"] for k, c in out.items() if k != key}
    assert all(others.values()) or role in ("mixup", "fixed_etf", "manifold")


def test_one_failing_architecture_fails_the_claim():
    recs = _records()
    for r in recs:
        if (
            r["tags"]["arch"] == "cnn"
            and r["tags"]["classifier"] == "learned"
            and r["tags"]["mixup"]
            and r["tags"]["epoch"] == "final"
            and r["tags"]["loss"] == "ce"
            and not r["tags"]["mix_layer"]
        ):
            for t in r["metrics"]["triples"]:
                t["boundary_gap"] = 0.3
    out = claims.compute_claims(recs)["C2_boundary_at_half"]
    assert not out["holds"]
    assert out["cells"]["mlp/fashion_mnist/sgd"]["holds"]
    assert not out["cells"]["cnn/fashion_mnist/sgd"]["holds"]


def test_a_claim_without_its_runs_is_not_computed():
    out = claims.compute_claims([r for r in _records() if r["tags"]["classifier"] != "fixed_etf"])
    c5 = out["C5_fixed_etf_matches_theory"]
    assert c5["value"] is None and c5["n"] == 0 and not c5["holds"]
    assert "not computed" in c5["evidence"]
    no_control = claims.compute_claims([r for r in _records() if r["tags"]["loss"] != "mse"])
    assert not no_control["C3_mse_straight_vs_ce_channels"]["holds"]


def test_snapshots_and_other_optimizers_are_not_evidence():
    recs = _records()
    extra = _record("mixup", "mlp", 0, {**GOOD["mixup"], "boundary_gap": 0.9})
    extra["analysis_id"] = "snapshot"
    extra["tags"]["epoch"] = 5
    adam = _record("mixup", "mlp", 0, {**GOOD["mixup"], "boundary_gap": 0.9})
    adam["analysis_id"] = "adam"
    adam["tags"]["optimizer"] = "adam"
    assert claims.compute_claims(recs + [extra, adam])["C2_boundary_at_half"]["holds"]


def test_bootstrap_interval_on_a_known_distribution():
    """The 95% interval of the mean of n normal draws covers the true mean about 95% of the time
    and is about 2 x 1.96 sigma / sqrt(n) wide."""
    rng = np.random.default_rng(0)
    n, sigma, covered, widths = 60, 2.0, 0, []
    for i in range(200):
        x = 1.0 + sigma * rng.standard_normal(n)
        lo, hi = claims.bootstrap_ci(x, n_boot=1000, seed=i)
        covered += lo <= 1.0 <= hi
        widths.append(hi - lo)
    assert 0.89 <= covered / 200 <= 0.99
    assert np.median(widths) == pytest.approx(2 * 1.96 * sigma / math.sqrt(n), rel=0.1)


def test_hierarchical_bootstrap_counts_seeds_not_units():
    """Units that share a seed are not independent: with a large seed effect the grouped interval
    is wider than the naive one by about sqrt(15 units / 3 seeds) = 2.2, and with one value per
    group they agree."""
    rng = np.random.default_rng(1)
    seed_effect = np.repeat(rng.normal(0, 1.0, 3), 5)
    x = seed_effect + 0.05 * rng.standard_normal(15)
    groups = np.repeat([0, 1, 2], 5)
    naive = claims.bootstrap_ci(x)
    grouped = claims.bootstrap_ci(x, groups)
    assert grouped[1] - grouped[0] > 1.7 * (naive[1] - naive[0])
    y = rng.standard_normal(20)
    a, b = claims.bootstrap_ci(y, seed=3), claims.bootstrap_ci(y, list(range(20)), seed=3)
    assert a == pytest.approx(b, abs=0.15)
    assert claims.bootstrap_ci([np.nan, 1.0]) != claims.bootstrap_ci([1.0, 1.0])


def test_rule_uses_the_interval_bound():
    rule = claims.Rule("x", "<=", 0.1)
    assert rule.holds((0.0, 0.09)) and not rule.holds((0.0, 0.11))
    rule = claims.Rule("x", ">", 0.0)
    assert rule.holds((0.01, 0.2)) and not rule.holds((-0.01, 0.2)) and not rule.holds((0, 1))
    assert not rule.holds(None) and not rule.holds((float("nan"), 1.0))


def test_claims_table_has_one_row_per_claim_with_its_control(good):
    header, rows = claims.table(good)
    assert [r[0] for r in rows] == list(KEYS)
    row = dict(zip(header, rows[0], strict=True))
    c1 = good["C1_same_class_alignment"]
    assert (row["value"], row["ci_low"], row["n"]) == (c1["value"], c1["ci"][0], c1["n"])
    assert row["control"] == "no-mixup (ERM) network" and row["control_holds"] is False


def test_analyses_that_are_not_evidence_are_left_out(good):
    """An analysis of the same run with other settings (the density experiment's coarse lambda
    grid) must not be merged into the claim's units."""
    recs = _records()
    coarse = _record("mixup", "mlp", 0, {**GOOD["mixup"], "same_class_spread": 0.9})
    coarse["analysis_id"] = "density"
    coarse["evidence"] = False
    out = claims.compute_claims(recs + [coarse])
    assert out["C1_same_class_alignment"]["value"] == good["C1_same_class_alignment"]["value"]
    coarse["evidence"] = True
    assert not claims.compute_claims(recs + [coarse])["C1_same_class_alignment"]["holds"]


def test_versions_judge_their_own_seeds(good):
    """Version 2 is judged on the unseen seeds only and version 1 on the design seeds only:
    failing values on the other set change nothing."""
    c4 = good["C4_mixup_lowers_ece"]
    assert c4["version"] == 2 and c4["seeds"] == [3, 4, 5]
    assert {p["seed"] for p in c4["points"]} == {3, 4, 5}
    (v1,) = c4["superseded"]
    assert v1["version"] == 1 and v1["seeds"] == [0, 1, 2] and v1["why"]
    assert v1["holds"] and v1["n"] == 6 and set(v1["control"]) == {"name", "value", "ci", "holds"}
    assert good["C1_same_class_alignment"]["superseded"] == []
    # spoil the design seeds' ECE: version 2 is unchanged, version 1 fails
    recs = _records()
    for r in recs:
        if r["tags"]["seed"] < 3 and r["tags"]["mixup"] and r["tags"]["epoch"] == "final":
            r["metrics"]["ece"] = 0.2
    out = claims.compute_claims(recs)["C4_mixup_lowers_ece"]
    assert out["holds"] and out["value"] == c4["value"]
    assert not out["superseded"][0]["holds"]
    # spoil the unseen seeds' C6 statistic: version 1 (design seeds) is unchanged
    recs = _records()
    for r in recs:
        if r["tags"]["seed"] >= 3 and r["tags"]["epoch"] == 0:
            for t in r["metrics"]["triples"]:
                t["feature_mixup_kl"] = 0.0
    out = claims.compute_claims(recs)["C6_earlier_layers_manifold_mixup"]
    assert not out["holds"] and out["controls"][0]["holds"]
    c6 = good["C6_earlier_layers_manifold_mixup"]
    assert out["superseded"][0]["value"] == c6["superseded"][0]["value"]
