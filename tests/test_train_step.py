"""train_step: the loss is that of the MIXED forward pass; fixed ETF; optimizers; schedules."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from nc_mixup import config as config_lib
from nc_mixup import losses, mixup, optim, train
from nc_mixup.data import load_dataset
from nc_mixup.data.pipeline import preprocess
from nc_mixup.models import create_model


def _config(**overrides):
    base = {
        "model.name": "mlp",
        "model.width": 32,
        "model.depth": 2,
        "batch_size": 32,
        "num_epochs": 2,
        "optimizer.learning_rate": 0.05,
    }
    base.update(overrides)
    return config_lib.apply_overrides(
        config_lib.default_config(), [(k, str(v)) for k, v in base.items()]
    )


@pytest.fixture(scope="module")
def batch(fashion_mnist_dir):
    images, labels = load_dataset("fashion_mnist", "train", raw_dir=fashion_mnist_dir)
    return {
        "image": preprocess(images[:32], "fashion_mnist"),
        "label": np.asarray(labels[:32], np.int32),
    }


def _state(config, seed=0):
    model = create_model(config.model, 10)
    state = jax.jit(
        lambda rng: train.create_train_state(config, model, rng, (28, 28, 1), steps_per_epoch=10)
    )(jax.random.key(seed))
    return model, state


@pytest.mark.parametrize("layer", [0, 1])
def test_loss_is_computed_on_the_mixed_forward_pass(batch, layer):
    config = _config(**{"mixup.alpha": 1.0, "mixup.layer": layer})
    model, state = _state(config)
    params0 = jax.tree.map(np.asarray, state.params)
    rng = jax.random.key(7)
    _, metrics = jax.jit(train.train_step)(state, batch, rng)

    spec, _ = train.step_randomness(state.spec, rng, 0, 32)
    assert spec.layer_name == ("input" if layer == 0 else "block1")
    variables = {"params": params0}
    logits_mixed = model.apply(variables, batch["image"], mix=spec)
    if layer == 0:  # input mixup: the forward pass of the mixed images
        np.testing.assert_allclose(
            logits_mixed,
            model.apply(variables, mixup.mix(batch["image"], spec.lam, spec.perm)),
            rtol=1e-5,
            atol=1e-5,
        )
    expected = losses.mixup_loss(logits_mixed, batch["label"], spec.lam, spec.perm)
    assert float(metrics["loss"]) == pytest.approx(float(expected), rel=1e-5)

    # a peer's bug: logits of the clean batch mixed afterwards. Must differ from ours.
    logits = model.apply(variables, batch["image"])
    wrong = losses.mixup_loss(
        mixup.mix(logits, spec.lam, spec.perm), batch["label"], spec.lam, spec.perm
    )
    assert abs(float(wrong) - float(metrics["loss"])) > 1e-3


def test_no_mixup_is_plain_cross_entropy(batch):
    config = _config(**{"mixup.alpha": 0.0})
    model, state = _state(config)
    logits = model.apply({"params": state.params}, batch["image"])
    expected = optax.softmax_cross_entropy_with_integer_labels(logits, batch["label"]).mean()
    _, metrics = jax.jit(train.train_step)(state, batch, jax.random.key(0))
    assert float(metrics["loss"]) == pytest.approx(float(expected), rel=1e-5)


def test_fixed_etf_classifier_stays_bit_identical(batch):
    config = _config(
        **{"fixed_etf": True, "optimizer.weight_decay": 0.05, "optimizer.learning_rate": 0.1}
    )
    _, state = _state(config)
    kernel0 = np.asarray(state.params["classifier"]["kernel"]).copy()
    other0 = np.asarray(state.params["dense1"]["kernel"]).copy()
    # rows w_k of W = kernel^T form a simplex ETF with norm etf_norm; b = 0
    gram = kernel0.T @ kernel0
    K = 10
    np.testing.assert_allclose(gram, (K / (K - 1)) * (np.eye(K) - 1 / K), atol=1e-5)
    np.testing.assert_array_equal(state.params["classifier"]["bias"], np.zeros(K, np.float32))

    step = jax.jit(train.train_step, donate_argnums=0)
    for i in range(5):
        state, _ = step(state, batch, jax.random.key(i))
    np.testing.assert_array_equal(np.asarray(state.params["classifier"]["kernel"]), kernel0)
    np.testing.assert_array_equal(state.params["classifier"]["bias"], np.zeros(K, np.float32))
    assert not np.allclose(np.asarray(state.params["dense1"]["kernel"]), other0)


def test_fixed_etf_needs_enough_features():
    with pytest.raises(ValueError, match="d >= number of classes"):
        train.simplex_etf_classifier(8, 10, 1.0, 0)


@pytest.mark.parametrize("name", ["sgd", "adam", "adamw"])
def test_optimizers_weight_decay(name):
    """With zero gradients only the weight decay moves the parameters, by the expected rule."""
    config = _config(
        **{
            "optimizer.name": name,
            "optimizer.weight_decay": 0.1,
            "optimizer.learning_rate": 0.5,
            "schedule.name": "constant",
        }
    )
    params = {"dense1": {"kernel": jnp.ones((2, 2))}, "classifier": {"kernel": jnp.ones(2)}}
    tx = optim.create_optimizer(config, lambda _: 0.5, params)
    zeros = jax.tree.map(jnp.zeros_like, params)
    updates, _ = tx.update(zeros, tx.init(params), params)
    new = optax.apply_updates(params, updates)
    if name == "adamw":  # decoupled: p - lr * wd * p
        expected = 1 - 0.5 * 0.1
    elif name == "sgd":  # p - lr * wd * p on the first step
        expected = 1 - 0.5 * 0.1
    else:  # adam of the L2 gradient wd * p: first step moves by lr (normalised)
        expected = 1 - 0.5
    np.testing.assert_allclose(new["dense1"]["kernel"], expected, rtol=1e-4)
    np.testing.assert_allclose(new["classifier"]["kernel"], expected, rtol=1e-4)


def test_schedules():
    spe = 10

    def lr(**kw):
        c = _config(**{"num_epochs": 10, "optimizer.learning_rate": 1.0, **kw})
        return optim.create_learning_rate_fn(c, spe)

    constant = lr(**{"schedule.name": "constant"})
    assert float(constant(0)) == float(constant(99)) == 1.0
    multi = lr(
        **{"schedule.name": "multistep", "schedule.milestones": "3,6", "schedule.decay_factor": 0.1}
    )
    assert [round(float(multi(s)), 6) for s in (0, 29, 30, 59, 60, 99)] == [
        1,
        1,
        0.1,
        0.1,
        0.01,
        0.01,
    ]
    cosine = lr(**{"schedule.name": "cosine"})
    assert float(cosine(0)) == 1.0 and float(cosine(50)) == pytest.approx(0.5)
    assert float(cosine(100)) == pytest.approx(0.0, abs=1e-7)
    warm = lr(**{"schedule.name": "cosine", "schedule.warmup_epochs": 2})
    assert float(warm(0)) == 0.0 and float(warm(10)) == pytest.approx(0.5)
    assert float(warm(20)) == pytest.approx(1.0)
    assert float(warm(60)) == pytest.approx(0.5)
