"""Activations of mixed-up training examples on a lambda grid (the paper's measurement).

Three classes (given, or drawn from a seed); for every combination (c, c') of them with c <= c'
in the order given (3 same-class and 3 different-class), N pairs of training images (x_i of
class c, x_j of class c', i != j); every pair is mixed at every lambda of the grid,
x = lam x_i + (1 - lam) x_j (input mixup, as trained), and fed through the network. We keep the
penultimate features (the classifier's input), the logits and the outputs of named earlier
layers (flattened).

Mode 'train' uses batch statistics, as the paper does: every batch holds pairs of one lambda
(shuffled once, so each batch mixes every combination), padded for networks with BatchNorm with
random all-class training pairs at the same lambda (`pad_fraction`): batch statistics of three
classes only are those of a distribution the network never trained on; 'eval' uses the running
averages. Several class triples can be analysed in one pass (`choose_triples`, `sample_pairs`).
Dropout is switched off in both modes (the model is cloned with dropout = 0): the measurement
wants the network's features, not one random thinning of them. The
forward pass is jitted once per batch shape; a tqdm bar shows progress.
"""

from __future__ import annotations

import dataclasses
import functools
import re
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from nc_mixup.models.conv import cpu_compiler_options

MODES = ("train", "eval")
DEFAULT_LAMBDAS = "0:1:11"
DEFAULT_PAIRS = 64


class AnalysisInputError(ValueError):
    """Bad user input to an analysis (classes, lambdas, mode, layers): a one-line message."""


_RANGE = re.compile(r"^\s*([^:]+):([^:]+):([^:]+)\s*$")


def parse_lambdas(spec: str | Sequence[float] | None) -> np.ndarray:
    """A lambda grid from 'start:stop:num' (inclusive linspace) or 'a,b,c' (or a sequence).

    Returns the sorted distinct values, float64, each in [0, 1]. Raises ValueError with a clear
    message otherwise.
    """
    if spec is None:
        spec = DEFAULT_LAMBDAS
    if isinstance(spec, str):
        m = _RANGE.match(spec)
        try:
            if m:
                start, stop, num = float(m[1]), float(m[2]), m[3].strip()
                if not num.isdigit() or int(num) < 1:
                    raise ValueError
                values = np.linspace(start, stop, int(num))
            else:
                values = np.array([float(v) for v in spec.split(",")], dtype=np.float64)
        except ValueError:
            raise AnalysisInputError(
                f"bad lambda spec {spec!r}: expected start:stop:num (e.g. 0:1:11) or a comma "
                "list (e.g. 0,0.25,0.5,0.75,1)"
            ) from None
    else:
        values = np.asarray(list(spec), dtype=np.float64)
    if values.size == 0 or not np.all(np.isfinite(values)):
        raise AnalysisInputError(f"bad lambda spec {spec!r}: no finite values")
    if np.any(values < 0) or np.any(values > 1):
        raise AnalysisInputError(f"bad lambda spec {spec!r}: every lambda must lie in [0, 1]")
    return np.unique(np.round(values, 12))


def choose_classes(
    num_classes: int, classes: Sequence[int] | str | None = None, seed: int = 0
) -> np.ndarray:
    """Three distinct class indices: `classes` (ints or 'a,b,c') validated, or drawn from seed."""
    if classes is None:
        rng = np.random.default_rng(seed)
        return np.sort(rng.choice(num_classes, size=3, replace=False)).astype(np.int64)
    if isinstance(classes, str):
        try:
            classes = [int(c) for c in classes.split(",")]
        except ValueError:
            raise AnalysisInputError(
                f"bad classes {classes!r}: expected three integers a,b,c"
            ) from None
    out = np.asarray(list(classes), dtype=np.int64)
    if out.shape != (3,) or len(set(out.tolist())) != 3:
        raise AnalysisInputError(f"expected three distinct classes, got {out.tolist()}")
    bad = [int(c) for c in out if not 0 <= c < num_classes]
    if bad:
        raise AnalysisInputError(
            f"class index {bad[0]} out of range: the dataset has {num_classes} classes "
            f"(0..{num_classes - 1})"
        )
    return out


@dataclasses.dataclass(frozen=True)
class PairPlan:
    """Image pairs to mix: x_i = images[i1], x_j = images[i2], classes y1, y2 (all (P,))."""

    i1: np.ndarray
    i2: np.ndarray
    y1: np.ndarray
    y2: np.ndarray


