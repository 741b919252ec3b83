"""The theory-beside-networks table: per network kind and architecture, means over seeds with
bootstrap intervals, only final CE-mixup analyses that are evidence."""

from experiments import theory_summary


def _rec(seed, arch="mlp", classifier="learned", epoch="final", evidence=True, rmse=0.1):
    tags = {
        "arch": arch,
        "dataset": "fashion_mnist",
        "optimizer": "sgd",
        "loss": "ce",
        "mixup": True,
        "mix_layer": 0,
        "classifier": classifier,
        "epoch": epoch,
        "seed": seed,
    }
    metrics = {
        "theory_confidence_rmse": rmse,
        "theory_delta_straight": 0.05,
        "theory_delta_straight_p2": 0.04,
        "theory_fit_power": 2.0,
        "theory_confidence_rmse_same": None,
    }
    return {
        "analysis_id": f"{arch}{classifier}{seed}{epoch}{evidence}",
        "tags": tags,
        "metrics": metrics,
        "evidence": evidence,
    }


def test_means_over_seeds_per_kind_and_arch():
    recs = [_rec(s, rmse=0.1 * (s + 1)) for s in range(3)]
    recs += [_rec(s, classifier="fixed_etf") for s in range(3)]
    recs += [_rec(0, epoch=3, rmse=9.0), _rec(1, evidence=False, rmse=9.0)]  # not counted
    header, rows = theory_summary.summarise(recs)
    assert header[:3] == ["network", "arch", "seeds"]
    by = {r[0]: dict(zip(header, r, strict=True)) for r in rows}
    learned = by["CE mixup, learned classifier"]
    assert learned["seeds"] == 3 and learned["theory_confidence_rmse"].startswith("0.2 [")
    assert learned["theory_confidence_rmse_same"] == ""  # not computed: left empty
    assert by["CE mixup, fixed simplex ETF"]["theory_delta_straight"].startswith("0.05 [")
