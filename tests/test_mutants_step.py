"""Kill mutmut's survivors in nc_mixup/train.py's step_randomness (issue 16; docs/mutation.md)."""

import jax
import jax.numpy as jnp

from nc_mixup import train


def _spec(alpha, per_example, layer):
    return train.TrainSpec(
        num_classes=4,
        loss="ce",
        mixup_alpha=alpha,
        mixup_per_example=per_example,
        mixup_layer=layer,
        learning_rate_fn=lambda step: 0.1,
    )


def test_step_randomness_passes_the_spec_to_the_mix():
    mix, _ = train.step_randomness(
        _spec(1.0, True, "penultimate"), jax.random.key(0), jnp.int32(0), 8
    )
    assert mix.lam.shape == (8,)  # one lambda per example
    assert mix.layer == "penultimate"
    mix, _ = train.step_randomness(_spec(1.0, False, "block1"), jax.random.key(0), jnp.int32(0), 8)
    assert mix.lam.shape == () and mix.layer == "block1"


def test_alpha_zero_means_no_mixup():
    mix, dropout_key = train.step_randomness(
        _spec(0.0, False, "input"), jax.random.key(0), jnp.int32(3), 8
    )
    assert mix is None
    assert dropout_key.shape == ()
