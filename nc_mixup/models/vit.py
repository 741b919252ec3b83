"""Vision Transformer (Dosovitskiy et al. 2021); ViT-B/4 for 32x32 images by default.

Patch embedding (a `patch_size` x `patch_size` convolution with stride `patch_size`), a learned
class token and position embedding, `depth` pre-LayerNorm encoder blocks (multi-head
self-attention with `num_heads` heads, GELU MLP of `mlp_dim`), a final LayerNorm; the class
token's output is the penultimate feature (`width` wide), one Dense the logits.

Capture/mix points: 'input', 'block1' .. 'block{depth}' (token sequences (B, 1 + N, width)) and
'penultimate'.
"""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from nc_mixup.mixup import INPUT, PENULTIMATE, MixSpec, maybe_mix
from nc_mixup.models.conv import Conv


class MlpBlock(nn.Module):
    """Dense-GELU-dropout-Dense-dropout."""

    mlp_dim: int
    dropout: float = 0.0
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array, train: bool) -> jax.Array:
        init = nn.initializers.xavier_uniform()
        bias_init = nn.initializers.normal(stddev=1e-6)
        y = nn.Dense(self.mlp_dim, dtype=self.dtype, kernel_init=init, bias_init=bias_init)(x)
        y = nn.Dropout(self.dropout, deterministic=not train)(nn.gelu(y))
        y = nn.Dense(x.shape[-1], dtype=self.dtype, kernel_init=init, bias_init=bias_init)(y)
        return nn.Dropout(self.dropout, deterministic=not train)(y)


class EncoderBlock(nn.Module):
    """x + MHA(LN(x)), then + MLP(LN(.))."""

    num_heads: int
    mlp_dim: int
    dropout: float = 0.0
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array, train: bool) -> jax.Array:
        y = nn.LayerNorm(dtype=self.dtype)(x)
        y = nn.MultiHeadDotProductAttention(
            num_heads=self.num_heads,
            dtype=self.dtype,
            kernel_init=nn.initializers.xavier_uniform(),
            deterministic=not train,
            dropout_rate=0.0,
        )(y, y)
        x = x + nn.Dropout(self.dropout, deterministic=not train)(y)
        y = nn.LayerNorm(dtype=self.dtype)(x)
        return x + MlpBlock(self.mlp_dim, self.dropout, self.dtype)(y, train)


class ViT(nn.Module):
    """ViT classifier with a class token."""

    num_classes: int
    patch_size: int = 4
    width: int = 768
    depth: int = 12
    num_heads: int = 12
    mlp_dim: int = 3072
    dropout: float = 0.0
    dtype: Any = jnp.float32

    @staticmethod
    def config_problems(cfg: dict[str, Any]) -> list[tuple[str, str]]:
        """(key, why) for config values this network cannot be built with."""
        if cfg["width"] % cfg["num_heads"]:
            return [("width", f"vit width must be divisible by num_heads={cfg['num_heads']}")]
        return []

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
        feats = {}
        h = maybe_mix(x.astype(self.dtype), INPUT, mix)
        p = self.patch_size
        h = Conv(
            self.width, (p, p), strides=(p, p), padding="VALID", dtype=self.dtype, name="embedding"
        )(h)
        b, gh, gw, c = h.shape
        h = h.reshape((b, gh * gw, c))
        cls = self.param("cls", nn.initializers.zeros, (1, 1, c), jnp.float32)
        h = jnp.concatenate([jnp.tile(cls.astype(h.dtype), (b, 1, 1)), h], axis=1)
        pos = self.param(
            "pos_embedding", nn.initializers.normal(stddev=0.02), (1, h.shape[1], c), jnp.float32
        )
        h = nn.Dropout(self.dropout, deterministic=not train)(h + pos.astype(h.dtype))
        for i in range(1, self.depth + 1):
            h = EncoderBlock(
                self.num_heads, self.mlp_dim, self.dropout, self.dtype, name=f"encoder_block{i}"
            )(h, train)
            h = maybe_mix(h, f"block{i}", mix)
            feats[f"block{i}"] = h
        h = nn.LayerNorm(dtype=self.dtype, name="encoder_norm")(h)
        h = h[:, 0].astype(jnp.float32)
        h = maybe_mix(h, PENULTIMATE, mix)
        feats[PENULTIMATE] = h
        logits = nn.Dense(self.num_classes, name="classifier")(h)
        return (logits, feats) if capture else logits
