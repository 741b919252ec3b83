"""Memory budget of an analysis: estimated from the run's config before any heavy work.

`nc-mixup analyze` keeps in memory, as float32, for every row (each of the 6 combinations of the
3 classes x pairs_per_class image pairs x the L lambdas) the logits, the penultimate features
and the captured earlier layers; and for every training and test image its logits and
penultimate features. The extraction holds its batches and their concatenation, and the metrics
make float64 copies, so the peak is about `OVERHEAD` times those arrays, plus the images and
the process itself (`BASE_BYTES`: Python, JAX, matplotlib). The constants were measured on the
smoke run (MLP, 266 features a row, 11 lambdas): peak resident memory 0.57 GB with 64 pairs per
class, 2.11 GB with 4000 (estimates 0.54 and 2.2 GB), i.e. 5.6 bytes of peak per stored byte.

    estimate = analysis_memory(config, pairs_per_class=64, num_lambdas=12, layers=None)
    check_memory(estimate, limit_bytes=available_memory())   # AnalysisInputError if too large
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from typing import Any

import numpy as np

NUM_COMBINATIONS = 6  # (a,a), (a,b), (a,c), (b,b), (b,c), (c,c) of the three classes
OVERHEAD = 6.0  # peak / stored float32 activations (batches, concatenation, float64 copies)
BASE_BYTES = 1 << 29  # the process before any activation: interpreter, JAX, XLA, matplotlib
FLOAT_BYTES = 4


@dataclasses.dataclass(frozen=True)
class MemoryEstimate:
    """Estimated peak memory of one analysis, in bytes, and what it is made of."""

    bytes: int
    rows: int  # mixed rows: 6 x triples x pairs_per_class x lambdas
    floats_per_row: int  # logits + penultimate + captured layers
    layers: tuple[str, ...]

    def describe(self) -> str:
        return (
            f"{format_bytes(self.bytes)} ({self.rows} mixed rows x {self.floats_per_row} "
            f"float32 features, layers {', '.join(self.layers) or 'none'})"
        )


def format_bytes(n: float) -> str:
    """`n` bytes in GiB (or MiB below 1 GiB), e.g. '24.3 GiB'."""
    return f"{n / 2**30:.1f} GiB" if n >= 2**30 else f"{n / 2**20:.0f} MiB"


def feature_widths(model: Any, image_shape: Sequence[int]) -> dict[str, int]:
    """Features per example of every array the model's captured forward pass returns ('logits',
    'penultimate' and each name in `model.layer_names`), from shapes only (jax.eval_shape: no
    weights are read or computed)."""
    import jax
    import jax.numpy as jnp

    x = jax.ShapeDtypeStruct((1, *image_shape), jnp.float32)

    def forward(x):
        (logits, feats), _ = model.init_with_output(
            {"params": jax.random.key(0), "dropout": jax.random.key(1)},
            x,
            train=False,
            capture=True,
        )
        return logits, feats

    logits, feats = jax.eval_shape(forward, x)
    widths = {name: int(np.prod(v.shape[1:])) for name, v in feats.items()}
    widths["logits"] = int(np.prod(logits.shape[1:]))
    return widths


def analysis_memory(
    config: Any,
    *,
    pairs_per_class: int,
    num_lambdas: int,
    layers: Sequence[str] | None = None,
    num_triples: int = 1,
) -> MemoryEstimate:
    """The estimated peak memory of analysing a run with `config` (its config.json).

    Args:
      config: the run's resolved config (`nc_mixup.train.load_config`).
      pairs_per_class: image pairs per class combination.
      num_lambdas: size of the lambda grid (with 1/2 added).
      layers: the earlier layers to capture; None: the default (those with at most
        `runner.DEFAULT_LAYER_MAX_DIM` features, and always the last).
      num_triples: class triples measured (an upper bound: combinations that triples share
        are sampled once).
    """
    from nc_mixup.analysis.runner import DEFAULT_LAYER_MAX_DIM
    from nc_mixup.data import get_info
    from nc_mixup.models import create_model

    info = get_info(config.dataset.name)
    K = info.num_classes
    size = int(config.dataset.get("image_size", 0) or 0)
    h, w, c = info.image_shape
    shape = (size, size, c) if size else (h, w, c)
    model = create_model(config.model, K)
    widths = feature_widths(model, shape)
    available = tuple(getattr(model, "layer_names", ()))
    if layers is None:
        layers = tuple(n for n in available if widths[n] <= DEFAULT_LAYER_MAX_DIM)
        if available and available[-1] not in layers:
            layers = (*layers, available[-1])
    layers = tuple(layers)
    per_row = widths["logits"] + widths["penultimate"] + sum(widths[n] for n in layers)
    rows = NUM_COMBINATIONS * int(num_triples) * int(pairs_per_class) * int(num_lambdas)

    def count(split: str, key: str) -> int:
        n = int(config.dataset.get(key, 0) or 0)
        return n * K if n else info.num_examples[split]

    n_images = count("train", "n_per_class") + count("test", "test_n_per_class")
    activations = rows * per_row + n_images * (widths["logits"] + widths["penultimate"])
    images = n_images * int(np.prod(shape))
    total = BASE_BYTES + FLOAT_BYTES * (OVERHEAD * activations + 2 * images)
    return MemoryEstimate(int(total), rows, per_row, layers)


def available_memory() -> int:
    """Bytes this process may still use: the smaller of the system's available memory
    (MemAvailable) and the room left under a cgroup (container) limit."""
    limits = []
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    limits.append(int(line.split()[1]) * 1024)
    except OSError:
        pass
    try:
        with open("/sys/fs/cgroup/memory.max") as f:
            text = f.read().strip()
        if text != "max":
            with open("/sys/fs/cgroup/memory.current") as f:
                limits.append(int(text) - int(f.read().strip()))
    except (OSError, ValueError):
        pass
    if not limits:
        limits.append(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    return max(0, min(limits))


def check_memory(estimate: MemoryEstimate, limit_bytes: float, what: str, limit_name: str) -> None:
    """AnalysisInputError, one line naming `what`, the estimate and the limit (`limit_name`
    says where it comes from), if the estimate is over `limit_bytes`."""
    from nc_mixup.analysis.extract import AnalysisInputError

    if estimate.bytes > limit_bytes:
        raise AnalysisInputError(
            f"{what} needs about {estimate.describe()}, over the limit of "
            f"{format_bytes(limit_bytes)} ({limit_name}): lower --pairs-per-class, the number "
            "of lambdas or the --layers (or set --max-memory-gb if the estimate is too high)"
        )
