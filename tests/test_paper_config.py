"""The paper profile's config file: every combination loads, the evidence's values are in it."""

from __future__ import annotations

import itertools

import pytest

from nc_mixup.config import load_config


@pytest.mark.parametrize(
    "arch,dataset,opt",
    list(
        itertools.product(
            ("wrn", "vit"),
            ("fashion_mnist", "cifar10", "cifar100"),
            ("default", "sgd", "adam", "adamw"),
        )
    ),
)
def test_every_paper_run_loads_and_validates(arch, dataset, opt):
    c = load_config(f"experiments/configs/paper.py:arch={arch},dataset={dataset},opt={opt}")
    assert c.dataset.name == dataset and c.dataset.image_size == 32
    assert c.batch_size == 128 and c.num_epochs == 500


def test_sgd_recipe_of_the_notebook():
    c = load_config("experiments/configs/paper.py:arch=vit,dataset=cifar10")
    assert c.optimizer.name == "sgd"  # ViT trained with SGD too (follow-up ef4218c main.py:208)
    assert (c.optimizer.learning_rate, c.optimizer.momentum, c.optimizer.weight_decay) == (
        0.1,
        0.9,
        1e-4,
    )
    assert c.optimizer.decay_mask == "no_classifier_bias"
    assert c.schedule.name == "multistep" and c.schedule.milestones == (150, 250, 450)
    assert c.schedule.decay_factor == 0.1 and c.schedule.warmup_epochs == 0.0
    assert c.augment.crop_padding == 4 and c.augment.flip and not c.dataset.augment
    assert c.mixup.alpha == 1.0 and not c.mixup.per_example
    assert c.snapshot_epochs[0] == 1 and c.snapshot_epochs[-1] == 500


def test_adamw_uses_deit_mask_and_aug_off_switch():
    c = load_config("experiments/configs/paper.py:arch=vit,opt=adamw,aug=0")
    assert c.optimizer.decay_mask == "deit" and c.schedule.name == "cosine"
    assert c.augment.crop_padding == 0 and not c.augment.flip
