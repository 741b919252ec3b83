r"""WRN-16-8 on FashionMNIST (32x32) with mixup: the training run of benchmarks/device_check.sh.

A network small enough to train for a few dozen epochs in the 4 minutes the device check gives
it on one GPU, with the paper profile's recipe (experiments/configs/paper.py) otherwise, so the
accelerator runs the same code paths as a paper run: WideResNet, input mixup with alpha 1 and one
lambda per batch, SGD, random crop + flip, float32.

  nc-mixup train --config experiments/configs/wrn16_8_fashion_mnist.py:epochs=30 --workdir W

Argument keys (all optional):
  epochs=N   the cosine schedule's length (default 30); device_check.sh also stops the run (as
             on SIGTERM: checkpoint, exit 0) when its time is up, so fewer epochs may be done.
  smoke=1    tiny shapes for CPU: WRN-10-1, 20 training images per class, batch 50 (4 steps an
             epoch); device_check.sh --cpu-smoke passes epochs=2.

Sources: depth 16, widen 8 (a WideResNet of Zagoruyko & Komodakis 2016, chosen for the time
budget); SGD lr 0.1, momentum 0.9, weight decay 1e-4 without the classifier bias, batch 128,
crop pad 4 + flip, mixup alpha 1 per batch: as experiments/configs/paper.py (its sources there).
Cosine schedule to 0 over `epochs`: ASSUMED (a short run must end at a small learning rate; the
paper profile's steps at 30/50/90% of 500 epochs do not fit a short run).
"""

from __future__ import annotations

import ml_collections

from experiments.configs import load, parse_arg

DEFAULT_EPOCHS = 30


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
    """The WRN-16-8 FashionMNIST run of the device check (see the module docstring)."""
    arg = parse_arg(arg, epochs=DEFAULT_EPOCHS, smoke=False)
    if arg.epochs < 1:
        raise ValueError(f"wrn16_8_fashion_mnist config: epochs={arg.epochs} must be >= 1")
    config = load("experiments/configs/paper.py:arch=wrn,dataset=fashion_mnist")
    config.model.update(dict(name="wide_resnet", depth=16, widen=8, dropout=0.0))
    config.schedule.update(dict(name="cosine", warmup_epochs=0.0, milestones=()))
    config.num_epochs = arg.epochs
    config.snapshot_epochs = ()
    config.checkpoint_every_epochs = 5
    config.eval_every_epochs = 5
    config.log_every_steps = 50
    if arg.smoke:
        config.model.update(dict(depth=10, widen=1))
        config.dataset.n_per_class = 20
        config.dataset.test_n_per_class = 10
        config.batch_size = 50
        config.checkpoint_every_epochs = 1
        config.eval_every_epochs = 1
        config.log_every_steps = 2
    return config
