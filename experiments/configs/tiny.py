r"""Smoke-sized profile: the quick runs shrunk to seconds, for tests of the reproduce pipeline.

Same arguments as `quick.py` (arch, seed, loss, opt, mixup, etf, layer,
dataset). It exercises every code
path of `nc-mixup reproduce --profile smoke`; its numbers mean nothing about the science.
"""

from __future__ import annotations

import ml_collections

from experiments.configs import load

NUM_EPOCHS = 4
SNAPSHOT_EPOCHS = (0, 1, 2, 3, 4)


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
    """The quick-profile run `arg`, with 50 images per class and a 2x64 MLP for 4 epochs."""
    config = load(f"experiments/configs/quick.py:{arg or ''}")
    config.dataset.n_per_class = 50
    config.dataset.test_n_per_class = 50
    config.model.width = 64 if config.model.name == "mlp" else 4
    config.model.depth = 2
    if config.model.name == "cnn":
        config.model.dense = 32
    config.batch_size = 50
    config.num_epochs = NUM_EPOCHS
    config.snapshot_epochs = SNAPSHOT_EPOCHS
    config.checkpoint_every_epochs = 2
    config.eval_every_epochs = 2
    config.log_every_steps = 10
    return config
