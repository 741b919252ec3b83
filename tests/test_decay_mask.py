"""Weight-decay masks: which parameters each rule decays, and that optax honours them."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
import pytest

from nc_mixup.decay_mask import decay_mask, weight_decay_mask
from nc_mixup.models.vit import ViT
from nc_mixup.optim import FROZEN, TRAINABLE, classifier_labels


@pytest.fixture(scope="module")
def vit_params():
    model = ViT(num_classes=3, patch_size=4, width=8, depth=1, num_heads=2, mlp_dim=16)
    return model.init(jax.random.key(0), jnp.zeros((1, 8, 8, 1)))["params"]


def _flat(tree) -> dict[str, bool]:
    leaves = jax.tree_util.tree_flatten_with_path(tree)[0]
    return {"/".join(str(getattr(k, "key", k)) for k in path): bool(v) for path, v in leaves}


def test_deit_mask_exempts_biases_norms_position_and_class_token(vit_params):
    mask = _flat(decay_mask(vit_params, "deit"))
    assert not mask["cls"] and not mask["pos_embedding"]
    assert not mask["classifier/bias"] and mask["classifier/kernel"]
    assert not mask["encoder_norm/scale"] and not mask["encoder_norm/bias"]
    assert mask["embedding/kernel"] and not mask["embedding/bias"]
    attention = {k: v for k, v in mask.items() if "MultiHeadDotProductAttention" in k}
    assert attention and all(v == k.endswith("kernel") for k, v in attention.items())
    decayed = [k for k, v in mask.items() if v]
    assert all(k.endswith("kernel") for k in decayed)


def test_no_classifier_bias_and_all(vit_params):
    mask = _flat(decay_mask(vit_params, "no_classifier_bias"))
    assert [k for k, v in mask.items() if not v] == ["classifier/bias"]
    assert all(_flat(decay_mask(vit_params, "all")).values())
    with pytest.raises(ValueError, match="unknown decay mask"):
        decay_mask(vit_params, "none")


def _config(rule: str):
    return ml_collections.ConfigDict({"optimizer": {"decay_mask": rule}})


def test_optax_applies_only_the_masked_decay(vit_params):
    """add_decayed_weights with the mask: zero gradients become wd * p exactly where decayed."""
    zeros = jax.tree.map(jnp.zeros_like, vit_params)
    assert weight_decay_mask(_config("all")) is None
    tx = optax.add_decayed_weights(0.5, mask=weight_decay_mask(_config("deit")))
    updates, _ = tx.update(zeros, tx.init(vit_params), vit_params)
    mask = decay_mask(vit_params, "deit")
    for u, p, m in zip(
        jax.tree.leaves(updates), jax.tree.leaves(vit_params), jax.tree.leaves(mask), strict=True
    ):
        np.testing.assert_allclose(u, 0.5 * p if m else 0.0 * p)


def test_mask_fits_the_partial_trees_of_multi_transform(vit_params):
    """Fixed-ETF runs wrap the optimizer in multi_transform; the mask must still apply."""
    inner = optax.adamw(0.1, weight_decay=0.5, mask=weight_decay_mask(_config("deit")))
    tx = optax.multi_transform(
        {TRAINABLE: inner, FROZEN: optax.set_to_zero()}, classifier_labels(vit_params, frozen=True)
    )
    zeros = jax.tree.map(jnp.zeros_like, vit_params)
    updates, _ = tx.update(zeros, tx.init(vit_params), vit_params)
    flat_u, flat_p = _flat(jax.tree.map(lambda u: jnp.any(u != 0), updates)), vit_params
    assert not flat_u["classifier/kernel"] and not flat_u["classifier/bias"]  # frozen
    assert not flat_u["pos_embedding"] and not flat_u["cls"]  # not decayed
    assert flat_u["embedding/kernel"]  # decayed: -lr * wd * p
    np.testing.assert_allclose(
        updates["embedding"]["kernel"], -0.1 * 0.5 * flat_p["embedding"]["kernel"], rtol=1e-6
    )


@pytest.mark.parametrize("opt", ["sgd", "adam", "adamw"])
def test_the_optimizer_applies_the_mask(opt):
    """With zero gradients only weight decay moves the parameters: under 'no_classifier_bias'
    the classifier bias stays put and the kernels shrink; under 'all' the bias shrinks too."""
    import jax.numpy as jnp
    import optax

    from nc_mixup import config as config_lib
    from nc_mixup.optim import create_optimizer

    params = {
        "dense1": {"kernel": jnp.ones((2, 2)), "bias": jnp.ones(2)},
        "classifier": {"kernel": jnp.ones((2, 3)), "bias": jnp.ones(3)},
    }
    zeros = {k: {n: jnp.zeros_like(v) for n, v in d.items()} for k, d in params.items()}
    for rule, bias_moves in (("no_classifier_bias", False), ("all", True)):
        c = config_lib.default_config()
        c.optimizer.name, c.optimizer.weight_decay = opt, 0.1
        c.optimizer.decay_mask = rule
        tx = create_optimizer(c, optax.constant_schedule(0.5), params)
        updates, _ = tx.update(zeros, tx.init(params), params)
        new = optax.apply_updates(params, updates)
        assert float(new["classifier"]["kernel"][0, 0]) < 1.0, (opt, rule)
        assert (float(new["classifier"]["bias"][0]) < 1.0) == bias_moves, (opt, rule)
