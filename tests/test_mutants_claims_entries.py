"""The claims.json entries, their texts and the samplers, field by field (issue 16).

Written to kill mutmut's survivors in experiments/claims.py: every expected value below is
written out by hand from the docstrings, not computed with the code under test.
"""

import math

import pytest

from experiments import claims

CELL = ("mlp", "fashion_mnist", "sgd")


def _rec(aid, seed, metrics, optimizer="sgd", arch="mlp", **tags):
    base = dict(loss="ce", mixup=True, mix_layer=0, classifier="learned", epoch="final")
    return {
        "analysis_id": aid,
        "tags": {
            "arch": arch,
            "dataset": "fashion_mnist",
            "optimizer": optimizer,
            "seed": seed,
            **base,
            **tags,
        },
        "metrics": metrics,
    }


def _tri(*rows):
    """metrics with 'triples': rows of (classes, {key: value})."""
    triples = [{"classes": list(c), **v} for c, v in rows]
    return {**triples[0], "triples": triples}


def test_value_seed_cell_and_replicates():
    assert math.isnan(claims._value({"x": None}, "x")) and math.isnan(claims._value({}, "x"))
    assert claims._value({"x": 2}, "x") == 2.0 and isinstance(claims._value({"x": 2}, "x"), float)
    r = _rec("a", 4, {"classes": [7, 1, 2], "ece": 0.1})
    assert claims._seed(r) == 4 and claims._cell(r) == CELL
    del r["tags"]["seed"]
    assert claims._seed(r) == 0
    assert claims.replicates(r) == {(7, 1, 2): {"classes": [7, 1, 2], "ece": 0.1}}
    r2 = {"metrics": {"ece": 0.2}, "classes": ["3", 4, 5]}  # the triple from the record
    assert claims.replicates(r2) == {(3, 4, 5): {"ece": 0.2, "classes": ["3", 4, 5]}}
    r3 = {"metrics": _tri(((0, 1, 2), {"a": 1}), ((3, 4, 5), {"a": 2}))}
    assert list(claims.replicates(r3)) == [(0, 1, 2), (3, 4, 5)]
    assert claims.replicates(r3)[(3, 4, 5)]["a"] == 2


def test_units_merge_analyses_of_one_run_and_filter_the_optimizer():
    recs = [
        _rec("a1", 0, _tri(((0, 1, 2), {"x": 1.0, "y": None}))),
        _rec("a2", 0, _tri(((0, 1, 2), {"y": 2.0, "x": None}))),  # same run, other analysis
        _rec("a3", 0, _tri(((0, 1, 2), {"x": 9.0})), optimizer="adam"),
    ]
    index = claims.Index(recs)
    assert claims._units(index, "mixup") == {
        (CELL, 0): {(0, 1, 2): {"classes": [0, 1, 2], "x": 1.0, "y": 2.0}}
    }
    both = claims._units(index, "mixup", optimizer=None)
    assert set(both) == {(CELL, 0), (("mlp", "fashion_mnist", "adam"), 0)}
    runs = claims._units(index, "mixup", per_triple=False)
    assert list(runs[(CELL, 0)]) == [()]
    assert claims.Index(recs, seeds=(1, 2)).records == []
    assert [r["analysis_id"] for r in claims.Index(recs + recs, seeds=(0,)).records] == [
        "a1",
        "a2",
        "a3",
    ]


def test_per_unit_orders_units_and_applies_the_transform():
    recs = [
        _rec("b", 1, _tri(((3, 4, 5), {"s": 3.0, "t": 30.0}), ((0, 1, 2), {"s": 1.0, "t": 10.0}))),
        _rec("a", 0, _tri(((0, 1, 2), {"s": 0.5, "t": 5.0}))),
    ]
    index = claims.Index(recs)
    assert claims.per_unit("mixup", "s", "t")(index) == [
        (CELL, 0, (0, (0, 1, 2)), (0.5, 5.0)),
        (CELL, 1, (1, (0, 1, 2)), (1.0, 10.0)),
        (CELL, 1, (1, (3, 4, 5)), (3.0, 30.0)),
    ]
    got = claims.per_unit("mixup", transform=lambda m: (m["t"] - m["s"],))(index)
    assert [o[3] for o in got] == [(4.5,), (9.0,), (27.0,)]
    assert claims.per_unit("erm", "s")(index) == []


