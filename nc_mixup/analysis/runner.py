"""run_analysis: a trained run -> metrics.json, activations.npz and the figures (issue 6).

The only module of nc_mixup.analysis that touches a checkpoint or a dataset: it extracts the
arrays (nc_mixup.analysis.extract), hands them to the pure metric functions, and the metrics and
arrays to the figure functions. Nothing here trains.

Where each quantity is measured:
- NC1-NC4 and mu_G on the clean training features of the run's training subset (forward pass
  in the analysis mode);
- accuracy, NLL, ECE, MCE, Brier and the reliability diagram on the test set, in eval mode;
- everything else on mixed training pairs of three classes over the lambda grid (mode 'train':
  batch statistics, as the paper; or 'eval'). The grid always contains 1/2.

metrics.json (definitions in the docstrings of the functions named):
  run: workdir, step, epoch, dataset, num_classes, classes, lambdas, mode, pairs_per_class,
     seed, loss, fixed_etf, n_train, n_test, train_accuracy (clean training subset);
  calibration.calibration_metrics: accuracy, nll, ece, mce, brier;
  neural_collapse.nc_metrics: nc1, nc2_equinorm, nc2_equiangular, nc2_etf_distance, nc3, nc4;
  geometry: same_class_alignment (+ _spread), same_class_alignment_full, boundary_gap,
     chord_deviation (B.2 plane), chord_deviation_full (centred classifier row space, P(h - mu_G)),
     linearity_error (penultimate), boundary_fraction;
  theory_agreement.theory_agreement: theory_cos_etf, theory_cos_own_w, theory_rel_dist_etf,
     theory_rel_dist_own_w, theory_fitted_weight_decay, theory_fitted_weight_decay_own_w,
     theory_etf_norm, theory_fit_at_bound;
  theory_power.power_analysis (issue 13; runner.theory_power_metrics): theory_fit_power,
     theory_gamma_power (the (gamma, p) fit of (mu/p)||h||^p on every triple),
     theory_gamma_power_p2, theory_fit_power_at_bound; theory_delta_straight HELD OUT at the
     fitted p (leave one class triple out, or one class pair of a single triple): it replaces
     the first triple's in-sample value at the top level, while metrics['triples'] keep their
     in-sample p = 2 one (the statistic of claim C5); theory_delta_straight_p2 (held out,
     p = 2), theory_rel_dist_heldout(_p2), theory_rel_dist_straight_heldout,
     theory_heldout_units, theory_fold_powers; theory_confidence_rmse (different-class pairs),
     _same and _p2: RMSE over the lambda grid between the measured mean confidence (first
     triple) and the UFM optimum's;
  'curves': per-lambda lists on curves['lambdas']: 'same_class_alignment',
     'same_class_alignment_full', 'chord_deviation' (mean offset from the chord over the three
     pairs), 'boundary_margin_different' (mean |z_c - z_c'| / ||z - mean z||),
     'confidence_different' / 'confidence_same' (mean top probability), 'accuracy_different'
     (mean of lam [pred = y1] + (1 - lam) [pred = y2], the expected accuracy against the mixed
     label), 'accuracy_same', 'prob_y1_different' / 'prob_y2_different' (mean probability of the
     class weighted by lam / by 1 - lam), and 'theory_cos_etf', 'theory_cos_own_w',
     'theory_rel_dist_etf', 'theory_rel_dist_own_w' (means over the pairs at each lambda),
     'theory_confidence_different', 'theory_prob_y1_different', 'theory_confidence_same' (the
     UFM optimum's predicted confidence / probability of the lam-weighted class at the fitted
     (gamma, p)) and 'theory_confidence_different_p2' (at the p = 2 fit);
  'layers': {name: {...}} for every captured earlier layer and for 'penultimate', computed the
     same way for all of them (no classifier needed), in the B.2 plane of the layer's three class
     anchors (the means of its same-class mixtures of each class):
       'linearity_error': geometry.linearity_error: mean over different-class image pairs and
          interior lambda of ||f(lam) - [(1 - lam) f(0) + lam f(1)]|| / ||f(1) - f(0)||, f the
          layer's (flattened) features of one image pair along lambda. 0 for a layer affine in
          the input; the inputs are mixed, so it is not 0 at a manifold-mixup network's mixing
          layer. Claim C6 compares the earlier layers of the input-mixup network with the same
          layers of the ERM and manifold-mixup networks (metrics['triples'][i]
          ['earlier_linearity_error']);
       'chord_deviation': geometry.chord_deviation of the mean paths in that plane;
       'chord_deviation_full': the same in the layer's full feature space;
       'same_class_alignment': mean cos(pi(h), pi(anchor_c)) over same-class mixtures;
       'dim': the layer's feature dimension;
  'density_half': {'hist_edges', 'hist_counts', 'boundary_fraction'}: the signed normalised
     margin (z_y1 - z_y2) / ||z - mean z|| of different-class mixtures at lam = 1/2;
  'reliability': the reliability-diagram bins of the test set; 'figures': the files written.

'triples': one entry per class triple (the first is the triple above; `num_triples` > 1 adds
  replicates drawn from the seed): triple_summary's scalars (same_class_alignment, _spread,
  same_class_spread, boundary_gap, chord_deviation, channel_deviation, the CE theory against the
  straight chord: theory_gamma_etf, theory_rel_dist_interior, theory_rel_dist_straight,
  theory_delta_straight, theory_fit_at_bound; per-layer linearity and earlier_linearity_error;
  input_mixup_kl and feature_mixup_kl: the mean KL in nats from the mixed label to the
  prediction for different-class mixtures at 0 < lambda < 1, images mixed at the input, or at
  the hidden layer `feature_mix_layer` (manifold mixup's forward pass; NaN without one; C6));
  the first triple's are also top-level keys (channel_deviation, same_class_spread, theory_*).
NC metrics use eval-mode features for networks with BatchNorm (Papyan, Han & Donoho 2020);
mixed activations of such networks in 'train' mode are extracted in batches padded with random
all-class training pairs at the same lambda (BN_PAD_FRACTION).

activations.npz (rows of the first triple): H (penultimate), logits, y1, y2, lam, pair, i1, i2
(training indices), W (K, d),
b, mu_g, classes, lambdas, H_<layer> for every captured earlier layer (flattened), and
feature_mix_logits (the pairs mixed at `feature_mix_layer`) when asked for.
"""

