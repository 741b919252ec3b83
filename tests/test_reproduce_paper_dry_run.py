"""`nc-mixup reproduce --profile paper --dry-run` at reduced widths: every experiment of the paper
profile whose data is here (FashionMNIST) runs end to end through analysis, figures, tables,
claims and report; the CIFAR cells are skipped and listed with the command that prepares them.

The real-width dry run (WRN-40-10, ViT-B/4) is `make dry-run` (minutes; not part of the tests).
"""

import json

import pytest

from experiments import dry_run, reproduce
from experiments.report import check_self_contained

SMALL = {
    "wide_resnet": dict(depth=10, widen=1),
    "vit": dict(width=32, depth=2, num_heads=2, mlp_dim=64),
}


@pytest.mark.slow
def test_paper_dry_run_at_reduced_widths(tmp_path, monkeypatch, fashion_mnist_dir):
    shrink = dry_run.shrink_run_config

    def smaller(config, **kw):
        config = shrink(config, **kw)
        config.model.update(SMALL[config.model.name])
        return config

    monkeypatch.setattr(dry_run, "shrink_run_config", smaller)
    lines = []
    out = tmp_path / "dry"
    result = reproduce.reproduce(
        "paper", out, ["geometry", "calibration"], log=lines.append, dry_run=True
    )
    assert result["ok"], result["failed"]
    manifest = json.loads((out / "reproduce.json").read_text())
    assert manifest["dry_run"] is True
    # the CIFAR cells: skipped, named, with the command that would prepare the data
    assert result["skipped"] and all("cifar" in r for r in result["skipped"])
    assert all("nc-mixup data prepare" in why for why in manifest["skipped_because"])
    assert any("skipped" in line for line in lines)
    # the FashionMNIST cells: trained (a few steps of the real recipe), analysed, in the report
    trained = sorted(p.name for p in (out / "runs").iterdir())
    assert trained and all("fashion_mnist" in name for name in trained)
    assert {n.split("-")[0] for n in trained} == {"wide_resnet", "vit"}
    for run in (out / "runs").iterdir():
        config = json.loads((run / "config.json").read_text())
        assert config["num_epochs"] == 1 and config["dataset"]["n_per_class"] == 2
    assert (out / "figures" / "geometry-projection.png").exists()
    assert (out / "claims.json").exists() and (out / "tables" / "claims.csv").exists()
    assert check_self_contained((out / "report.html").read_text()) == []
    # a dry run and a real run never share a results folder
    with pytest.raises(reproduce.ProfileMismatch, match="dry run"):
        reproduce.reproduce("paper", out, ["geometry"], log=lines.append)
