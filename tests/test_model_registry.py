"""Architectures by name (nc_mixup.models.MODELS): each model owns its config keys, defaults and
checks; a new architecture is one Module plus one registry entry, and then trains end to end."""

import json

import flax.linen as nn
import jax
import jax.numpy as jnp
import pytest

from nc_mixup import config as config_lib
from nc_mixup import models, train
from nc_mixup.config import ConfigError
from nc_mixup.metrics_writer import read_metrics
from nc_mixup.mixup import INPUT, PENULTIMATE, maybe_mix


class Toy(nn.Module):
    """The smallest model with the interface: one hidden Dense layer of `hidden` units."""

    num_classes: int
    hidden: int = 8
    dtype: object = jnp.float32

    @property
    def layer_names(self):
        return ()

    @nn.compact
    def __call__(self, x, train=False, mix=None, capture=False):
        h = maybe_mix(x.astype(self.dtype), INPUT, mix).reshape((x.shape[0], -1))
        h = nn.relu(nn.Dense(self.hidden, dtype=self.dtype, name="hidden")(h))
        h = maybe_mix(h.astype(jnp.float32), PENULTIMATE, mix)
        logits = nn.Dense(self.num_classes, name="classifier")(h)
        return (logits, {PENULTIMATE: h}) if capture else logits

    @staticmethod
    def config_problems(cfg):
        return [("hidden", "must be even")] if cfg["hidden"] % 2 else []


@pytest.fixture
def toy_registered(monkeypatch):
    monkeypatch.setitem(models.MODELS, "toy", Toy)


def test_model_keys_come_from_the_module():
    assert models.model_defaults("mlp") == {"width": 1024, "depth": 3}
    assert models.model_defaults("wide_resnet") == {"depth": 40, "widen": 10, "dropout": 0.0}
    c = config_lib.merge_onto_defaults({"model": {"name": "wide_resnet", "depth": 16}})
    assert c.model.to_dict() == {"name": "wide_resnet", "depth": 16, "widen": 10, "dropout": 0.0}


@pytest.mark.parametrize(
    "model, match",
    [
        ({"name": "mlp", "widht": 64}, "unknown config key 'model.widht'"),
        ({"name": "mlp", "widen": 4}, "unknown config key 'model.widen'"),  # a WRN key
        ({"name": "resnet"}, "'model.name'"),
        ({"name": "wide_resnet", "depth": 12}, "'model.depth'.*6n \\+ 4"),
        ({"name": "vit", "width": 10, "num_heads": 3}, "'model.width'.*num_heads"),
        ({"name": "cnn", "norm": "layer"}, "'model.norm'"),
        ({"name": "mlp", "depth": 0}, "'model.depth'.*>= 1"),
        ({"name": "vit", "dropout": 1.5}, "'model.dropout'"),
    ],
)
def test_bad_model_keys_name_the_key(model, match):
    with pytest.raises(ConfigError, match=match):
        config_lib.merge_onto_defaults({"model": model})


def test_changing_model_name_on_the_command_line_starts_from_its_defaults():
    base = config_lib.merge_onto_defaults({"model": {"name": "mlp", "width": 64}})
    c = config_lib.apply_overrides(
        base, ["--config.model.depth=16", "--config.model.name=wide_resnet"]
    )
    assert c.model.to_dict() == {"name": "wide_resnet", "depth": 16, "widen": 10, "dropout": 0.0}
    with pytest.raises(ConfigError, match="'model.widht'"):
        config_lib.apply_overrides(base, ["--config.model.widht=3"])


def test_a_config_json_of_the_flat_schema_still_loads():
    flat = json.loads(config_lib.to_json(config_lib.default_config()))
    flat["model"] = {
        "name": "mlp",
        "width": 64,
        "depth": 2,
        "widen": 10,
        "dropout": 0.0,
        "patch_size": 4,
        "num_heads": 12,
        "mlp_dim": 3072,
    }
    c = config_lib.from_json(json.dumps(flat))
    assert c.model.to_dict() == {"name": "mlp", "width": 64, "depth": 2}


def test_a_registered_toy_architecture_is_checked_and_trains(
    toy_registered, tmp_path, fashion_mnist_dir
):
    with pytest.raises(ConfigError, match="'model.hidden'.*even"):
        config_lib.merge_onto_defaults({"model": {"name": "toy", "hidden": 3}})
    with pytest.raises(ConfigError, match="'model.width'"):
        config_lib.merge_onto_defaults({"model": {"name": "toy", "width": 3}})
    config = config_lib.apply_overrides(
        config_lib.default_config(),
        {
            "model.name": "toy",
            "model.hidden": "6",
            "dataset.n_per_class": "4",
            "dataset.test_n_per_class": "2",
            "batch_size": "40",
            "num_epochs": "1",
            "log_every_steps": "1",
        },
    )
    model = models.create_model(config.model, 10)
    assert isinstance(model, Toy) and model.hidden == 6
    summary = train.train_and_evaluate(config, tmp_path / "run")
    assert summary["step"] == 1  # 40 images, batch 40: one step
    assert [r["step"] for r in read_metrics(tmp_path / "run") if "loss" in r] == [1]
    run = train.load_run(tmp_path / "run")
    assert run.variables["params"]["hidden"]["kernel"].shape == (784, 6)
    assert jax.tree.leaves(run.variables)