from __future__ import annotations

import json
import math
import pathlib
from collections.abc import Sequence
from typing import Any

import numpy as np

from nc_mixup.analysis import calibration, extract, geometry, plots, triple_metrics
from nc_mixup.analysis.neural_collapse import nc_metrics
from nc_mixup.analysis.projection import project, project_boundaries
from nc_mixup.analysis.theory_agreement import (
    row_space_means,
    theory_agreement,
    theory_features,
)
from nc_mixup.analysis.theory_power import confidence_rmse, power_analysis

#: Share of each extraction batch filled with random all-class training pairs for networks with
#: batch statistics in 'train' mode (nc_mixup.analysis.extract.mixed_activations): a quarter of
#: the batch is the analysed pairs, about the share that 3 of 10 classes have in training.
BN_PAD_FRACTION = 0.75

#: Earlier layers captured by default: those with at most this many features per example
#: (the last earlier layer is always captured).
DEFAULT_LAYER_MAX_DIM = 8192


def run_analysis(
    workdir: str | pathlib.Path,
    out: str | pathlib.Path,
    *,
    step: int | None = None,
    classes: Sequence[int] | str | None = None,
    lambdas: str | Sequence[float] | None = None,
    pairs_per_class: int | None = None,
    mode: str = "train",
    layers: Sequence[str] | str | None = None,
    seed: int = 0,
    progress: bool = True,
    num_triples: int = 1,
    figures: bool = True,
    feature_mix_layer: int | str | None = None,
) -> dict[str, Any]:
    """Analyse the checkpoint of `workdir` (latest, or `step`) and write the results to `out`.

    `num_triples` > 1 also measures the geometry on further class triples drawn from `seed`
    (replicates, metrics.json 'triples'); figures and activations.npz show the first triple.
    `figures=False` skips the figures (metrics and activations only: replicate runs whose figures
    nobody looks at; the figures cost more than the metrics).
    `feature_mix_layer` (a mixup layer: an int or a name, as the config's mixup.layer): also
    mix every pair at that hidden layer (manifold mixup's forward pass) for 'feature_mixup_kl'.

    Raises FileNotFoundError (no checkpoint) or extract.AnalysisInputError (bad classes,
    lambdas, mode, layers, pairs) with a one-line message, before any heavy work.
    """
    if mode not in extract.MODES:
        raise extract.AnalysisInputError(
            f"unknown mode {mode!r}: expected one of {list(extract.MODES)}"
        )
    grid = np.union1d(extract.parse_lambdas(lambdas), [0.5])
    n_pairs = extract.DEFAULT_PAIRS if pairs_per_class is None else int(pairs_per_class)
    if n_pairs < 1:
        raise extract.AnalysisInputError(f"pairs per class must be >= 1, got {n_pairs}")
    if int(num_triples) < 1:
        raise extract.AnalysisInputError(f"number of class triples must be >= 1, got {num_triples}")

    from nc_mixup.data import get_datasets, get_info
    from nc_mixup.train import load_run

    run = load_run(str(workdir), step=step)
    config, model, variables = run.config, run.model, run.variables
    K = int(get_info(config.dataset.name).num_classes)
    cls = extract.choose_classes(K, classes, seed)
    triples = extract.choose_triples(K, cls, int(num_triples), seed)
    names = _check_layers(model, layers)
    mix_name = _check_mix_layer(model, feature_mix_layer)
    x_train, y_train, x_test, y_test, info = get_datasets(config.dataset)
    if names is None:
        names = _default_layers(model, x_train, variables)

    params = variables["params"]["classifier"]
    W = np.asarray(params["kernel"], np.float64).T
    b = np.asarray(params["bias"], np.float64)
    train = mode == "train"
    batch = int(config.get("batch_size", 256)) if train else 1024
    fwd = extract.make_forward(
        model, variables, train=train, layers=names, feature_mix_layer=mix_name
    )
    fwd_clean = extract.make_forward(model, variables, train=train)
    fwd_eval = extract.make_forward(model, variables, train=False)
    has_bn = "batch_stats" in variables

    plan = extract.sample_pairs(y_train, triples, n_pairs, seed)
    mixed = extract.mixed_activations(
        fwd,
        x_train,
        plan,
        grid,
        batch_size=batch,
        seed=seed,
        progress=progress,
        pad_fraction=BN_PAD_FRACTION if train and has_bn else 0.0,
    )
    clean = extract.clean_activations(
        fwd_clean,
        x_train,
        batch_size=batch,
        seed=seed,
        progress=progress,
        desc="clean training features",
    )
    test = extract.clean_activations(
        fwd_eval, x_test, batch_size=1024, shuffle=False, progress=progress, desc="test set"
    )

    H_clean = clean["penultimate"].astype(np.float64)
    mu_g = H_clean.mean(axis=0)
    if has_bn and train:  # NC metrics in eval mode (Papyan, Han & Donoho 2020)
        H_nc = extract.clean_activations(
            fwd_eval,
            x_train,
            batch_size=1024,
            shuffle=False,
            progress=progress,
            desc="clean training features (eval mode)",
        )["penultimate"].astype(np.float64)
    else:
        H_nc = H_clean
    metrics: dict[str, Any] = {
        "workdir": str(workdir),
        "step": int(run.step),
        "epoch": _maybe_int(run.epoch),
        "dataset": info.name,
        "num_classes": K,
        "classes": cls.tolist(),
        "num_triples": len(triples),
        "lambdas": grid.tolist(),
        "mode": mode,
        "pairs_per_class": n_pairs,
        "seed": seed,
        "loss": str(config.get("loss", "ce")),
        "fixed_etf": bool(config.get("fixed_etf", False)),
        "feature_mix_layer": mix_name,
        "n_train": len(y_train),
        "n_test": len(y_test),
        "train_accuracy": float(np.mean(clean["logits"].argmax(1) == y_train)),
    }
    metrics.update(calibration.calibration_metrics(test["logits"], y_test))
    metrics.update(nc_metrics(H_nc, y_train, W, b, num_classes=K))
    all_rows = _arrays(mixed, W, b, mu_g, cls, grid, names)
    summaries = [
        triple_summary(
            _rows(all_rows, extract.triple_rows(all_rows["y1"], all_rows["y2"], t)),
            W,
            mu_g,
            t,
            names,
        )
        for t in triples
    ]
    arrays = _rows(all_rows, extract.triple_rows(all_rows["y1"], all_rows["y2"], cls))
    geo, extras = mixed_metrics(arrays, W, b, cls, mu_g, metrics["loss"], names)
    metrics.update(geo)
    metrics.update({k: v for k, v in summaries[0].items() if k not in ("classes", "layers")})
    metrics["triples"] = summaries
    metrics.update(theory_power_metrics(all_rows, triples, W, mu_g, grid, metrics["curves"]))
    probs_test = calibration.softmax(test["logits"])
    rel = calibration.reliability_bins(probs_test, y_test)
    metrics["reliability"] = {k: np.asarray(v).tolist() for k, v in rel.items()}

    out = pathlib.Path(out)
    out.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(out / "activations.npz", **arrays)
    metrics["figures"] = (
        make_figures(out, arrays, metrics, extras, rel, W, b, cls, names) if figures else []
    )
    with open(out / "metrics.json", "w") as f:
        json.dump(_jsonable(metrics), f, indent=1, allow_nan=False)
    return metrics


