"""A small convolutional network for CPU runs.

`depth` stages, each a 3x3 convolution (+ BatchNorm when `norm="batch"`) + ReLU + 2x2 max-pool,
with `width * 2**(i-1)` channels in stage i, then global average pooling (or, with `dense` > 0, a
Dense layer of `dense` units + ReLU on the flattened last stage, BatchNorm before the ReLU).
BatchNorm follows PyTorch (momentum 0.1, eps 1e-5), as in the WideResNet: the quick profile's
second architecture has it because the paper's networks normalise (their batch statistics matter
for the analysis). Capture/mix points: 'input', 'block1' .. 'block{depth}' (stage outputs, NHWC)
and 'penultimate' (the pooled features, `width * 2**(depth-1)` wide, or the `dense` units).
"""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from nc_mixup.mixup import INPUT, PENULTIMATE, MixSpec, maybe_mix
from nc_mixup.models.conv import Conv


class CNN(nn.Module):
    """Conv-ReLU-pool stages and global average pooling."""

    num_classes: int
    width: int = 32
    depth: int = 2
    norm: str = "none"  # "none" | "batch"
    dense: int = 0  # > 0: the penultimate layer is Dense(dense) + ReLU on the flattened stages
    dtype: Any = jnp.float32

    @staticmethod
    def config_problems(cfg: dict[str, Any]) -> list[tuple[str, str]]:
        """(key, why) for config values this network cannot be built with."""
        problems = []
        if cfg["norm"] not in ("none", "batch"):
            problems.append(("norm", "expected one of none, batch"))
        if cfg["dense"] < 0:
            problems.append(("dense", "must be >= 0 (0: global average pooling)"))
        return problems

    @property
    def layer_names(self) -> tuple[str, ...]:
        return tuple(f"block{i}" for i in range(1, self.depth + 1))

    @nn.compact
    def __call__(
        self,
        x: jax.Array,
        train: bool = False,
        mix: MixSpec | None = None,
        capture: bool = False,
    ):
        if self.norm not in ("none", "batch"):
            raise ValueError(f"cnn: norm={self.norm!r}, expected 'none' or 'batch'")
        feats = {}
        h = maybe_mix(x.astype(self.dtype), INPUT, mix)
        for i in range(1, self.depth + 1):
            h = Conv(
                self.width * 2 ** (i - 1),
                kernel_size=(3, 3),
                strides=(1, 1),
                padding="SAME",
                use_bias=self.norm == "none",
                dtype=self.dtype,
                name=f"conv{i}",
            )(h)
            h = self._normalise(h, train, f"bn{i}")
            h = nn.max_pool(nn.relu(h), (2, 2), strides=(2, 2), padding="SAME")
            h = maybe_mix(h, f"block{i}", mix)
            feats[f"block{i}"] = h
        if self.dense:
            h = nn.Dense(self.dense, use_bias=self.norm == "none", dtype=self.dtype, name="dense")(
                h.reshape((h.shape[0], -1))
            )
            h = nn.relu(self._normalise(h, train, "bn_dense")).astype(jnp.float32)
        else:
            h = jnp.mean(h.astype(jnp.float32), axis=(1, 2))
        h = maybe_mix(h, PENULTIMATE, mix)
        feats[PENULTIMATE] = h
        logits = nn.Dense(self.num_classes, name="classifier")(h)
        return (logits, feats) if capture else logits

    def _normalise(self, h: jax.Array, train: bool, name: str) -> jax.Array:
        """BatchNorm (PyTorch's momentum 0.1 and eps 1e-5) when `norm="batch"`, else h."""
        if self.norm != "batch":
            return h
        return nn.BatchNorm(
            use_running_average=not train, momentum=0.9, epsilon=1e-5, dtype=self.dtype, name=name
        )(h)