def _pair_records():
    tri = lambda v: _tri(((0, 1, 2), {"v": v}), ((3, 4, 5), {"v": 10 * v}))  # noqa: E731
    return [
        _rec("m0", 0, {**tri(1.0), "ece": 0.01}),
        _rec("m1", 1, {**tri(2.0), "ece": 0.02}),
        _rec("e0", 0, {**tri(5.0), "ece": 0.05}, mixup=False),
        _rec("e1", 1, {**tri(7.0), "ece": 0.08}, mixup=False),
        _rec("e2", 2, {**tri(4.0), "ece": 0.04}, mixup=False),
        _rec("ea", 0, {**tri(1.0), "ece": 0.5}, mixup=False, optimizer="adam"),
    ]


def test_paired_same_and_different_seeds():
    index = claims.Index(_pair_records())
    same = claims.paired("mixup", "erm", claims._diff("v"))(index)
    assert same == [
        (CELL, 0, (0, 0, (0, 1, 2)), (-4.0,)),
        (CELL, 0, (0, 0, (3, 4, 5)), (-40.0,)),
        (CELL, 1, (1, 1, (0, 1, 2)), (-5.0,)),
        (CELL, 1, (1, 1, (3, 4, 5)), (-50.0,)),
    ]
    diff = claims.paired("erm", "erm", claims._diff("v"), seeds="different")(index)
    assert [(o[1], o[2][:2], o[3]) for o in diff if o[2][2] == (0, 1, 2)] == [
        ((0, 1), (0, 1), (-2.0,)),
        ((0, 2), (0, 2), (1.0,)),
        ((1, 2), (1, 2), (3.0,)),
    ]
    with pytest.raises(ValueError, match="seeds must be 'same' or 'different', got 'other'"):
        claims.paired("erm", "erm", claims._diff("v"), seeds="other")


def test_ece_pairs_are_per_run_over_every_optimizer():
    index = claims.Index(_pair_records())
    got = claims._ece_pairs("mixup", "erm", "same")(index)
    assert [(o[0], o[1], o[2]) for o in got] == [(CELL, 0, (0, 0)), (CELL, 1, (1, 1))]
    assert [o[3][0] for o in got] == pytest.approx([0.04, 0.06], abs=1e-15)
    ctl = claims._ece_pairs("erm", "erm", "different")(index)
    # the adam cell has one seed, so no pair of different seeds
    assert [(o[0], o[2]) for o in ctl] == [(CELL, (0, 1)), (CELL, (0, 2)), (CELL, (1, 2))]
    assert [o[3][0] for o in ctl] == pytest.approx([0.03, -0.01, -0.04], abs=1e-15)


def _c6_records(kl):
    """kl: {(role, seed): value} -> records with feature_mixup_kl on one triple."""
    tags = {
        "mixup": dict(),
        "erm": dict(mixup=False),
        "manifold": dict(mix_layer=2),
        "random_init": dict(epoch=0),
    }
    return [
        _rec(f"{role}{s}", s, _tri(((0, 1, 2), {"feature_mixup_kl": v})), **tags[role])
        for (role, s), v in kl.items()
    ]


def test_against_references_pairs_by_seed_and_cycles_for_the_control():
    kl = {("mixup", 3): 0.3, ("mixup", 4): 0.4, ("erm", 3): 2.0, ("erm", 4): 1.0}
    kl.update({("manifold", 3): 0.1, ("manifold", 4): 0.2, ("random_init", 3): 1.5})
    index = claims.Index(_c6_records(kl))
    ev = claims._against_references("mixup")(index)
    unit = (0, 1, 2)
    assert ev == [
        (CELL, 3, (3, 3, unit), pytest.approx((0.3 - 2.0, 0.3 - (2.0 + 0.1) / 2))),
        (CELL, 4, (4, 4, unit), pytest.approx((0.4 - 1.0, 0.4 - (1.0 + 0.2) / 2))),
    ]
    # the random init of seed 4 is missing: only seed 3's unit
    assert [o[2] for o in claims._against_references("random_init")(index)] == [(3, 3, unit)]
    # another seed's ERM network in place of the input-mixup one, cyclically: 4 for 3, 3 for 4
    other = claims._against_references("erm", other_seed=True)(index)
    assert other == [
        (CELL, 3, (3, 4, unit), pytest.approx((1.0 - 2.0, 1.0 - (2.0 + 0.1) / 2))),
        (CELL, 4, (4, 3, unit), pytest.approx((2.0 - 1.0, 2.0 - (1.0 + 0.2) / 2))),
    ]
    one_seed = claims.Index(_c6_records({("erm", 3): 1.0, ("manifold", 3): 0.1}))
    assert claims._against_references("erm", other_seed=True)(one_seed) == []