def _maybe_int(v):
    return None if v is None else int(v)


def _check_layers(model, layers) -> tuple[str, ...] | None:
    """`layers` (names or 'a,b') validated against the model's layer_names; None if not given."""
    if layers is None:
        return None
    available = tuple(getattr(model, "layer_names", ()))
    if isinstance(layers, str):
        layers = [s.strip() for s in layers.split(",") if s.strip()]
    bad = [n for n in layers if n not in available]
    if bad:
        raise extract.AnalysisInputError(
            f"unknown layer {bad[0]!r}: this model's layers are {list(available) or 'none'}"
        )
    return tuple(layers)


def _check_mix_layer(model, layer) -> str | None:
    """`feature_mix_layer` as the model's mixing-point name (None stays None); a hidden layer
    only (mixing at the input is what the analysis always does)."""
    if layer is None:
        return None
    from nc_mixup.mixup import INPUT, resolve_layer

    if isinstance(layer, str) and layer.strip().isdigit():
        layer = int(layer)
    try:
        name = resolve_layer(layer, tuple(getattr(model, "layer_names", ())))
    except ValueError as e:
        raise extract.AnalysisInputError(f"bad feature-mix layer: {e}") from None
    if name == INPUT:
        raise extract.AnalysisInputError(
            "bad feature-mix layer: 'input' (0) is the input mixing every analysis does; "
            "name a hidden layer"
        )
    return name


