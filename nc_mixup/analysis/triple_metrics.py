"""The metrics of one class triple, by name: the replicates the claims are judged on.

Every metric is one function of a frozen `TripleArrays` (the extracted arrays of one triple)
returning a dict of metrics.json keys, registered with `@triple_metric("name")`:

    @triple_metric("my_metric")
    def my_metric(x: TripleArrays) -> dict[str, float]:
        return {"my_key": float(...)}

`summarise(x)` runs every registered metric; nc_mixup.analysis.runner writes the result for each
triple under metrics.json 'triples' and the first triple's as top-level keys, so a registered
metric appears in metrics.json (and can be a table column or a claim's statistic) with no other
change. See docs/architecture.md, "add a metric".
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from nc_mixup.analysis import calibration, geometry
from nc_mixup.analysis.projection import project
from nc_mixup.analysis.theory_agreement import row_space_means, straight_comparison


@dataclasses.dataclass(frozen=True)
class TripleArrays:
    """The mixed activations of one class triple: rows of features H (n, d), logits (n, K),
    classes y1 (weight lam) and y2, lam, the image pair of each row; the earlier layers'
    features by name; the classifier W (K, d), b (K,); the clean global mean mu_G; the triple;
    and, when the analysis asked for it, the logits of the same pairs mixed at a hidden layer
    (extract.make_forward's 'feature_mix_logits')."""

    H: np.ndarray
    logits: np.ndarray
    y1: np.ndarray
    y2: np.ndarray
    lam: np.ndarray
    pair: np.ndarray
    layers: Mapping[str, np.ndarray]
    W: np.ndarray
    b: np.ndarray
    mu_g: np.ndarray
    classes: tuple[int, ...]
    feature_mix_logits: np.ndarray | None = None  # the pair mixed at a hidden layer instead

    @functools.cached_property
    def P2(self) -> np.ndarray:
        """pi(h): the B.2 projection onto the plane of the triple's classifier rows."""
        return project(self.H, self.W[list(self.classes)])

    @functools.cached_property
    def row_space(self):
        """(grid means of P(h - mu_G) per (c, c', lam) cell, the row-space basis)."""
        return row_space_means(self.H, self.y1, self.y2, self.lam, self.W, self.mu_g)


TripleMetric = Callable[[TripleArrays], dict[str, Any]]
TRIPLE_METRICS: dict[str, TripleMetric] = {}


def triple_metric(name: str) -> Callable[[TripleMetric], TripleMetric]:
    """Registers a metric of one class triple under `name` (a name is registered once)."""

    def register(fn: TripleMetric) -> TripleMetric:
        if name in TRIPLE_METRICS:
            raise ValueError(f"triple metric {name!r} registered twice")
        TRIPLE_METRICS[name] = fn
        return fn

    return register


def summarise(x: TripleArrays) -> dict[str, Any]:
    """{'classes': the triple, **every registered metric of x}."""
    out: dict[str, Any] = {"classes": [int(c) for c in x.classes]}
    for fn in TRIPLE_METRICS.values():
        out.update(fn(x))
    return out


@triple_metric("same_class")
def same_class(x: TripleArrays) -> dict[str, float]:
    """same_class_alignment (+ _spread over lambda) and same_class_spread (geometry)."""
    alignment, spread = geometry.same_class_alignment(x.H, x.y1, x.y2, x.lam, x.W, x.classes)
    return {
        "same_class_alignment": alignment,
        "same_class_alignment_spread": spread,
        "same_class_spread": geometry.same_class_spread(x.P2, x.y1, x.y2, x.lam, x.classes),
    }


@triple_metric("boundary")
def boundary(x: TripleArrays) -> dict[str, float]:
    """boundary_gap at lambda = 1/2 (geometry)."""
    return {"boundary_gap": geometry.boundary_gap(x.logits, x.y1, x.y2, x.lam)}


@triple_metric("paths")
def paths(x: TripleArrays) -> dict[str, float]:
    """chord_deviation and channel_deviation of the mean different-class paths (B.2 plane)."""
    return {
        "chord_deviation": geometry.chord_deviation(x.P2, x.y1, x.y2, x.lam)[0],
        "channel_deviation": geometry.channel_deviation(x.P2, x.y1, x.y2, x.lam),
    }


@triple_metric("theory_vs_straight")
def theory_vs_straight(x: TripleArrays) -> dict[str, Any]:
    """The fitted CE UFM optimum against straight chords (theory_agreement.straight_comparison)."""
    means, basis = x.row_space
    return straight_comparison(means, x.W, basis)


@triple_metric("linearity")
def linearity(x: TripleArrays) -> dict[str, Any]:
    """linearity_error of every earlier layer and of the penultimate one ('layers'), and
    'earlier_linearity_error', their mean over the earlier layers (NaN without any)."""
    layers = {
        n: geometry.linearity_error(v, x.y1, x.y2, x.lam, x.pair) for n, v in x.layers.items()
    }
    layers["penultimate"] = geometry.linearity_error(x.H, x.y1, x.y2, x.lam, x.pair)
    earlier = [v for n, v in layers.items() if n != "penultimate" and math.isfinite(v)]
    return {
        "layers": layers,
        "earlier_linearity_error": float(np.mean(earlier)) if earlier else float("nan"),
    }


@triple_metric("mixed_label_fit")
def mixed_label_fit(x: TripleArrays) -> dict[str, float]:
    """How closely the network predicts the mixed label of different-class mixtures (0 < lambda
    < 1): mean KL(lam e_y1 + (1 - lam) e_y2 || p) in nats (calibration.mixed_label_kl), with
    the images mixed at the input ('input_mixup_kl': what input mixup trains) and, when the
    analysis mixed them at a hidden layer too, there ('feature_mixup_kl': what manifold mixup at
    that layer trains; NaN otherwise; claim C6)."""
    rows = (x.y1 != x.y2) & (x.lam > 0) & (x.lam < 1)

    def kl(logits):
        if logits is None or not rows.any():
            return float("nan")
        return float(np.mean(calibration.mixed_label_kl(logits, x.y1, x.y2, x.lam)[rows]))

    return {"input_mixup_kl": kl(x.logits), "feature_mixup_kl": kl(x.feature_mix_logits)}
