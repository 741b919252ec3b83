"""Smoke test: a tiny MLP on a real FashionMNIST subset, with input mixup; < 1 min on a CPU.

  nc-mixup train --config experiments/configs/smoke.py --workdir /tmp/smoke

2,000 training images (200 per class) and 1,000 test images, MLP 784-128x2-10, 3 epochs of
batch 100 (60 SGD steps). Checks the whole stack end to end; its accuracy (about 0.75) means
nothing about the science.
"""

from __future__ import annotations

import ml_collections

from nc_mixup.config import default_config


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
    del arg
    config = default_config()
    config.seed = 0
    config.dataset.name = "fashion_mnist"
    config.dataset.n_per_class = 200
    config.dataset.test_n_per_class = 100

    config.model.name = "mlp"
    config.model.width = 128
    config.model.depth = 2

    config.mixup.alpha = 1.0
    config.mixup.layer = 0
    config.loss = "ce"

    config.optimizer.name = "sgd"
    config.optimizer.learning_rate = 0.05
    config.optimizer.weight_decay = 5e-4
    config.optimizer.momentum = 0.9
    config.schedule.name = "cosine"

    config.batch_size = 100
    config.num_epochs = 3
    config.checkpoint_every_epochs = 1
    config.snapshot_epochs = (1,)
    config.eval_every_epochs = 1
    config.log_every_steps = 10
    return config