def _default_layers(model, x_train, variables) -> tuple[str, ...]:
    """The earlier layers with at most DEFAULT_LAYER_MAX_DIM features, and always the last."""
    available = tuple(getattr(model, "layer_names", ()))
    if not available:
        return ()
    import jax

    shapes = jax.eval_shape(
        lambda x: model.apply(variables, x, train=False, capture=True)[1], x_train[:1]
    )
    dims = {n: int(np.prod(shapes[n].shape[1:])) for n in available}
    keep = [n for n in available if dims[n] <= DEFAULT_LAYER_MAX_DIM]
    return tuple(keep) if available[-1] in keep else (*keep, available[-1])


def _arrays(mixed, W, b, mu_g, cls, grid, names) -> dict[str, np.ndarray]:
    """The contents of activations.npz."""
    arrays = {
        "H": mixed["penultimate"],
        "logits": mixed["logits"],
        "y1": mixed["y1"],
        "y2": mixed["y2"],
        "lam": mixed["lam"],
        "pair": mixed["pair"],
        "i1": mixed["i1"],
        "i2": mixed["i2"],
        "W": W.astype(np.float32),
        "b": b.astype(np.float32),
        "mu_g": mu_g.astype(np.float32),
        "classes": cls,
        "lambdas": grid,
    }
    for n in names:
        arrays[f"H_{n}"] = mixed[n]
    if "feature_mix_logits" in mixed:
        arrays["feature_mix_logits"] = mixed["feature_mix_logits"]
    return arrays