def test_c6_version_1_pairs_linearity_with_both_references():
    recs = [
        _rec("m", 0, _tri(((0, 1, 2), {"earlier_linearity_error": 0.3}))),
        _rec("e", 0, _tri(((0, 1, 2), {"earlier_linearity_error": 0.2})), mixup=False),
        _rec("f", 0, _tri(((0, 1, 2), {"earlier_linearity_error": 0.5})), mix_layer=2),
        _rec("m1", 1, _tri(((0, 1, 2), {"earlier_linearity_error": 0.3}))),
        _rec("e1", 1, _tri(((0, 1, 2), {"earlier_linearity_error": 0.2})), mixup=False),
    ]
    got = claims._c6_pair("mixup")(claims.Index(recs))  # seed 1 has no manifold network
    assert got == [(CELL, 0, (0, 0, (0, 1, 2)), pytest.approx((0.1, -0.2)))]


def test_fmt_ci_points_and_evidence_text():
    assert claims._fmt_ci(None) == "n/a"
    assert claims._fmt_ci([0.123456, 2.0]) == "[0.1235, 2]"
    obs = [(CELL, 3, (3, (0, 1, 2)), (0.5, 9.0)), (CELL, (0, 1), (0, 1), (-0.25,))]
    assert claims._points(obs) == [
        {"cell": "mlp/fashion_mnist/sgd", "seed": 3, "unit": [3, (0, 1, 2)], "value": 0.5},
        {"cell": "mlp/fashion_mnist/sgd", "seed": (0, 1), "unit": [0, 1], "value": -0.25},
    ]
    assert claims._evidence_text({"n": 0}) == (
        "not computed: the runs this claim needs were not analysed"
    )
    ev = {
        "n": 4,
        "cells": {
            "cnn/x/sgd": {
                "n": 3,
                "holds": True,
                "rules": [{"statistic": "a", "value": 0.123456, "ci": [0.1, 0.2]}],
            },
            "mlp/x/sgd": {
                "n": 1,
                "holds": False,
                "rules": [
                    {"statistic": "a", "value": None, "ci": None},
                    {"statistic": "b", "value": 2.0, "ci": None},
                ],
            },
        },
    }
    assert claims._evidence_text(ev) == (
        "cnn/x/sgd (n = 3): a 0.1235 [0.1, 0.2] -> passes; "
        "mlp/x/sgd (n = 1): a n/a, b 2 n/a -> fails"
    )


def test_verdict_sentences():
    ok = {"n": 2, "cells": {"m": {"holds": True}}}
    assert claims._verdict({"n": 0}, [], False) == ("not computed: its runs were not analysed")
    assert claims._verdict(ok, [], True) == (
        "holds: the rules pass in every cell and no control passes"
    )
    bad = {"n": 2, "cells": {"m": {"holds": False}, "c": {"holds": True}, "v": {"holds": False}}}
    controls = [
        {"name": "A", "n": 0, "holds": None},
        {"name": "B", "n": 3, "holds": True},
        {"name": "C", "n": 3, "holds": False},
    ]
    assert claims._verdict(bad, controls, False) == (
        "does not hold: the rules fail in m, v; its control 'A' was not analysed; "
        "its control 'B' passes too, so the rule does not discriminate"
    )


