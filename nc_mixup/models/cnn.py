"""A small convolutional network for CPU runs.

`depth` stages, each a 3x3 convolution + ReLU + 2x2 max-pool, with `width * 2**(i-1)` channels in
stage i, then global average pooling. Capture/mix points: 'input', 'block1' .. 'block{depth}'
(stage outputs, NHWC) and 'penultimate' (the pooled features, `width * 2**(depth-1)` wide).
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
    dtype: Any = jnp.float32

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
        del train
        feats = {}
        h = maybe_mix(x.astype(self.dtype), INPUT, mix)
        for i in range(1, self.depth + 1):
            h = Conv(
                self.width * 2 ** (i - 1),
                kernel_size=(3, 3),
                strides=(1, 1),
                padding="SAME",
                use_bias=True,
                dtype=self.dtype,
                name=f"conv{i}",
            )(h)
            h = nn.max_pool(nn.relu(h), (2, 2), strides=(2, 2), padding="SAME")
            h = maybe_mix(h, f"block{i}", mix)
            feats[f"block{i}"] = h
        h = jnp.mean(h.astype(jnp.float32), axis=(1, 2))
        h = maybe_mix(h, PENULTIMATE, mix)
        feats[PENULTIMATE] = h
        logits = nn.Dense(self.num_classes, name="classifier")(h)
        return (logits, feats) if capture else logits