def _rows(arrays: dict[str, np.ndarray], mask: np.ndarray) -> dict[str, np.ndarray]:
    """The per-row arrays of `arrays` restricted to `mask` (per-run arrays kept whole)."""
    n = len(arrays["y1"])
    return {
        k: (v[mask] if np.ndim(v) and len(v) == n and k not in _RUN_ARRAYS else v)
        for k, v in arrays.items()
    }


_RUN_ARRAYS = ("W", "b", "mu_g", "classes", "lambdas")


def triple_summary(arrays, W, mu_g, cls, names) -> dict[str, Any]:
    """The metrics of one class triple (a replicate of the analysis; metrics.json 'triples'):
    every metric registered in nc_mixup.analysis.triple_metrics, on the triple's rows."""
    return triple_metrics.summarise(
        triple_metrics.TripleArrays(
            H=np.asarray(arrays["H"], np.float64),
            logits=arrays["logits"],
            y1=arrays["y1"],
            y2=arrays["y2"],
            lam=_lam(arrays),
            pair=arrays["pair"],
            layers={n: arrays[f"H_{n}"] for n in names},
            W=W,
            b=arrays["b"],
            mu_g=mu_g,
            classes=tuple(int(c) for c in cls),
            feature_mix_logits=arrays.get("feature_mix_logits"),
        )
    )


def theory_power_metrics(all_rows, triples, W, mu_g, grid, curves) -> dict[str, Any]:
    """The p-family fit held out over the class triples (one triple: over its pairs) and the
    theory-predicted calibration (theory_power.power_analysis). Adds the predicted curves to
    `curves` and returns the metrics, with 'theory_confidence_rmse' (different-class pairs,
    fitted p), 'theory_confidence_rmse_same' and 'theory_confidence_rmse_p2' (RMSE over the
    lambda grid of the measured mean confidence of the first triple against the prediction).
    Its 'theory_delta_straight' (held out, fitted p) replaces the first triple's in-sample one
    at the top level; the entries of metrics['triples'] keep theirs (in-sample, p = 2)."""
    means = []
    for t in triples:
        rows = _rows(all_rows, extract.triple_rows(all_rows["y1"], all_rows["y2"], t))
        means.append(row_space_means(rows["H"], rows["y1"], rows["y2"], _lam(rows), W, mu_g)[0])
    basis = geometry.row_space_basis(W)
    out, theory_curves = power_analysis(means, W, basis, grid)
    curves.update(theory_curves)
    nan = float("nan")
    pairs = (
        ("theory_confidence_rmse", "confidence_different", "theory_confidence_different"),
        ("theory_confidence_rmse_same", "confidence_same", "theory_confidence_same"),
        ("theory_confidence_rmse_p2", "confidence_different", "theory_confidence_different_p2"),
    )
    for key, measured, predicted in pairs:
        out[key] = (
            confidence_rmse(curves[measured], curves[predicted]) if predicted in curves else nan
        )
    return out


def _lam(arrays) -> np.ndarray:
    return np.asarray(arrays["lam"], np.float64)


