"""Mixup: sample the coefficient and the partner, and mix a batch of activations.

Input mixup (Zhang et al. 2018) and manifold mixup (Verma et al. 2019) share one operation,
applied at a different place in the network:

    h <- lam * h + (1 - lam) * h[perm],     lam ~ Beta(alpha, alpha),  perm a random permutation,

with one lam per batch (a scalar) or one per example (shape (B,)). The model applies it at the
layer named by `MixSpec.layer` (see nc_mixup.models); the loss uses the same `lam` and `perm` to
build the soft targets (nc_mixup.losses), so both sides always agree.
"""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp
from flax import struct

INPUT = "input"
PENULTIMATE = "penultimate"


@struct.dataclass
class MixSpec:
    """Where and how to mix one batch.

    Attributes:
      layer: 0 or 'input' (input mixup), or a name in `model.layer_names` or 'penultimate'
        (manifold mixup). Static: a different layer is a different compiled program.
      lam: the mixing coefficient, a scalar or shape (B,) (one per example).
      perm: int32 (B,), the partner of example i is example perm[i].
    """

    layer: int | str = struct.field(pytree_node=False)
    lam: jax.Array
    perm: jax.Array

    @property
    def layer_name(self) -> str:
        """The layer as a name: 0 is 'input'."""
        return INPUT if self.layer in (0, INPUT) else str(self.layer)


def sample_lambda(
    rng: jax.Array, alpha: float, batch_size: int, per_example: bool = False
) -> jax.Array:
    """lam ~ Beta(alpha, alpha): a float32 scalar, or shape (batch_size,) if `per_example`."""
    if alpha <= 0:
        raise ValueError(f"mixup alpha must be > 0 to sample lambda, got {alpha}")
    shape = (batch_size,) if per_example else ()
    return jax.random.beta(rng, alpha, alpha, shape=shape, dtype=jnp.float32)


def sample_permutation(rng: jax.Array, batch_size: int) -> jax.Array:
    """A uniformly random permutation of range(batch_size): the mixup partners."""
    return jax.random.permutation(rng, batch_size).astype(jnp.int32)


def sample_mix(
    rng: jax.Array,
    alpha: float,
    batch_size: int,
    *,
    per_example: bool = False,
    layer: int | str = 0,
) -> MixSpec:
    """Draw (lam, perm) for one batch from `rng`."""
    lam_rng, perm_rng = jax.random.split(rng)
    return MixSpec(
        layer=layer,
        lam=sample_lambda(lam_rng, alpha, batch_size, per_example),
        perm=sample_permutation(perm_rng, batch_size),
    )


def mix(h: jax.Array, lam: jax.Array, perm: jax.Array) -> jax.Array:
    """lam * h + (1 - lam) * h[perm], `lam` scalar or (B,) broadcast over h's trailing axes."""
    lam = jnp.asarray(lam)
    if lam.ndim == 1:
        lam = lam.reshape(lam.shape + (1,) * (h.ndim - 1))
    lam = lam.astype(h.dtype)
    return lam * h + (1 - lam) * h[perm]


def maybe_mix(h: jax.Array, name: str, spec: MixSpec | None) -> jax.Array:
    """Mix `h` if `spec` asks for mixing at the layer called `name`; else return it unchanged."""
    if spec is not None and spec.layer_name == name:
        return mix(h, spec.lam, spec.perm)
    return h


def resolve_layer(layer: int | str, layer_names: Sequence[str]) -> str:
    """The config's `mixup.layer` as a mixing-point name of a model.

    0 (or 'input') is the input; an int k >= 1 is the output of the k-th named block, and
    k = len(layer_names) + 1 is the penultimate features; a string must be 'input',
    'penultimate' or one of `layer_names`. Raises ValueError otherwise.
    """
    names = (INPUT, *layer_names, PENULTIMATE)
    if isinstance(layer, bool):
        raise ValueError(f"mixup layer must be an int or a name, got {layer!r}")
    if isinstance(layer, int):
        if 0 <= layer < len(names):
            return names[layer]
        raise ValueError(
            f"mixup layer {layer} out of range: 0..{len(names) - 1} for layers {list(names)}"
        )
    if isinstance(layer, str) and layer in names:
        return layer
    raise ValueError(f"unknown mixup layer {layer!r}: expected an int or one of {list(names)}")
