"""Extension points seen end to end (issue 14): a metric of a class triple registered in one
place appears in metrics.json; every key the claims and the tables read is produced by some
metric; an experiment registered with one decorator appears in the smoke report."""

import inspect
import json
import pathlib

import numpy as np
import pytest

from experiments import claims, registry
from nc_mixup.analysis import triple_metrics
from nc_mixup.cli import main

REPO = pathlib.Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory, fashion_mnist_dir):
    workdir = tmp_path_factory.mktemp("ext") / "run"
    assert (
        main(
            [
                "train",
                "--config",
                str(REPO / "experiments/configs/smoke.py"),
                "--workdir",
                str(workdir),
            ]
        )
        == 0
    )
    return workdir


def _analyze(workdir, out, *extra):
    argv = [
        "analyze",
        "--workdir",
        str(workdir),
        "--out",
        str(out),
        "--lambdas",
        "0:1:5",
        "--pairs-per-class",
        "4",
        "--num-triples",
        "2",
        "--no-figures",
        "--no-progress",
    ]
    assert main([*argv, *extra]) == 0
    return json.loads((out / "metrics.json").read_text())


def test_a_registered_triple_metric_appears_in_metrics_json(smoke_run, tmp_path, monkeypatch):
    def toy(x):
        return {"toy_mean_logit": float(np.mean(x.logits)), "toy_rows": int(len(x.y1))}

    monkeypatch.setitem(triple_metrics.TRIPLE_METRICS, "toy", toy)
    m = _analyze(smoke_run, tmp_path / "a")
    assert isinstance(m["toy_mean_logit"], float) and m["toy_rows"] == 6 * 4 * 5
    assert [t["toy_rows"] for t in m["triples"]] == [120, 120]
    with pytest.raises(ValueError, match="registered twice"):
        triple_metrics.triple_metric("same_class")(toy)


def _claim_keys() -> set[str]:
    """The metrics.json keys the claims read (from the source of experiments/claims.py)."""
    src = inspect.getsource(claims)
    keys = {
        k
        for k in (
            "same_class_spread",
            "same_class_alignment",
            "boundary_gap",
            "channel_deviation",
            "theory_delta_straight",
            "theory_fit_at_bound",
            "theory_rel_dist_interior",
            "earlier_linearity_error",
        )
        if f'"{k}"' in src
    }
    assert len(keys) == 8  # the list above is the claims' list
    return keys


def test_every_key_of_the_claims_and_tables_is_produced(smoke_run, tmp_path):
    m = _analyze(smoke_run, tmp_path / "b", "--layers", "block1")
    for t in m["triples"]:
        missing = _claim_keys() - set(t)
        assert not missing, missing
    assert "ece" in m
    columns = {
        c
        for exp in registry.experiments("smoke").values()
        for tab in exp.tables
        for c in tab.metric_columns
    }
    missing = {c for c in columns if c not in m}
    assert not missing, missing


def test_a_registered_experiment_appears_in_the_smoke_report(
    tmp_path, monkeypatch, fashion_mnist_dir
):
    def toy(self):
        runs = (self.run("mlp/fashion_mnist"),)
        analyses = (self.analysis(runs[0], triples=1),)
        return registry.Experiment(
            name="toy",
            title="Toy experiment",
            description="registered by a test",
            runs=runs,
            analyses=analyses,
            figures=(registry.Figure("projection", "projection_grid", "toy figure", analyses),),
            tables=(
                registry.Table(
                    "metrics", "toy table", analyses, ("arch",), ("accuracy", "boundary_gap")
                ),
            ),
        )

    monkeypatch.setitem(registry._EXPERIMENTS, "toy", toy)
    monkeypatch.setattr(registry, "EXPERIMENT_NAMES", (*registry.EXPERIMENT_NAMES, "toy"))
    out = tmp_path / "r"
    assert main(["reproduce", "--profile", "smoke", "--only", "toy", "--out", str(out)]) == 0
    text = (out / "report.html").read_text()
    assert "Toy experiment" in text and "toy table" in text
    assert (out / "figures" / "toy-projection.png").exists()
    assert (out / "tables" / "toy-metrics.csv").read_text().startswith("run,arch,accuracy")