def mixed_metrics(arrays, W, b, cls, mu_g, loss, names) -> tuple[dict, dict]:
    """Geometry beyond the per-triple metrics (those of nc_mixup.analysis.triple_metrics, such
    as same_class_alignment and boundary_gap, come from triple_summary), calibration along
    lambda, earlier layers and theory agreement of the mixed activations of the first triple.
    Returns (metrics, extras for the figures)."""
    H = np.asarray(arrays["H"], np.float64)
    y1, y2, lam, logits = arrays["y1"], arrays["y2"], _lam(arrays), arrays["logits"]
    out: dict[str, Any] = {}
    out["same_class_alignment_full"] = geometry.same_class_alignment_full(H, y1, y2, W, mu_g)
    P2 = project(H, W[cls])
    _, _, chord_curve = geometry.chord_deviation(P2, y1, y2, lam)
    B = geometry.row_space_basis(W)
    out["chord_deviation_full"], _, _ = geometry.chord_deviation((H - mu_g) @ B, y1, y2, lam)
    out["linearity_error"] = geometry.linearity_error(H, y1, y2, lam, arrays["pair"])
    dens = geometry.density_half(P2, logits, y1, y2, lam)
    out["density_half"] = {
        "hist_edges": dens["hist_edges"].tolist(),
        "hist_counts": dens["hist_counts"].tolist(),
        "boundary_fraction": dens["boundary_fraction"],
    }
    out["boundary_fraction"] = dens["boundary_fraction"]
    out["layers"] = {
        n: layer_metrics(arrays[f"H_{n}"], y1, y2, lam, arrays["pair"], cls) for n in names
    }
    out["layers"]["penultimate"] = layer_metrics(H, y1, y2, lam, arrays["pair"], cls)

    th, fit, _ = theory_agreement(H, y1, y2, lam, W, b, mu_g, loss=loss)
    cells = th.pop("cells")
    out.update(th)
    out["curves"] = lambda_curves(H, logits, y1, y2, lam, W, cls, mu_g, chord_curve, cells)
    return out, {"P2": P2, "fit": fit, "density_points": dens["points"]}


def lambda_curves(H, logits, y1, y2, lam, W, cls, mu_g, chord_curve, cells) -> dict:
    """The per-lambda curves of metrics.json (see the module docstring)."""
    probs = calibration.softmax(logits)
    rows = np.arange(len(probs))
    conf, pred = probs.max(1), probs.argmax(1)
    # expected accuracy against the mixed label, as in training (losses.mixup_accuracy)
    mix_acc = lam * (pred == y1) + (1 - lam) * (pred == y2)
    margin = np.abs(geometry.normalised_margin(logits, y1, y2))
    cos_plane, same_mask = geometry.same_class_cosines(H, y1, y2, W, cls)
    cos_full = geometry.full_cosines(H, y1, W, mu_g)
    diff = y1 != y2
    same = ~diff
    curve = lambda v, m: geometry.per_lambda_mean(v[m], lam[m])[1].tolist()
    curves = {
        "lambdas": np.unique(lam).tolist(),
        "same_class_alignment": geometry.per_lambda_mean(cos_plane, lam[same_mask])[1].tolist(),
        "same_class_alignment_full": curve(cos_full, same),
        "chord_deviation": np.asarray(chord_curve).tolist(),
        "boundary_margin_different": curve(margin, diff),
        "confidence_different": curve(conf, diff),
        "accuracy_different": curve(mix_acc, diff),
        "prob_y1_different": curve(probs[rows, y1], diff),
        "prob_y2_different": curve(probs[rows, y2], diff),
        "confidence_same": curve(conf, same),
        "accuracy_same": curve((pred == y1).astype(float), same),
    }
    for k in ("cos_etf", "cos_own_w", "rel_dist_etf", "rel_dist_own_w"):
        curves[f"theory_{k}"] = geometry.per_lambda_mean(cells[k], cells["lam"])[1].tolist()
    return curves


def layer_metrics(X, y1, y2, lam, pair, cls) -> dict[str, float]:
    """Linearity and chord deviation of one layer's features X (see the module docstring)."""
    X = np.asarray(X, np.float64)
    anchors = layer_anchors(X, y1, y2, cls)
    P2 = project(X, anchors)
    same = y1 == y2
    own = np.argmax(y1[same][:, None] == np.asarray(cls)[None, :], axis=1)
    cos = geometry.cos_rows(P2[same], project(anchors, anchors)[own])
    return {
        "linearity_error": geometry.linearity_error(X, y1, y2, lam, pair),
        "chord_deviation": geometry.chord_deviation(P2, y1, y2, lam)[0],
        "chord_deviation_full": geometry.chord_deviation(X, y1, y2, lam)[0],
        "same_class_alignment": float(np.mean(cos)),
        "dim": int(X.shape[1]),
    }