def test_judge_entry_field_by_field():
    claim = claims.Claim(
        "K",
        "a statement",
        (claims.Rule("s", ">=", 0.5), claims.Rule("t", "<", 2.0)),
        claims.per_unit("mixup", "s", "t"),
        (("the control", claims.per_unit("erm", "s", "t")),),
        "the reason",
        version=3,
        seeds=(0, 1),
    )
    recs = [
        _rec("m0", 0, _tri(((0, 1, 2), {"s": 1.0, "t": 1.0}))),
        _rec("m1", 1, _tri(((0, 1, 2), {"s": 1.0, "t": 1.0}))),
        _rec("m2", 2, _tri(((0, 1, 2), {"s": -9.0, "t": 9.0}))),  # not one of its seeds
        _rec("e0", 0, _tri(((0, 1, 2), {"s": 0.0, "t": 1.0})), mixup=False),
        _rec("e1", 1, _tri(((0, 1, 2), {"s": 0.0, "t": 1.0})), mixup=False),
    ]
    e = claims.judge(claim, recs)
    assert e["statement"] == "a statement" and e["statistic"] == "s"
    assert e["rule"] == (
        "s >= 0.5 (lower bound of the 95% interval); t < 2 (upper bound of the 95% interval); "
        "in every cell; and no control passes"
    )
    assert e["rules"] == [
        {"statistic": "s", "direction": ">=", "threshold": 0.5},
        {"statistic": "t", "direction": "<", "threshold": 2.0},
    ]
    assert (e["value"], e["ci"], e["n"], e["threshold"]) == (1.0, [1.0, 1.0], 2, 0.5)
    assert e["holds"] is True and e["version"] == 3 and e["seeds"] == [0, 1]
    assert e["rationale"] == "the reason"
    assert e["control"] == {"name": "the control", "value": 0.0, "ci": [0.0, 0.0], "holds": False}
    (ctl,) = e["controls"]
    assert ctl["n"] == 2 and ctl["holds"] is False and len(ctl["points"]) == 2
    assert ctl["cells"]["mlp/fashion_mnist/sgd"]["n"] == 2
    assert [p["value"] for p in e["points"]] == [1.0, 1.0]
    assert e["evidence"].startswith("mlp/fashion_mnist/sgd (n = 2): s 1 [1, 1], t 1 [1, 1]")
    assert e["verdict"] == "holds: the rules pass in every cell and no control passes"
    # a control with no runs: not evaluated, and the claim cannot hold
    e = claims.judge(claim, recs[:3])
    assert e["controls"][0]["holds"] is None and e["controls"][0]["n"] == 0
    assert e["holds"] is False and "'the control' was not analysed" in e["verdict"]
    # no control at all: the claim cannot hold either
    bare = claims.Claim("K", "s", claim.rules, claim.evidence, (), "r", seeds=(0, 1))
    e = claims.judge(bare, recs)
    assert e["holds"] is False
    assert e["control"] == {"name": None, "value": None, "ci": None, "holds": None}


def test_table_rows_are_the_entries():
    entry = {
        "statistic": "s",
        "rule": "s >= 1",
        "value": 0.5,
        "ci": [0.25, 0.75],
        "n": 12,
        "control": {"name": "c", "value": 0.1, "ci": [0.0, 0.2], "holds": False},
        "holds": True,
        "version": 2,
        "seeds": [3, 4, 5],
    }
    missing = {"statistic": None, "value": None, "ci": None, "n": 0, "holds": False}
    header, rows = claims.table({"A": entry, "B": missing})
    assert header == [
        "claim",
        "statistic",
        "rule",
        "value",
        "ci_low",
        "ci_high",
        "n",
        "control",
        "control_value",
        "control_ci_low",
        "control_ci_high",
        "control_holds",
        "holds",
        "version",
        "seeds",
    ]
    assert rows == [
        ["A", "s", "s >= 1", 0.5, 0.25, 0.75, 12, "c", 0.1, 0.0, 0.2, False, True, 2, "3 4 5"],
        ["B", None, None, None, None, None, 0, None, None, None, None, None, False, 1, ""],
    ]


def test_compute_claims_attaches_the_superseded_versions():
    out = claims.compute_claims([])
    assert list(out) == [c.key for c in claims.CLAIMS]
    for c in claims.CLAIMS:
        old = [o for o in claims.SUPERSEDED if o.key == c.key]
        got = out[c.key]["superseded"]
        assert [g["version"] for g in got] == [o.version for o in old]
        for g, o in zip(got, old, strict=True):
            assert g["why"] == o.why and g["seeds"] == list(o.seeds)
            assert g["statement"] == o.statement and g["n"] == 0 and g["holds"] is False
            assert set(g) == {
                "version",
                "seeds",
                "rule",
                "value",
                "ci",
                "n",
                "holds",
                "control",
                "verdict",
                "statement",
                "why",
            }


def test_mean_is_none_without_finite_values():
    assert claims._mean([]) is None and claims._mean([1.0, float("nan")]) is None
    assert claims._mean([1.0, float("inf")]) is None and claims._mean([1, 2]) == 1.5


def test_one_unit_of_evidence_and_of_control_is_enough():
    claim = claims.Claim(
        "K",
        "s",
        (claims.Rule("s", ">=", 0.5),),
        claims.per_unit("mixup", "s"),
        (("c", claims.per_unit("erm", "s")),),
        "r",
    )
    recs = [
        _rec("m", 0, _tri(((0, 1, 2), {"s": 1.0}))),
        _rec("e", 0, _tri(((0, 1, 2), {"s": 0.0})), mixup=False),
    ]
    e = claims.judge(claim, recs)
    assert e["n"] == 1 and e["controls"][0]["n"] == 1 and e["holds"] is True


