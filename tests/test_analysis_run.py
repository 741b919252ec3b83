"""`nc-mixup analyze` end to end on real FashionMNIST runs.

- a `smoke` run: every metrics.json key, every activations.npz array and every figure is written;
  bad input (no checkpoint, class out of range, bad lambda spec, unknown layer) exits 2 with one
  line;
- a small MLP trained with mixup and the classifier frozen to a simplex ETF: the analysis finds
  the paper's geometry (same-class mixtures aligned with their classifier row, different-class
  mixtures on the decision boundary at lambda = 1/2).
"""

import json
import pathlib

import numpy as np
import pytest

from nc_mixup.cli import main

REQUIRED_KEYS = (
    "accuracy", "nll", "ece", "mce", "brier", "nc1", "nc2_equinorm", "nc2_equiangular",
    "nc2_etf_distance", "nc3", "nc4", "same_class_alignment", "boundary_gap", "chord_deviation",
    "theory_cos_etf", "theory_cos_own_w", "theory_rel_dist_etf", "theory_rel_dist_own_w",
    "theory_fitted_weight_decay", "same_class_alignment_spread", "same_class_alignment_full",
    "classes", "lambdas", "mode", "step", "curves", "layers",
)  # fmt: skip
# issue 11's contract: the claims' statistics (floats) and the fit flag
CLAIM_KEYS = (
    "channel_deviation",
    "theory_gamma_etf",
    "theory_delta_straight",
    "same_class_spread",
    # issue 13: held-out p-family fit and the theory-predicted calibration
    "theory_delta_straight_p2",
    "theory_fit_power",
    "theory_confidence_rmse",
    "theory_confidence_rmse_same",
)
THEORY_CURVES = (
    "theory_confidence_different",
    "theory_prob_y1_different",
    "theory_confidence_same",
)
FIGURES = (
    "projection", "projection_theory", "layers", "reliability", "confidence_vs_lambda",
    "density_half",
)  # fmt: skip
REPO = pathlib.Path(__file__).resolve().parents[1]


def _train(workdir, config, *overrides):
    argv = ["train", "--config", str(REPO / config), "--workdir", str(workdir), *overrides]
    assert main(argv) == 0


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory, fashion_mnist_dir):
    workdir = tmp_path_factory.mktemp("smoke") / "run"
    _train(workdir, "experiments/configs/smoke.py")
    return workdir


def test_analyze_smoke_writes_every_key_and_figure(smoke_run, tmp_path):
    out = tmp_path / "analysis"
    argv = ["analyze", "--workdir", str(smoke_run), "--out", str(out), "--classes", "0,3,7"]
    argv += ["--lambdas", "0:1:5", "--pairs-per-class", "8", "--mode", "train", "--no-progress"]
    assert main(argv) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    missing = [k for k in REQUIRED_KEYS if k not in metrics]
    assert not missing, missing
    assert metrics["classes"] == [0, 3, 7] and metrics["mode"] == "train"
    assert metrics["lambdas"] == [0.0, 0.25, 0.5, 0.75, 1.0]
    for key in REQUIRED_KEYS[:19] + CLAIM_KEYS:
        assert isinstance(metrics[key], float) and np.isfinite(metrics[key]), key
    assert isinstance(metrics["theory_fit_at_bound"], bool)
    assert [t["classes"] for t in metrics["triples"]] == [[0, 3, 7]]
    assert metrics["triples"][0]["channel_deviation"] == metrics["channel_deviation"]
    assert 0 <= metrics["ece"] <= 1 and 0 <= metrics["accuracy"] <= 1
    for name, curve in metrics["curves"].items():
        assert len(curve) == 5, name
    for name in THEORY_CURVES:
        assert all(0 <= v <= 1 for v in metrics["curves"][name]), name
    assert 0 < metrics["theory_fit_power"] <= 2
    # the top level is held out (fitted p); the triples keep the in-sample p = 2 statistic of C5
    assert metrics["triples"][0]["theory_delta_straight"] != metrics["theory_delta_straight"]
    assert set(metrics["layers"]) == {"block1", "penultimate"}

    acts = np.load(out / "activations.npz")
    n = 6 * 8 * 5  # combinations x pairs x lambdas
    for key in ("H", "y1", "y2", "lam", "W", "b", "logits", "H_block1"):
        assert key in acts, key
    d = acts["H"].shape[1]
    assert acts["H"].shape == (n, d) and acts["logits"].shape == (n, 10)
    assert acts["W"].shape == (10, d) and acts["b"].shape == (10,)
    assert acts["H_block1"].shape[0] == n
    assert set(np.unique(acts["y1"])) == {0, 3, 7}
    # the logits are the classifier applied to the captured features
    np.testing.assert_allclose(acts["H"] @ acts["W"].T + acts["b"], acts["logits"], atol=1e-4)
    for stem in FIGURES:
        for ext in ("png", "pdf"):
            path = out / f"{stem}.{ext}"
            assert path.is_file() and path.stat().st_size > 1000, path


