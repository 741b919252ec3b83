"""report.html is valid, self-contained HTML; tables are written as CSV and Markdown."""

import json
import re

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from experiments import claims, report, tables  # noqa: E402


def check_self_contained_html(text: str) -> list[str]:
    """Asserts `text` is valid and self-contained; returns the <img> sources."""
    assert report.check_self_contained(text) == []
    return re.findall(r'<img [^>]*src="([^"]*)"', text)


def _fake_output(out):
    fig, ax = plt.subplots(figsize=(2, 2))
    ax.plot([0, 1], [1, 0])
    (out / "figures").mkdir(parents=True)
    fig.savefig(out / "figures" / "geometry-projection.png")
    plt.close(fig)
    header, rows = tables.build(
        [
            {
                "run_id": "run-a",
                "tags": {"arch": "mlp", "mixup": True},
                "metrics": {"accuracy": 0.8512345, "ece": None},
            }
        ],
        ("arch", "mixup"),
        ("accuracy", "ece"),
    )
    tables.write(out / "tables" / "geometry-metrics", header, rows, "A caption.")
    summary = {
        "name": "geometry",
        "title": "Geometry <of> activations",
        "description": "What & why.",
        "errors": [],
        "seconds": {"train": 50.0, "analyze": 5.0, "theory": 0.0, "build": 1.0, "total": 56.0},
        "figures": [
            {
                "name": "projection",
                "caption": "Panels.",
                "png": "figures/geometry-projection.png",
                "pdf": "figures/geometry-projection.pdf",
            }
        ],
        "tables": [
            {
                "name": "metrics",
                "caption": "Metrics.",
                "csv": "tables/geometry-metrics.csv",
                "md": "tables/geometry-metrics.md",
            }
        ],
        "runs": [
            {
                "run_id": "run-a",
                "label": "mlp / mixup",
                "spec": "quick.py:loss=ce",
                "config": {"num_epochs": 60, "loss": "ce"},
                "seconds": 50.0,
                "status": "done",
            }
        ],
        "analyses": [
            {"analysis_id": "run-a-final", "label": "mlp", "seconds": 5.0, "status": "done"}
        ],
    }
    (out / "experiments").mkdir()
    (out / "experiments" / "geometry.json").write_text(json.dumps(summary))


def test_tables_csv_and_markdown(tmp_path):
    header, rows = tables.build(
        [{"run_id": "r", "tags": {"loss": "mse"}, "metrics": {"nc1": 0.123456, "x": True}}],
        ("loss",),
        ("nc1", "x", "missing"),
    )
    paths = tables.write(tmp_path / "t", header, rows, "Caption")
    assert [p.suffix for p in paths] == [".csv", ".md"]
    assert tables.read_csv(paths[0]) == (
        ["run", "loss", "nc1", "x", "missing"],
        [["r", "mse", "0.123456", "True", ""]],
    )
    md = paths[1].read_text()
    assert md.startswith("Caption\n\n| run | loss | nc1 | x | missing |")
    assert "| r | mse | 0.1235 | yes |  |" in md


def test_report_is_self_contained_and_says_when_a_claim_fails(tmp_path):
    _fake_output(tmp_path)

    def record(mixup, seed, epoch="final", **metrics):
        triples = [{"classes": [i, i + 1, i + 2], **metrics} for i in range(5)]
        return {
            "experiment": "geometry",
            "analysis_id": f"a{mixup}{seed}{epoch}",
            "run_id": "run-a",
            "label": "x",
            "metrics": {"triples": triples},
            "tags": {
                "arch": "mlp",
                "dataset": "fashion_mnist",
                "epoch": epoch,
                "optimizer": "sgd",
                "loss": "ce",
                "mixup": mixup,
                "mix_layer": 0,
                "classifier": "learned",
                "seed": seed,
            },
        }

    crafted = claims.compute_claims(
        [
            record(True, s, same_class_alignment=0.5, same_class_spread=0.01, boundary_gap=0.01)
            for s in range(3)
        ]
        + [
            record(m, s, e, same_class_alignment=0.5, same_class_spread=0.5, boundary_gap=0.5)
            for s in range(3)
            for m, e in ((False, "final"), (True, 0))
        ]
    )
    path = report.build_report(
        tmp_path,
        profile="quick",
        experiment_names=["geometry", "theory"],
        claims=crafted,
        timings={"train": 50.0, "total": 60.0},
        environment={"machine": "test"},
    )
    text = path.read_text()
    images = check_self_contained_html(text)
    assert len(images) == 1 and images[0].startswith("data:image/png;base64,")
    assert text.index("Claims") < text.index("Geometry &lt;of&gt; activations")
    assert "DOES NOT HOLD" in text and "HOLDS" in text and "NOT COMPUTED" in text
    assert "C1_same_class_alignment: does not hold" in text
    assert "Not reproduced here" in text
    assert "0.8512" in text  # the table
    assert "&quot;num_epochs&quot;: 60" in text  # the config it ran
    assert "56.0 s" in text  # how long it took
    assert "Not run yet" in text  # the theory experiment has no summary


def test_the_checker_catches_external_references():
    page = "<!DOCTYPE html><html><body>{}</body></html>"
    assert report.check_self_contained(page.format("<p>ok</p>")) == []
    assert report.check_self_contained(page.format('<img src="figures/a.png">'))
    assert report.check_self_contained(page.format('<a href="http://x.org">x</a>'))
    assert report.check_self_contained(page.format("<div><p>unclosed</div>"))
