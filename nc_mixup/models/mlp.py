"""Multi-layer perceptron: `depth` hidden Dense + ReLU layers of `width` units, then a classifier.

Capture/mix points: 'input' (the image), 'block1' .. 'block{depth-1}' (hidden layers), and
'penultimate' (the last hidden layer, the classifier's input).
"""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from nc_mixup.mixup import INPUT, PENULTIMATE, MixSpec, maybe_mix


class MLP(nn.Module):
    """ReLU MLP on flattened images."""

    num_classes: int
    width: int = 1024
    depth: int = 3
    dtype: Any = jnp.float32

    @property
    def layer_names(self) -> tuple[str, ...]:
        return tuple(f"block{i}" for i in range(1, self.depth))

    @nn.compact
    def __call__(
        self,
        x: jax.Array,
        train: bool = False,
        mix: MixSpec | None = None,
        capture: bool = False,
    ):
        del train  # no dropout or normalisation
        feats = {}
        h = maybe_mix(x.astype(self.dtype), INPUT, mix)
        h = h.reshape((h.shape[0], -1))
        for i in range(1, self.depth + 1):
            h = nn.relu(nn.Dense(self.width, dtype=self.dtype, name=f"dense{i}")(h))
            name = f"block{i}" if i < self.depth else PENULTIMATE
            h = maybe_mix(h, name, mix)
            feats[name] = h
        h = h.astype(jnp.float32)
        feats[PENULTIMATE] = h
        logits = nn.Dense(self.num_classes, name="classifier")(h)
        return (logits, feats) if capture else logits
