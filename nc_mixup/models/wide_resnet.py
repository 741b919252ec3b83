"""Wide residual network (Zagoruyko & Komodakis 2016), pre-activation blocks, as in the paper.

WRN-`depth`-`widen`: depth = 6n + 4, three groups of n blocks with 16k, 32k, 64k channels
(k = widen), strides 1, 2, 2; each block is BN-ReLU-conv3x3-BN-ReLU-dropout-conv3x3 plus the
identity (or a 1x1 convolution of the pre-activated input when the shape changes). Then BN-ReLU and
global average pooling give the penultimate features (64k wide), and one Dense the logits.

Capture/mix points: 'input', 'block1', 'block2', 'block3' (group outputs, NHWC) and
'penultimate'. BatchNorm follows PyTorch (momentum 0.1, eps 1e-5); convolutions use He-normal
(fan-out) initialisation, as the reference implementation.
"""

from __future__ import annotations

import functools
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from nc_mixup.mixup import INPUT, PENULTIMATE, MixSpec, maybe_mix
from nc_mixup.models.conv import Conv

_conv_init = nn.initializers.variance_scaling(2.0, "fan_out", "normal")


class BasicBlock(nn.Module):
    """Pre-activation wide basic block."""

    features: int
    strides: int = 1
    dropout: float = 0.0
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array, train: bool) -> jax.Array:
        norm = functools.partial(
            nn.BatchNorm,
            use_running_average=not train,
            momentum=0.9,
            epsilon=1e-5,
            dtype=self.dtype,
        )
        conv = functools.partial(
            Conv, use_bias=False, dtype=self.dtype, padding="SAME", kernel_init=_conv_init
        )
        o = nn.relu(norm(name="bn1")(x))
        y = conv(self.features, (3, 3), strides=(self.strides, self.strides), name="conv1")(o)
        y = nn.relu(norm(name="bn2")(y))
        if self.dropout > 0:
            y = nn.Dropout(self.dropout, deterministic=not train)(y)
        y = conv(self.features, (3, 3), strides=(1, 1), name="conv2")(y)
        if x.shape[-1] != self.features or self.strides != 1:
            x = conv(self.features, (1, 1), strides=(self.strides, self.strides), name="shortcut")(
                o
            )
        return x + y


class WideResNet(nn.Module):
    """WRN-depth-widen for small images (CIFAR, FashionMNIST)."""

    num_classes: int
    depth: int = 40
    widen: int = 10
    dropout: float = 0.0
    dtype: Any = jnp.float32

    @staticmethod
    def config_problems(cfg: dict[str, Any]) -> list[tuple[str, str]]:
        """(key, why) for config values this network cannot be built with."""
        if (cfg["depth"] - 4) % 6:
            return [("depth", "wide_resnet depth must be 6n + 4, e.g. 16, 28 or 40")]
        return []

    @property
    def layer_names(self) -> tuple[str, ...]:
        return ("block1", "block2", "block3")

    @nn.compact
    def __call__(
        self,
        x: jax.Array,
        train: bool = False,
        mix: MixSpec | None = None,
        capture: bool = False,
    ):
        if (self.depth - 4) % 6 or self.depth < 10:
            raise ValueError(f"wide_resnet depth must be 6n + 4 (16, 28, 40, ...): {self.depth}")
        n = (self.depth - 4) // 6
        feats = {}
        h = maybe_mix(x.astype(self.dtype), INPUT, mix)
        h = Conv(
            16,
            (3, 3),
            strides=(1, 1),
            padding="SAME",
            use_bias=False,
            dtype=self.dtype,
            kernel_init=_conv_init,
            name="stem",
        )(h)
        for g, (channels, stride) in enumerate(((16, 1), (32, 2), (64, 2)), start=1):
            for b in range(n):
                h = BasicBlock(
                    channels * self.widen,
                    strides=stride if b == 0 else 1,
                    dropout=self.dropout,
                    dtype=self.dtype,
                    name=f"group{g}_block{b + 1}",
                )(h, train)
            h = maybe_mix(h, f"block{g}", mix)
            feats[f"block{g}"] = h
        h = nn.BatchNorm(
            use_running_average=not train, momentum=0.9, epsilon=1e-5, dtype=self.dtype, name="bn"
        )(h)
        h = jnp.mean(nn.relu(h).astype(jnp.float32), axis=(1, 2))
        h = maybe_mix(h, PENULTIMATE, mix)
        feats[PENULTIMATE] = h
        logits = nn.Dense(self.num_classes, name="classifier")(h)
        return (logits, feats) if capture else logits
