r"""Quick profile: a small MLP and a small CNN with BatchNorm on real FashionMNIST, CPU-sized.

The family of runs of `make reproduce PROFILE=quick`. Usage:

  nc-mixup train --config experiments/configs/quick.py:arch=cnn,loss=mse,seed=1 --workdir /tmp/run

Argument keys (all optional):
  arch=mlp|cnn       784-256x3-10 MLP, or a CNN with BatchNorm (see ARCHS)
  seed=0,1,...       training seed (initialisation, data order, mixup draws); the replicates
  loss=ce|mse        mixup loss (SPEC 1; MSE gives the straight segments the paper contrasts with)
  opt=sgd|adam|adamw optimizer (the optimizer-robustness experiment)
  mixup=1|0          mixup on (alpha = 1, the paper's value) or off (plain ERM baseline)
  etf=0|1            classifier frozen to a simplex ETF (the fixed-ETF experiment)
  layer=0|k          0: input mixup; k: manifold mixup after the k-th hidden block
  dataset=fashion_mnist|mnist
  wd=W               weight decay (default -1: the optimizer's value below) } the theory_residual
  depth=D, width=N   hidden blocks / units (default 0: the architecture's)  } study (issue 13)

Why these values (they are not the paper's; the paper profile is `paper.py`):
- 500 training images per class (5,000 in all) and all 10,000 test images: the geometry is
  measured on training data in the terminal phase of training (zero training error), which a
  small set reaches quickly; the full test set keeps the ECE estimate stable.
- Two architectures, so that every claim is judged on two (SPEC 6): the MLP, and a CNN with
  BatchNorm because the paper's networks normalise and the batch statistics matter for the
  analysis. Sizes were chosen for time (the profile trains 3 seeds x 5 kinds of run per
  architecture within the CI budget), checking only that training reaches the terminal phase,
  never the claim statistics: measured on 2 shared CPU cores (2026-12-06), the MLP 784-256x3-10
  for 60 epochs takes 6-8 s (99.2% clean training accuracy, 85.2% test accuracy); the CNN (8 and
  16 channels, BatchNorm, a Dense 128 penultimate layer) took 48-100 s for 30 epochs on the 28x28
  images (99.1% / 87.4%), because XLA's CPU convolutions are slow at so few channels (86 ms a
  step against 11 ms at 14x14, load 8): it therefore sees the images resized to 14x14 (bilinear,
  `dataset.image_size`), 60 epochs in about 21 s (97.1% clean training accuracy in eval mode,
  85.5% test accuracy; 30 epochs: 93.8%). (The earlier single-architecture profile used a
  784-512x3 MLP for 120 epochs: 30-50 s a run.)
- SGD with momentum 0.9, batch 128, cosine decay to 0 and weight decay 5e-4: the usual neural
  collapse recipe (Papyan, Han & Donoho 2020 use SGD, momentum 0.9, batch 128, weight decay 5e-4),
  with a cosine schedule so that a short run still ends with a small learning rate; learning rate
  0.05 (0.1 gave no better geometry on the earlier MLP, measured).
- MSE runs: learning rate x 0.2 (see MSE_LEARNING_RATE_FACTOR).
- Adam/AdamW learning rate 1e-3 (Kingma & Ba 2015 default); AdamW decoupled weight decay 5e-2.
- Fixed ETF: unit row norm (the default etf_norm; 2, the learned classifier's row norm in the
  earlier base run, gave no closer agreement with the theory, measured).
- Snapshots: epoch 0 (the randomly initialised network, a control of the claims) and four more
  for the training-dynamics experiment.
"""

from __future__ import annotations

import ml_collections

from experiments.configs import parse_arg
from nc_mixup.config import default_config

# Per-optimizer settings of the quick profile (see the module docstring for the reasons).
OPTIMIZERS = {
    "sgd": dict(name="sgd", learning_rate=0.05, weight_decay=5e-4, momentum=0.9, nesterov=False),
    "adam": dict(name="adam", learning_rate=1e-3, weight_decay=5e-4, momentum=0.9, nesterov=False),
    "adamw": dict(
        name="adamw", learning_rate=1e-3, weight_decay=5e-2, momentum=0.9, nesterov=False
    ),
}
# MSE (summed over classes) has gradients 2 (z - t) that do not saturate like CE's p - t: at the
# CE learning rate SGD diverges in the first steps, so MSE runs use a 5x smaller one.
MSE_LEARNING_RATE_FACTOR = 0.2
#: Per-architecture settings: model keys, epochs and snapshot epochs.
ARCHS = {
    "mlp": dict(
        model=dict(name="mlp", width=256, depth=3),
        num_epochs=60,
        snapshot_epochs=(0, 3, 10, 30, 60),
    ),
    "cnn": dict(
        model=dict(name="cnn", width=8, depth=2, norm="batch", dense=128),
        num_epochs=60,
        snapshot_epochs=(0, 3, 10, 30, 60),
        image_size=14,
    ),
}


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
    """The quick-profile run described by `arg` (see the module docstring)."""
    arg = parse_arg(
        arg,
        arch="mlp",
        dataset="fashion_mnist",
        loss="ce",
        opt="sgd",
        mixup=True,
        etf=False,
        layer=0,
        seed=0,
        wd=-1.0,
        depth=0,
        width=0,
    )
    if arg.opt not in OPTIMIZERS:
        raise ValueError(f"quick config: opt={arg.opt!r}, expected one of {sorted(OPTIMIZERS)}")
    if arg.arch not in ARCHS:
        raise ValueError(f"quick config: arch={arg.arch!r}, expected one of {sorted(ARCHS)}")
    arch = ARCHS[arg.arch]

    config = default_config()
    config.seed = arg.seed
    config.dataset.name = arg.dataset
    config.dataset.n_per_class = 500
    config.dataset.test_n_per_class = 0
    config.dataset.image_size = arch.get("image_size", 0)

    config.model.update(arch["model"])

    config.mixup.alpha = 1.0 if arg.mixup else 0.0
    config.mixup.per_example = False
    config.mixup.layer = arg.layer

    config.loss = arg.loss
    config.optimizer.update(OPTIMIZERS[arg.opt])
    if arg.loss == "mse":
        config.optimizer.learning_rate *= MSE_LEARNING_RATE_FACTOR
    config.schedule.name = "cosine"
    config.schedule.warmup_epochs = 0.0

    config.batch_size = 128
    config.num_epochs = arch["num_epochs"]
    config.fixed_etf = arg.etf
    # the theory_residual study (issue 13): weight decay, depth and width varied one at a time
    if arg.wd >= 0:
        config.optimizer.weight_decay = arg.wd
    if arg.depth < 0 or arg.width < 0:
        raise ValueError(f"quick config: depth={arg.depth}, width={arg.width}: expected >= 0")
    if arg.depth > 0:
        config.model.depth = arg.depth
    if arg.width > 0:
        config.model.width = arg.width
    config.checkpoint_every_epochs = 10
    config.snapshot_epochs = arch["snapshot_epochs"]
    config.eval_every_epochs = 10
    config.log_every_steps = 50
    return config
