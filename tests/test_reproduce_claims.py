"""claims.json: values computed from the metrics; verdicts checked both ways on crafted metrics."""

import json
import math

import pytest

from experiments import claims

KEYS = ("C1_same_class_alignment", "C2_boundary_at_half", "C3_mse_straight_vs_ce_channels",
        "C4_mixup_lowers_ece", "C5_fixed_etf_matches_theory", "C6_earlier_layers_manifold_mixup")


def _record(experiment, run_id, metrics, **tags):
    base = {"arch": "mlp", "dataset": "fashion_mnist", "loss": "ce", "optimizer": "sgd",
            "mixup": True, "mix_layer": 0, "classifier": "learned", "epoch": "final"}
    base.update(tags)
    return {"experiment": experiment, "analysis_id": f"{run_id}-a", "run_id": run_id,
            "label": run_id, "tags": base, "metrics": metrics}


def _records(*, alignment=0.97, gap=0.03, chord_ce=0.4, chord_mse=0.05, ece_mix=0.01,
             ece_erm=0.03, cos_etf=0.98, linearity=0.05, last_linearity=0.5):
    base = {"accuracy": 0.85, "same_class_alignment": alignment, "boundary_gap": gap,
            "chord_deviation": chord_ce, "ece": ece_mix, "theory_cos_etf": 0.9}
    return [
        _record("geometry", "base", base),
        _record("loss_comparison", "base", base),
        _record("loss_comparison", "mse", {"chord_deviation": chord_mse}, loss="mse"),
        _record("calibration", "base", base),
        _record("calibration", "erm", {"ece": ece_erm}, mixup=False),
        _record("fixed_etf", "base", base),
        _record("fixed_etf", "etf", {"theory_cos_etf": cos_etf, "accuracy": 0.85},
                classifier="fixed_etf"),
        _record("earlier_layers", "base",
                {**base, "layers": {"block1": {"linearity_error": 0.01},
                                    "block2": {"linearity_error": linearity},
                                    "penultimate": {"linearity_error": last_linearity}}}),
        _record("earlier_layers", "manifold",
                {"layers": {"block2": {"linearity_error": 0.0},
                            "penultimate": {"linearity_error": 0.01}}}, mix_layer=2),
        # A snapshot must not count as final evidence.
        _record("geometry", "base", {"same_class_alignment": 0.1, "boundary_gap": 0.9},
                epoch=2),
    ]


def test_contract_shape_and_json():
    out = claims.compute_claims(_records())
    assert tuple(out) == KEYS
    for c in out.values():
        assert set(c) == {"value", "threshold", "holds", "evidence"}
        assert isinstance(c["value"], float) and isinstance(c["threshold"], float | int)
        assert isinstance(c["holds"], bool) and c["evidence"]
    json.loads(json.dumps(out, allow_nan=False))


def test_every_claim_holds_on_good_metrics():
    out = claims.compute_claims(_records())
    assert {k: c["holds"] for k, c in out.items()} == dict.fromkeys(KEYS, True)
    assert out["C1_same_class_alignment"]["value"] == pytest.approx(0.97)
    assert out["C2_boundary_at_half"]["value"] == pytest.approx(0.03)
    assert out["C3_mse_straight_vs_ce_channels"]["value"] == pytest.approx(8.0)
    assert out["C4_mixup_lowers_ece"]["value"] == pytest.approx(0.02)
    assert out["C5_fixed_etf_matches_theory"]["value"] == pytest.approx(0.98)
    assert out["C6_earlier_layers_manifold_mixup"]["value"] == pytest.approx(0.1)
    assert "base" in out["C1_same_class_alignment"]["evidence"]
    assert "block2" in out["C6_earlier_layers_manifold_mixup"]["evidence"]


@pytest.mark.parametrize("key, bad", [
    ("C1_same_class_alignment", dict(alignment=0.5)),
    ("C2_boundary_at_half", dict(gap=0.4)),
    ("C3_mse_straight_vs_ce_channels", dict(chord_ce=0.06, chord_mse=0.05)),
    ("C4_mixup_lowers_ece", dict(ece_mix=0.05, ece_erm=0.03)),
    ("C5_fixed_etf_matches_theory", dict(cos_etf=0.6)),
    ("C6_earlier_layers_manifold_mixup", dict(linearity=0.45)),
    ("C6_earlier_layers_manifold_mixup", dict(last_linearity=0.06)),
])
def test_each_claim_fails_on_bad_metrics(key, bad):
    out = claims.compute_claims(_records(**bad))
    assert out[key]["holds"] is False
    assert all(c["holds"] for k, c in out.items() if k != key)


def test_missing_evidence_is_reported_not_asserted():
    out = claims.compute_claims([r for r in _records() if r["experiment"] == "geometry"])
    assert out["C1_same_class_alignment"]["holds"] is True
    for key in KEYS[2:]:
        assert out[key]["value"] is None and out[key]["holds"] is False
        assert "not computed" in out[key]["evidence"]


def test_worst_case_over_several_runs():
    recs = _records()
    recs.append(_record("geometry", "other", {"same_class_alignment": 0.85,
                                              "boundary_gap": 0.02}, arch="cnn"))
    out = claims.compute_claims(recs)
    assert out["C1_same_class_alignment"]["value"] == pytest.approx(0.85)
    assert out["C1_same_class_alignment"]["holds"] is False


def test_nan_metric_does_not_hold():
    recs = _records(alignment=math.nan)
    out = claims.compute_claims(recs)
    assert out["C1_same_class_alignment"]["holds"] is False
    assert out["C1_same_class_alignment"]["value"] is None