def layer_anchors(X, y1, y2, cls) -> np.ndarray:
    """(3, d) means of the same-class mixtures of each class in `cls` (the layer's 'classifier
    rows' for the projection of an earlier layer)."""
    same = y1 == y2
    return np.stack([X[same & (y1 == c)].mean(axis=0) for c in cls])


def make_figures(out, arrays, metrics, extras, rel, W, b, cls, names) -> list[str]:
    """Write every figure; returns their paths relative to `out`."""
    y1, y2, lam = arrays["y1"], arrays["y2"], _lam(arrays)
    labels = [f"class {c}" for c in cls]
    W3 = W[cls]
    anchors = project(W3, W3)
    bounds = project_boundaries(W3, b[cls])
    P2 = extras["P2"]
    tag = f"{metrics['dataset']}, step {metrics['step']}, {metrics['mode']} mode"
    files = []
    files += plots.projection_figure(
        out / "projection",
        P2,
        y1,
        y2,
        lam,
        anchors,
        labels,
        bounds,
        title=f"last-layer activations of mixed training data ({tag})",
    )
    fit = extras["fit"]
    files += plots.projection_figure(
        out / "projection_theory",
        P2,
        y1,
        y2,
        lam,
        anchors,
        labels,
        bounds,
        title=f"with the fitted UFM optimum ({tag})",
        overlays=theory_overlays(fit, cls, W3),
    )
    panels = []
    for n in (*names, "penultimate"):
        X = np.asarray(arrays["H"] if n == "penultimate" else arrays[f"H_{n}"], np.float64)
        A = layer_anchors(X, y1, y2, cls)
        lm = metrics["layers"][n]
        panels.append(
            {
                "name": f"{n} (plane of class means)",
                "P2": project(X, A),
                "anchors": project(A, A),
                "labels": labels,
                "note": f"linearity err {lm['linearity_error']:.3f}, "
                f"chord dev {lm['chord_deviation']:.3f}",
            }
        )
    files += plots.layers_figure(out / "layers", panels, y1, y2, lam)
    files += plots.reliability_figure(
        out / "reliability",
        rel,
        metrics["ece"],
        title=f"test set, eval mode, step {metrics['step']}",
    )
    files += plots.confidence_figure(out / "confidence_vs_lambda", metrics["curves"], title=tag)
    d = metrics["density_half"]
    files += plots.density_figure(
        out / "density_half",
        extras["density_points"],
        anchors,
        labels,
        np.asarray(d["hist_edges"]),
        np.asarray(d["hist_counts"]),
        bounds,
        title=tag,
    )
    return [str(pathlib.Path(f).relative_to(out)) for f in files]


def theory_overlays(fit, cls, W3, n_lam: int = 41) -> list:
    """Projected theory curves for the overlay figure: ETF (solid) and own W (dashed)."""
    lam = np.linspace(0.0, 1.0, n_lam)
    overlays = []
    for which, style, label in (
        ("etf", {"color": "black", "lw": 1.6}, "UFM optimum, simplex ETF (fitted)"),
        ("own_w", {"color": "tab:green", "lw": 1.4, "ls": "--"}, "UFM optimum, own W (fitted)"),
    ):
        curves = []
        for a in range(3):
            for c2 in range(a + 1, 3):
                h = theory_features(fit, cls[a], cls[c2], lam, which)
                curves.append(project(h, W3))
        overlays.append((curves, style, label))
        pts = [project(theory_features(fit, c, c, np.ones(1), which), W3)[0] for c in cls]
        overlays.append(
            (pts, {"color": style["color"]}, f"{label.split(',')[1].strip()}: same class")
        )
    return overlays


def _jsonable(obj):
    """Plain JSON: numpy to Python, non-finite floats to None."""
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _jsonable(obj.tolist())
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj
