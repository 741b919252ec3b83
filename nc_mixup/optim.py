"""Optimizers and learning-rate schedules (optax), from the config.

  sgd:   lr * (momentum SGD, optional Nesterov) of (g + weight_decay * p)   (PyTorch's SGD)
  adam:  Adam of (g + weight_decay * p)                                     (PyTorch's Adam)
  adamw: Adam with decoupled weight decay lr * weight_decay * p             (PyTorch's AdamW)

Schedules (per step): 'constant', 'multistep' (lr *= decay_factor at each milestone epoch) and
'cosine' (to 0 at the end of training), each after an optional linear warm-up from 0 over
`schedule.warmup_epochs`. With `fixed_etf` the classifier is neither updated nor weight-decayed:
its updates are exactly zero, so its parameters stay bit-identical.
"""

from __future__ import annotations

from typing import Any

import jax
import optax

from nc_mixup.decay_mask import weight_decay_mask

FROZEN = "frozen"
TRAINABLE = "trainable"


def create_learning_rate_fn(config: Any, steps_per_epoch: int) -> optax.Schedule:
    """The learning rate as a function of the global step."""
    base = float(config.optimizer.learning_rate)
    sched = config.schedule
    total = int(config.num_epochs) * steps_per_epoch
    warmup = min(int(round(float(sched.warmup_epochs) * steps_per_epoch)), total)
    if sched.name == "constant":
        main = optax.constant_schedule(base)
    elif sched.name == "multistep":
        boundaries: dict[int, float] = {}
        for epoch in sched.milestones:
            step = int(round(float(epoch) * steps_per_epoch)) - warmup
            if step > 0:
                boundaries[step] = boundaries.get(step, 1.0) * float(sched.decay_factor)
        main = optax.piecewise_constant_schedule(base, boundaries)
    elif sched.name == "cosine":
        main = optax.cosine_decay_schedule(base, decay_steps=max(total - warmup, 1))
    else:
        raise ValueError(f"unknown schedule {sched.name!r}")
    if warmup <= 0:
        return main
    return optax.join_schedules([optax.linear_schedule(0.0, base, warmup), main], [warmup])


def classifier_labels(params: Any, frozen: bool) -> Any:
    """A pytree like `params`: FROZEN for the 'classifier' leaves when `frozen`, else TRAINABLE."""

    def label(path: tuple, _: Any) -> str:
        top = getattr(path[0], "key", None) if path else None
        return FROZEN if frozen and top == "classifier" else TRAINABLE

    return jax.tree_util.tree_map_with_path(label, params)


def create_optimizer(
    config: Any, learning_rate_fn: optax.Schedule, params: Any
) -> optax.GradientTransformation:
    """The optimizer of `config.optimizer`; the classifier frozen when `config.fixed_etf`."""
    o = config.optimizer
    wd = float(o.weight_decay)
    mask = weight_decay_mask(config)  # None: every parameter (config.optimizer.decay_mask)
    if o.name == "sgd":
        momentum = float(o.momentum) or None
        tx = optax.chain(
            optax.add_decayed_weights(wd, mask=mask) if wd else optax.identity(),
            optax.sgd(learning_rate_fn, momentum=momentum, nesterov=bool(o.nesterov)),
        )
    elif o.name == "adam":
        tx = optax.chain(
            optax.add_decayed_weights(wd, mask=mask) if wd else optax.identity(),
            optax.adam(learning_rate_fn),
        )
    elif o.name == "adamw":
        tx = optax.adamw(learning_rate_fn, weight_decay=wd, mask=mask)
    else:
        raise ValueError(f"unknown optimizer {o.name!r}")
    if not config.fixed_etf:
        return tx
    return optax.multi_transform(
        {TRAINABLE: tx, FROZEN: optax.set_to_zero()}, classifier_labels(params, frozen=True)
    )
