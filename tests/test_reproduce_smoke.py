"""`nc-mixup reproduce --profile smoke --only geometry`: a real tiny run end to end, then cached.

Trains the smoke-sized MLP on real FashionMNIST (seconds), analyses it, and checks the output
layout: figure (PNG + PDF), table (CSV + Markdown), metrics JSON, claims.json and a valid
self-contained report.html. A second call reuses everything and only rebuilds the report.
"""

import json
import re

import pytest

from experiments import report
from nc_mixup import cli

CLAIM_KEYS = {
    "C1_same_class_alignment",
    "C2_boundary_at_half",
    "C3_mse_straight_vs_ce_channels",
    "C4_mixup_lowers_ece",
    "C5_fixed_etf_matches_theory",
    "C5b_fixed_etf_closer_than_learned",
    "C6_earlier_layers_manifold_mixup",
}


@pytest.fixture(scope="module")
def smoke_out(tmp_path_factory, fashion_mnist_dir):
    out = tmp_path_factory.mktemp("reproduce") / "smoke"
    status = cli.main(["reproduce", "--profile", "smoke", "--out", str(out), "--only", "geometry"])
    assert status == 0
    return out


def test_only_writes_figure_table_metrics_claims_and_report(smoke_out):
    out = smoke_out
    for suffix in (".png", ".pdf"):
        assert (out / "figures" / f"geometry-projection{suffix}").stat().st_size > 1000
    header = (out / "tables" / "geometry-metrics.csv").read_text().splitlines()[0].split(",")
    assert {"run", "accuracy", "same_class_alignment", "nc1"} <= set(header)
    assert (out / "tables" / "geometry-metrics.md").read_text().count("\n| mlp-") == 2  # seeds
    files = sorted((out / "metrics").glob("*.json"))
    assert len(files) == 2
    units = []
    for path in files:
        metrics = json.loads(path.read_text())
        for key in (
            "accuracy",
            "ece",
            "nc1",
            "same_class_alignment",
            "boundary_gap",
            "theory_cos_etf",
            "channel_deviation",
            "theory_delta_straight",
        ):
            assert key in metrics
        assert len(metrics["triples"]) == 2  # the smoke profile's class triples
        units += [t["same_class_spread"] for t in metrics["triples"]]
    claims = json.loads((out / "claims.json").read_text())
    assert set(claims) == CLAIM_KEYS
    c1 = claims["C1_same_class_alignment"]
    assert c1["n"] == 4 and c1["value"] == pytest.approx(sum(units) / 4)
    assert c1["ci"][0] <= c1["value"] <= c1["ci"][1]
    # its controls (ERM, random init) were not run with --only geometry: it cannot hold
    assert c1["holds"] is False and c1["control"]["holds"] is None
    assert "was not analysed" in c1["verdict"]
    assert claims["C4_mixup_lowers_ece"]["value"] is None  # calibration was not run
    text = (out / "report.html").read_text()
    assert report.check_self_contained(text) == []
    assert len(re.findall(r'<img [^>]*src="data:image/png;base64,', text)) == 2  # + claims
    assert "Not run yet" in text  # the experiments left out by --only
    summary = json.loads((out / "experiments" / "geometry.json").read_text())
    assert summary["runs"][0]["seconds"] > 0 and summary["runs"][0]["config"]["num_epochs"] == 4


def test_second_call_reuses_runs_and_analyses(smoke_out, capsys):
    out = smoke_out
    run_marker = next((out / "runs").glob("*/reproduce_done.json"))
    before = run_marker.read_text()
    assert (
        cli.main(["reproduce", "--profile", "smoke", "--out", str(out), "--only", "geometry"]) == 0
    )
    log = capsys.readouterr().out
    assert "training" not in log and "analysing" not in log
    assert run_marker.read_text() == before
    timings = json.loads((out / "timings.json").read_text())
    assert timings["train"] < 5 and timings["analyze"] < 5


def test_bad_arguments_exit_2(smoke_out, capsys):
    assert (
        cli.main(["reproduce", "--profile", "smoke", "--out", str(smoke_out), "--only", "nope"])
        == 2
    )
    assert (
        cli.main(["reproduce", "--profile", "quick", "--out", str(smoke_out), "--only", "geometry"])
        == 2
    )
    err = capsys.readouterr().err
    assert "unknown experiment" in err and "profile 'smoke'" in err


def test_interrupted_run_resumes_on_the_next_call(tmp_path, monkeypatch, capsys, fashion_mnist_dir):
    out = tmp_path / "interrupted"
    argv = ["reproduce", "--profile", "smoke", "--out", str(out), "--only", "geometry"]
    monkeypatch.setenv("NC_MIXUP_STOP_AFTER_STEP", "3")  # stop as on SIGTERM after step 3
    assert cli.main(argv) == 130
    [run_dir] = (out / "runs").iterdir()
    assert not (run_dir / "reproduce_done.json").exists()
    assert "run the same command again" in capsys.readouterr().err
    monkeypatch.delenv("NC_MIXUP_STOP_AFTER_STEP")
    assert cli.main(argv) == 0
    assert "resuming from step 3" in capsys.readouterr().err
    assert (run_dir / "reproduce_done.json").exists()
    assert (out / "figures" / "geometry-projection.png").exists()