def test_units_are_ordered_by_the_text_of_cell_and_seed():
    """The order of the units fixes the bootstrap's draws: (cell, seed) sorted as text, so that
    cells without an optimizer sort beside the others (seed 10 before seed 2)."""
    recs = [
        _rec(f"m{s}", s, {**_tri(((0, 1, 2), {"v": s, "feature_mixup_kl": s})), "ece": s / 100})
        for s in (2, 10)
    ]
    recs += [
        _rec(
            f"e{s}",
            s,
            {**_tri(((0, 1, 2), {"v": 0, "feature_mixup_kl": 0})), "ece": 0.0},
            mixup=False,
        )
        for s in (2, 10)
    ]
    recs += [
        _rec(f"f{s}", s, _tri(((0, 1, 2), {"feature_mixup_kl": 0})), mix_layer=2) for s in (2, 10)
    ]
    index = claims.Index(recs)
    assert [o[1] for o in claims.per_unit("mixup", "v")(index)] == [10, 2]
    assert [o[1] for o in claims.paired("mixup", "erm", claims._diff("v"))(index)] == [10, 2]
    assert [
        o[1] for o in claims.paired("erm", "erm", claims._diff("v"), seeds="different")(index)
    ] == [(2, 10)]
    assert [o[1] for o in claims._against_references("mixup")(index)] == [10, 2]
    # partners of one seed in text order too: seed 1 pairs with 10, then 2
    one = _rec("e1", 1, {**_tri(((0, 1, 2), {"v": 0})), "ece": 0.0}, mixup=False)
    got = claims.paired("erm", "erm", claims._diff("v"), seeds="different")(
        claims.Index(recs + [one])
    )
    assert [o[1] for o in got] == [(1, 10), (1, 2), (2, 10)]
    # a run without an optimizer tag (None) beside "sgd" ones: still sortable
    none = _rec("n", 3, {**_tri(((0, 1, 2), {"v": 1})), "ece": 0.5}, optimizer=None)
    none_erm = _rec(
        "ne", 3, {**_tri(((0, 1, 2), {"v": 1})), "ece": 0.7}, optimizer=None, mixup=False
    )
    got = claims._ece_pairs("mixup", "erm", "same")(claims.Index(recs + [none, none_erm]))
    assert [o[0] for o in got] == [CELL, CELL, ("mlp", "fashion_mnist", None)]


def test_paired_keeps_to_its_optimizer_and_ece_pairs_take_every_optimizer():
    recs = _pair_records() + [
        _rec("ma", 0, {**_tri(((0, 1, 2), {"v": 1.0})), "ece": 0.2}, optimizer="adam")
    ]
    index = claims.Index(recs)
    adam = ("mlp", "fashion_mnist", "adam")
    assert adam not in {o[0] for o in claims.paired("mixup", "erm", claims._diff("v"))(index)}
    ece = claims._ece_pairs("mixup", "erm", "same")(index)
    assert [(o[0], o[2]) for o in ece] == [(adam, (0, 0)), (CELL, (0, 0)), (CELL, (1, 1))]
    assert ece[0][3][0] == pytest.approx(0.3, abs=1e-15)


def test_against_references_with_three_seeds_and_missing_runs():
    kl = {("erm", s): float(s) for s in (3, 4, 5)}
    kl.update({("manifold", s): 0.1 for s in (3, 4, 5)})
    recs = _c6_records(kl)
    # a second cell with a single seed (no other seed to stand in) and no manifold network of
    # seed 9 in a third: both are skipped, the first cell is kept
    recs += [
        _rec("c", 3, _tri(((0, 1, 2), {"feature_mixup_kl": 1.0})), arch="cnn", mixup=False),
        _rec("cm", 3, _tri(((0, 1, 2), {"feature_mixup_kl": 0.1})), arch="cnn", mix_layer=2),
        _rec("v9", 9, _tri(((0, 1, 2), {"feature_mixup_kl": 1.0})), arch="vit", mixup=False),
        _rec("v8", 8, _tri(((0, 1, 2), {"feature_mixup_kl": 1.0})), arch="vit", mixup=False),
        _rec("v8m", 8, _tri(((0, 1, 2), {"feature_mixup_kl": 0.1})), arch="vit", mix_layer=2),
    ]
    got = claims._against_references("erm", other_seed=True)(claims.Index(recs))
    assert [(o[0][0], o[2][:2]) for o in got] == [
        ("mlp", (3, 4)),
        ("mlp", (4, 5)),
        ("mlp", (5, 3)),
        ("vit", (8, 9)),
    ]
    assert [o[3][0] for o in got] == pytest.approx([1.0, 1.0, -2.0, 0.0])