def choose_triples(
    num_classes: int, first: Sequence[int], count: int, seed: int = 0
) -> list[np.ndarray]:
    """`count` distinct class triples (each sorted as given for the first): `first`, then triples
    drawn from `seed` (replicates of the analysis on other classes)."""
    first = np.asarray(first, dtype=np.int64)
    triples, seen = [first], {tuple(sorted(first.tolist()))}
    total = num_classes * (num_classes - 1) * (num_classes - 2) // 6
    if count > total:
        raise AnalysisInputError(f"{count} class triples requested: the dataset has only {total}")
    rng = np.random.default_rng([seed, 3])
    while len(triples) < count:
        t = np.sort(rng.choice(num_classes, size=3, replace=False)).astype(np.int64)
        if tuple(t.tolist()) not in seen:
            seen.add(tuple(t.tolist()))
            triples.append(t)
    return triples


def combinations(triples: Sequence[np.ndarray]) -> list[tuple[int, int]]:
    """The class combinations (c, c') of every triple, c before or equal to c' in the triple's
    order, each once, in order of first appearance."""
    out: dict[tuple[int, int], None] = {}
    for t in triples:
        for a in range(3):
            for b in range(a, 3):
                key = (int(t[a]), int(t[b]))
                if key not in out and key[::-1] not in out:
                    out[key] = None
    return list(out)


def sample_pairs(
    labels: np.ndarray, classes: np.ndarray | Sequence[np.ndarray], n_per: int, seed: int = 0
) -> PairPlan:
    """n_per pairs for every combination (c, c') of `classes` (one triple, or several: their
    combinations, each sampled once; see `combinations`).

    Distinct images are drawn without replacement within a pair-combination when the class has
    enough images (with replacement otherwise); same-class pairs never pair an image with itself.
    """
    labels = np.asarray(labels)
    triples = [np.asarray(classes)] if np.ndim(classes) == 1 else list(classes)
    rng = np.random.default_rng(seed)
    i1, i2 = [], []
    for c, c2 in combinations(triples):
        pool1 = np.flatnonzero(labels == c)
        pool2 = np.flatnonzero(labels == c2)
        if len(pool1) == 0 or len(pool2) == 0 or (c == c2 and len(pool1) < 2):
            raise AnalysisInputError(f"not enough training images of classes {c} and {c2}")
        first = rng.choice(pool1, n_per, replace=n_per > len(pool1))
        second = rng.choice(pool2, n_per, replace=n_per > len(pool2))
        if c == c2:  # never x_i with itself
            clash = first == second
            while clash.any():
                second[clash] = rng.choice(pool2, int(clash.sum()))
                clash = first == second
        i1.append(first)
        i2.append(second)
    i1, i2 = np.concatenate(i1), np.concatenate(i2)
    return PairPlan(i1=i1, i2=i2, y1=labels[i1].astype(np.int64), y2=labels[i2].astype(np.int64))


def triple_rows(y1: np.ndarray, y2: np.ndarray, triple: Sequence[int]) -> np.ndarray:
    """Mask of the rows whose two classes both belong to `triple`."""
    return np.isin(y1, triple) & np.isin(y2, triple)


def make_forward(
    model: Any,
    variables: dict,
    *,
    train: bool,
    layers: Sequence[str] = (),
    feature_mix_layer: str | None = None,
):
    """A jitted f(x1, x2, lam, rng) -> dict of float32 arrays for x = lam x1 + (1 - lam) x2:
    'logits', 'penultimate' and every name in `layers` (flattened to (B, -1)). `train`: batch
    statistics (the running averages are not updated); dropout is always off.

    `feature_mix_layer` (a mixing-point name of the model, see nc_mixup.mixup): also
    'feature_mix_logits', the logits when the pair is mixed at that layer instead of the input
    (manifold mixup's forward pass: the clean batch [x1; x2] goes through the layers below it,
    row i is mixed with row B + i there, lam h(x1) + (1 - lam) h(x2), as in training)."""
    from nc_mixup.mixup import MixSpec

    layers = tuple(layers)
    mutable = ["batch_stats"] if train and "batch_stats" in variables else False
    if getattr(model, "dropout", 0):
        model = model.clone(dropout=0.0)  # no parameters of its own: same variables

    # The weights are an argument, not constants closed over: one compiled program serves every
    # checkpoint of the same architecture (and the persistent cache stays small).
    @functools.partial(jax.jit, compiler_options=cpu_compiler_options())
    def apply(variables, x1, x2, lam, rng):
        x = lam * x1 + (1.0 - lam) * x2
        out = model.apply(
            variables, x, train=train, capture=True, rngs={"dropout": rng}, mutable=mutable
        )
        logits, feats = out[0] if mutable else out
        res = {"logits": logits, "penultimate": feats["penultimate"]}
        for name in layers:
            res[name] = feats[name].reshape(x.shape[0], -1)
        if feature_mix_layer is not None:
            n = x1.shape[0]
            partner = jnp.arange(2 * n, dtype=jnp.int32)
            spec = MixSpec(layer=feature_mix_layer, lam=lam, perm=(partner + n) % (2 * n))
            out = model.apply(
                variables,
                jnp.concatenate([x1, x2]),
                train=train,
                mix=spec,
                rngs={"dropout": rng},
                mutable=mutable,
            )
            res["feature_mix_logits"] = (out[0] if mutable else out)[:n]
        return {k: v.astype(jnp.float32) for k, v in res.items()}

    return functools.partial(apply, variables)


