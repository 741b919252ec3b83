"""experiments/dry_run.py: shrinking paper-profile configs, and a dry run at reduced widths."""

from __future__ import annotations

import json

import ml_collections
import pytest

from experiments.dry_run import DRY_RUN_ANALYSIS, check, shrink_analysis, shrink_run_config
from nc_mixup.config import load_config, merge_onto_defaults


@pytest.mark.parametrize(
    "arch,dataset,opt",
    [("wrn", "fashion_mnist", "default"), ("vit", "cifar10", "adamw"), ("wrn", "cifar100", "sgd")],
)
def test_shrink_keeps_the_networks_and_recipe(arch, dataset, opt):
    paper = load_config(f"experiments/configs/paper.py:arch={arch},dataset={dataset},opt={opt}")
    small = shrink_run_config(paper)
    merge_onto_defaults(small)  # still a valid run config
    k = 100 if dataset == "cifar100" else 10
    assert small.dataset.n_per_class == 2 and small.dataset.test_n_per_class == 1
    assert small.batch_size == k and small.num_epochs == 1
    assert (k * small.dataset.n_per_class) // small.batch_size == 2  # two steps
    assert small.snapshot_epochs == (1,)
    for section in ("model", "optimizer", "schedule", "mixup", "augment"):
        assert small[section].to_dict() == paper[section].to_dict(), section
    assert small.dtype == paper.dtype and small.loss == paper.loss
    assert paper.num_epochs == 500 and paper.dataset.n_per_class == 0  # the input is untouched
    with pytest.raises(ValueError, match="cannot make"):
        shrink_run_config(paper, images_per_class=1, steps=200)


def test_shrink_analysis_only_touches_known_keys():
    analysis = ml_collections.ConfigDict(
        dict(lambdas="0:1:21", pairs_per_class=100, density_pairs_per_class=500, mode="train")
    )
    small = shrink_analysis(analysis)
    assert small.lambdas == DRY_RUN_ANALYSIS["lambdas"] and small.pairs_per_class == 2
    assert small.density_pairs_per_class == 2 and small.mode == "train"
    assert "layers_pairs_per_class" not in small and analysis.pairs_per_class == 100


@pytest.mark.slow
def test_dry_run_at_reduced_widths_trains_two_steps_and_analyses(tmp_path):
    small = {
        "wrn": dict(depth=10, widen=1),
        "vit": dict(width=32, depth=2, num_heads=2, mlp_dim=64),
    }
    results = check(tmp_path, ("wrn", "vit"), model_overrides=small)
    assert set(results) == {"wrn", "vit"}
    for arch, r in results.items():
        assert r["steps"] == 2 and r["compile_s"] > 0 and r["analysis_s"] > 0, arch
        assert (tmp_path / arch / "analysis" / "metrics.json").exists()
        assert (tmp_path / arch / "analysis" / "projection.png").exists()
    assert json.loads((tmp_path / "dry_run.json").read_text()) == results