def test_analyze_class_triples_without_figures(smoke_run, tmp_path):
    """--num-triples 3: the first triple as given, two more drawn from the seed, each with its
    own scalar geometry; --no-figures writes metrics and activations only."""
    out = tmp_path / "triples"
    argv = ["analyze", "--workdir", str(smoke_run), "--out", str(out), "--classes", "0,3,7"]
    argv += [
        "--lambdas",
        "0:1:5",
        "--pairs-per-class",
        "4",
        "--num-triples",
        "3",
        "--no-figures",
        "--no-progress",
    ]
    assert main(argv) == 0
    m = json.loads((out / "metrics.json").read_text())
    triples = [t["classes"] for t in m["triples"]]
    assert triples[0] == [0, 3, 7] and len({tuple(t) for t in triples}) == 3
    for t in m["triples"]:
        for key in (
            "same_class_spread",
            "boundary_gap",
            "channel_deviation",
            "theory_delta_straight",
            "earlier_linearity_error",
        ):
            assert np.isfinite(t[key]), key
    assert m["figures"] == [] and not list(out.glob("*.png"))
    acts = np.load(out / "activations.npz")  # the first triple's rows only
    assert set(np.unique(acts["y1"])) == {0, 3, 7} and len(acts["y1"]) == 6 * 4 * 5


@pytest.mark.parametrize(
    "args, words",
    [
        (["--classes", "0,1,10"], "out of range"),
        (["--classes", "0,1"], "three"),
        (["--lambdas", "0:1"], "lambda"),
        (["--lambdas", "0,1.5"], "[0, 1]"),
        (["--lambdas", "a,b"], "lambda"),
        (["--layers", "nope"], "unknown layer"),
    ],
)
def test_bad_input_exits_2_with_one_line(smoke_run, tmp_path, capsys, args, words):
    argv = ["analyze", "--workdir", str(smoke_run), "--out", str(tmp_path / "o"), *args]
    assert main([*argv, "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and words in err, err


def test_missing_checkpoint_exits_2(tmp_path, capsys):
    assert main(["analyze", "--workdir", str(tmp_path / "nothing"), "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "nothing" in err, err


@pytest.mark.slow
def test_fixed_etf_run_shows_the_paper_geometry(tmp_path, fashion_mnist_dir):
    """MLP 784-512x3-10, mixup (alpha 1), fixed simplex-ETF classifier, 1,000 images per class,
    20 epochs: same-class mixtures align with their class (lambda-invariant), different-class
    mixtures at lambda = 1/2 sit near the boundary, and earlier layers interpolate more linearly
    than the last one."""
    workdir, out = tmp_path / "run", tmp_path / "analysis"
    _train(
        workdir,
        "experiments/configs/quick.py:etf=1",
        "--config.num_epochs=20",
        "--config.snapshot_epochs=()",
        "--config.dataset.test_n_per_class=200",
    )
    argv = ["analyze", "--workdir", str(workdir), "--out", str(out), "--classes", "5,6,9"]
    assert main([*argv, "--pairs-per-class", "32", "--no-progress"]) == 0
    m = json.loads((out / "metrics.json").read_text())
    assert m["fixed_etf"] is True
    assert m["same_class_alignment"] > 0.9, m["same_class_alignment"]
    assert m["same_class_alignment_spread"] < 0.02
    assert m["boundary_gap"] < 0.25, m["boundary_gap"]
    assert m["theory_cos_etf"] > 0.8, m["theory_cos_etf"]
    layers = m["layers"]
    assert layers["block1"]["linearity_error"] < layers["penultimate"]["linearity_error"]