def _progress(total: int, desc: str, enabled: bool):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="batch", disable=not enabled, leave=False)


def mixed_activations(
    forward,
    images: np.ndarray,
    plan: PairPlan,
    lambdas: np.ndarray,
    *,
    batch_size: int = 256,
    seed: int = 0,
    progress: bool = True,
    pad_fraction: float = 0.0,
) -> dict[str, np.ndarray]:
    """Run every pair of `plan` at every lambda through `forward` (see make_forward).

    `pad_fraction` > 0 (for networks with batch statistics in 'train' mode): each batch of
    `batch_size` rows holds only (1 - pad_fraction) analysed pairs; the rest are random pairs of
    training images of ALL classes mixed at the same lambda, so the batch statistics are those of a
    mixup training batch (one lambda per batch, partners from every class) rather than of the
    few analysed classes; their outputs are dropped.

    Returns numpy arrays over n = P * L rows (lambda-major): 'lam', 'y1', 'y2', 'pair' (index of
    the image pair in the plan), 'i1', 'i2' (training indices), and the outputs of `forward`.
    """
    if not 0.0 <= pad_fraction < 1.0:
        raise AnalysisInputError(f"pad_fraction must be in [0, 1), got {pad_fraction}")
    P = len(plan.i1)
    order = np.random.default_rng(seed).permutation(P)  # batches mix all combinations
    n_pad = int(round(batch_size * pad_fraction))
    batch_size = max(1, min(batch_size - n_pad, P))
    starts = range(0, P, batch_size)
    rng = jax.random.PRNGKey(seed)
    pad_rng = np.random.default_rng([seed, 7])
    chunks: dict[str, list[np.ndarray]] = {}
    with _progress(len(lambdas) * len(starts), "mixed activations", progress) as bar:
        for lam in lambdas:
            for s in starts:
                idx = order[s : s + batch_size]
                x1, x2 = images[plan.i1[idx]], images[plan.i2[idx]]
                if n_pad:
                    pad = pad_rng.integers(0, len(images), size=(2, n_pad))
                    x1 = np.concatenate([x1, images[pad[0]]])
                    x2 = np.concatenate([x2, images[pad[1]]])
                rng, sub = jax.random.split(rng)
                out = forward(x1, x2, jnp.float32(lam), sub)
                for k, v in out.items():
                    chunks.setdefault(k, []).append(np.asarray(v)[: len(idx)])
                bar.update(1)
    res = {k: np.concatenate(v) for k, v in chunks.items()}
    rows = np.tile(order, len(lambdas))
    res.update(
        lam=np.repeat(np.asarray(lambdas, dtype=np.float64), P),
        pair=rows,
        i1=plan.i1[rows],
        i2=plan.i2[rows],
        y1=plan.y1[rows],
        y2=plan.y2[rows],
    )
    return res


def clean_activations(
    forward,
    images: np.ndarray,
    *,
    batch_size: int = 256,
    seed: int = 0,
    shuffle: bool = True,
    progress: bool = True,
    desc: str = "clean activations",
) -> dict[str, np.ndarray]:
    """`forward` on un-mixed images (lam = 1), in shuffled batches (train-mode batch statistics
    then see a random class mix, as in training); outputs returned in the original order."""
    n = len(images)
    order = np.random.default_rng(seed).permutation(n) if shuffle else np.arange(n)
    batch_size = max(1, min(batch_size, n))
    rng = jax.random.PRNGKey(seed + 1)
    chunks: dict[str, list[np.ndarray]] = {}
    starts = range(0, n, batch_size)
    with _progress(len(starts), desc, progress) as bar:
        for s in starts:
            x = images[order[s : s + batch_size]]
            rng, sub = jax.random.split(rng)
            for k, v in forward(x, x, jnp.float32(1.0), sub).items():
                chunks.setdefault(k, []).append(np.asarray(v))
            bar.update(1)
    inv = np.empty(n, dtype=np.int64)
    inv[order] = np.arange(n)
    return {k: np.concatenate(v)[inv] for k, v in chunks.items()}
