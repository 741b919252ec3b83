"""The networks (nc_mixup.models): interface, captured features, input and manifold mixup."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from nc_mixup.mixup import MixSpec, mix
from nc_mixup.models import create_model

TINY = {
    "mlp": (dict(name="mlp", width=16, depth=3), (4, 28, 28, 1)),
    "cnn": (dict(name="cnn", width=4, depth=2), (4, 28, 28, 1)),
    "wide_resnet": (dict(name="wide_resnet", depth=10, widen=1, dropout=0.0), (4, 8, 8, 3)),
    "vit": (
        dict(name="vit", width=16, depth=2, num_heads=2, mlp_dim=32, patch_size=4),
        (4, 8, 8, 3),
    ),
}
PENULTIMATE_WIDTH = {"mlp": 16, "cnn": 8, "wide_resnet": 64, "vit": 16}


def _init(name):
    cfg, shape = TINY[name]
    model = create_model(cfg, 10)
    x = jax.random.normal(jax.random.key(0), shape)
    variables = jax.jit(model.init)(jax.random.key(1), x)
    return model, variables, x


def _apply(model, variables, x, **kwargs):
    """model.apply under jit (eager Flax compiles every primitive separately: slow)."""
    mix_spec = kwargs.pop("mix", None)
    fn = jax.jit(lambda v, x, m: model.apply(v, x, mix=m, **kwargs))
    return fn(variables, x, mix_spec)


@pytest.mark.parametrize("name", sorted(TINY))
def test_interface_and_captured_features(name):
    model, variables, x = _init(name)
    params = variables["params"]
    d = PENULTIMATE_WIDTH[name]
    assert params["classifier"]["kernel"].shape == (d, 10)
    assert params["classifier"]["bias"].shape == (10,)
    assert "penultimate" not in model.layer_names and "input" not in model.layer_names
    logits, feats = _apply(model, variables, x, capture=True)
    assert logits.shape == (4, 10) and logits.dtype == jnp.float32
    assert set(feats) == {*model.layer_names, "penultimate"}
    assert feats["penultimate"].shape == (4, d)
    # the classifier is one Dense layer on the penultimate features
    k, b = params["classifier"]["kernel"], params["classifier"]["bias"]
    np.testing.assert_allclose(feats["penultimate"] @ k + b, logits, rtol=1e-5, atol=1e-5)


def test_layer_names():
    assert create_model(TINY["mlp"][0], 10).layer_names == ("block1", "block2")
    assert create_model(TINY["wide_resnet"][0], 10).layer_names == ("block1", "block2", "block3")
    assert create_model(TINY["vit"][0], 10).layer_names == ("block1", "block2")
    with pytest.raises(ValueError, match="unknown model"):
        create_model({"name": "resnet"}, 10)


@pytest.mark.parametrize("name", ["mlp", "cnn", "vit"])
def test_input_mixup_equals_forward_of_mixed_input(name):
    model, variables, x = _init(name)
    spec = MixSpec(layer=0, lam=jnp.float32(0.3), perm=jnp.array([2, 0, 3, 1]))
    got = _apply(model, variables, x, mix=spec)
    np.testing.assert_allclose(got, _apply(model, variables, mix(x, 0.3, spec.perm)), atol=1e-5)


@pytest.mark.parametrize(
    "name,layer", [("mlp", "block1"), ("cnn", "block1"), ("vit", "block2"), ("mlp", "penultimate")]
)
def test_manifold_mixup_mixes_the_named_layer(name, layer):
    model, variables, x = _init(name)
    perm = jnp.array([3, 2, 1, 0])
    lam = jnp.array([0.1, 0.4, 0.6, 0.9], jnp.float32)  # per example
    _, clean = _apply(model, variables, x, capture=True)
    logits, mixed = _apply(model, variables, x, capture=True, mix=MixSpec(layer, lam, perm))
    names = [*model.layer_names, "penultimate"]
    at = names.index(layer)
    for before in names[:at]:  # layers before the mixing point are untouched
        np.testing.assert_array_equal(mixed[before], clean[before])
    np.testing.assert_allclose(mixed[layer], mix(clean[layer], lam, perm), rtol=1e-5, atol=1e-6)
    if at + 1 < len(names):  # and later layers see the mixed activations
        assert not np.allclose(mixed[names[-1]], clean[names[-1]])
    # the logits are those of the mixed activations, not mixed logits
    clean_logits = model.apply(variables, x)
    assert (
        not np.allclose(logits, mix(clean_logits, lam, perm), atol=1e-4) or layer == "penultimate"
    )


def test_wide_resnet_batchnorm_and_dropout():
    cfg = dict(name="wide_resnet", depth=10, widen=1, dropout=0.3)
    model = create_model(cfg, 10)
    x = jax.random.normal(jax.random.key(0), (4, 8, 8, 3))
    variables = jax.jit(model.init)(jax.random.key(1), x)
    assert "batch_stats" in variables
    spec = MixSpec("block2", jnp.float32(0.5), jnp.array([1, 0, 3, 2]))
    (logits, feats), updates = _apply(
        model,
        variables,
        x,
        train=True,
        mix=spec,
        capture=True,
        rngs={"dropout": jax.random.key(2)},
        mutable=["batch_stats"],
    )
    assert logits.shape == (4, 10) and feats["block3"].shape == (4, 2, 2, 64)
    changed = jax.tree.map(
        lambda a, b: bool(jnp.any(a != b)), updates["batch_stats"], variables["batch_stats"]
    )
    assert all(jax.tree.leaves(changed))


def test_bfloat16_compute_keeps_float32_params_and_logits():
    model = create_model(TINY["mlp"][0], 10, dtype=jnp.bfloat16)
    x = jnp.ones((2, 28, 28, 1))
    variables = jax.jit(model.init)(jax.random.key(0), x)
    assert all(p.dtype == jnp.float32 for p in jax.tree.leaves(variables))
    logits, feats = _apply(model, variables, x, capture=True)
    assert logits.dtype == jnp.float32 and feats["block1"].dtype == jnp.bfloat16


def test_paper_sized_models():
    """WRN-40-10 (about 55.8M parameters, as in the paper) and ViT-B/4 (about 85M) for 32x32."""

    def count(cfg):
        model = create_model(cfg, 10)
        shapes = jax.eval_shape(model.init, jax.random.key(0), jnp.ones((1, 32, 32, 3)))
        return sum(np.prod(p.shape) for p in jax.tree.leaves(shapes["params"]))

    assert 55.5e6 < count(dict(name="wide_resnet", depth=40, widen=10)) < 56.2e6
    assert 84e6 < count(dict(name="vit")) < 86.5e6
