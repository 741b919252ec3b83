"""Mixup losses, written on the logits of the MIXED forward pass.

With soft target t_i = lam e_{y_i} + (1 - lam) e_{y_perm[i]}:

  ce:  lam CE(z_i, y_i) + (1 - lam) CE(z_i, y_perm[i]) = -sum_k t_ik log softmax(z_i)_k
       (CE is linear in the target, so the two forms are the same number);
  mse: sum_k (z_ik - t_ik)^2   (squared error to the soft target, summed over classes).

Both are averaged over the batch, in float32 whatever the compute dtype. Without mixup (`lam`
None) the targets are the one-hot labels.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

LOSSES = ("ce", "mse")


def soft_targets(
    labels: jax.Array,
    num_classes: int,
    lam: jax.Array | None = None,
    perm: jax.Array | None = None,
) -> jax.Array:
    """(B, K) targets lam e_{y_i} + (1 - lam) e_{y_perm[i]}; one-hot when `lam` is None."""
    onehot = jax.nn.one_hot(labels, num_classes, dtype=jnp.float32)
    if lam is None:
        return onehot
    lam = jnp.asarray(lam, jnp.float32)
    if lam.ndim == 1:
        lam = lam[:, None]
    return lam * onehot + (1 - lam) * onehot[perm]


def cross_entropy(logits: jax.Array, targets: jax.Array) -> jax.Array:
    """Per-example -sum_k t_k log softmax(z)_k, shape (B,)."""
    logp = jax.nn.log_softmax(logits.astype(jnp.float32), axis=-1)
    return -jnp.sum(targets * logp, axis=-1)


def squared_error(logits: jax.Array, targets: jax.Array) -> jax.Array:
    """Per-example sum_k (z_k - t_k)^2, shape (B,)."""
    return jnp.sum(jnp.square(logits.astype(jnp.float32) - targets), axis=-1)


def per_example_loss(logits: jax.Array, targets: jax.Array, kind: str = "ce") -> jax.Array:
    """The per-example loss `kind` ('ce' or 'mse') against (soft) targets, shape (B,)."""
    if kind == "ce":
        return cross_entropy(logits, targets)
    if kind == "mse":
        return squared_error(logits, targets)
    raise ValueError(f"unknown loss {kind!r}: expected one of {LOSSES}")


def mixup_loss(
    logits: jax.Array,
    labels: jax.Array,
    lam: jax.Array | None = None,
    perm: jax.Array | None = None,
    kind: str = "ce",
) -> jax.Array:
    """Mean mixup loss of `logits` (the output of the mixed input) for labels and (lam, perm)."""
    targets = soft_targets(labels, logits.shape[-1], lam, perm)
    return jnp.mean(per_example_loss(logits, targets, kind))


def mixup_accuracy(
    logits: jax.Array,
    labels: jax.Array,
    lam: jax.Array | None = None,
    perm: jax.Array | None = None,
) -> jax.Array:
    """Mean of lam [argmax z = y_i] + (1 - lam) [argmax z = y_perm[i]] (accuracy if no mix)."""
    pred = jnp.argmax(logits, axis=-1)
    hit = (pred == labels).astype(jnp.float32)
    if lam is None:
        return jnp.mean(hit)
    lam = jnp.asarray(lam, jnp.float32)
    return jnp.mean(lam * hit + (1 - lam) * (pred == labels[perm]).astype(jnp.float32))
