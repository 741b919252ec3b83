"""Which parameters weight decay acts on: the rules of `config.optimizer.decay_mask`.

  all                 every parameter (PyTorch's `SGD(net.parameters(), weight_decay=...)`).
  no_classifier_bias  every parameter except the classifier's bias, which the unconstrained
                      features model leaves unregularised (the runs compared with the theory).
  deit                DeiT / timm (Touvron et al. 2021): no decay on biases, normalisation scales
                      (and any other parameter with <= 1 dimension), the position embedding and
                      the class token; decay on every other kernel. Includes the classifier bias.

`weight_decay_mask(config)` is what optax's `mask=` argument takes (of `add_decayed_weights` or
`adamw`): None for 'all' (decay everything), else a function of the parameter tree. A function
rather than a fixed tree so that it also fits the partial trees `optax.multi_transform` hands to
its inner transformations (the fixed-ETF runs), whose frozen leaves are absent.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import numpy as np

from nc_mixup.config import DECAY_MASKS

# Parameter names DeiT exempts besides biases and norm scales (timm's `no_weight_decay`:
# 'pos_embed', 'cls_token'; here the ViT's 'pos_embedding' and 'cls').
_DEIT_NO_DECAY_NAMES = frozenset({"pos_embedding", "cls"})


def _names(path: tuple) -> list[str]:
    return [str(getattr(k, "key", getattr(k, "name", k))) for k in path]


def _decays(rule: str, names: list[str], leaf: Any) -> bool:
    """Whether the parameter at `names` is weight-decayed under `rule`."""
    if rule == "all":
        return True
    if rule == "no_classifier_bias":
        return not (names[:1] == ["classifier"] and names[-1:] == ["bias"])
    if rule == "deit":
        last = names[-1] if names else ""
        return not (np.ndim(leaf) <= 1 or last in ("bias", "scale") or last in _DEIT_NO_DECAY_NAMES)
    raise ValueError(f"unknown decay mask {rule!r}, expected one of {', '.join(DECAY_MASKS)}")


def decay_mask(params: Any, rule: str) -> Any:
    """A pytree like `params`: True where weight decay applies under `rule` (see module doc)."""
    if rule not in DECAY_MASKS:
        raise ValueError(f"unknown decay mask {rule!r}, expected one of {', '.join(DECAY_MASKS)}")
    return jax.tree_util.tree_map_with_path(
        lambda path, leaf: _decays(rule, _names(path), leaf), params
    )


def weight_decay_mask(config: Any) -> Callable[[Any], Any] | None:
    """optax `mask=` for `config.optimizer.decay_mask`: None ('all') or params -> bool tree."""
    rule = str(config.optimizer.get("decay_mask", "all"))
    if rule not in DECAY_MASKS:
        raise ValueError(f"unknown decay mask {rule!r}, expected one of {', '.join(DECAY_MASKS)}")
    if rule == "all":
        return None
    return lambda params: decay_mask(params, rule)
