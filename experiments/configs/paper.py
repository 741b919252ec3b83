r"""Paper profile: WRN-40-10 and ViT-B/4 on FashionMNIST (32x32), CIFAR-10 and CIFAR-100.

The family of runs of `make reproduce PROFILE=paper` (GPU/TPU). Usage:

  nc-mixup train --config experiments/configs/paper.py:arch=wrn,dataset=cifar10,opt=sgd \
      --workdir runs/wrn_c10

Argument keys (all optional):
  arch=wrn|vit                          WideResNet-40-10 or ViT-B/4
  dataset=fashion_mnist|cifar10|cifar100
  opt=default|sgd|adam|adamw            default: the architecture's optimizer (below)
  loss=ce|mse   mixup=1|0   etf=0|1   layer=0|k   (as in quick.py)

Where each value comes from. "Paper" means Fisher, Meng & Papyan, ICLR 2024 (arXiv 2402.06171),
main text; we could not read its appendix here, so every training hyperparameter that only the
appendix would state is marked ASSUMED, with the reason, and must be checked against the appendix
before a result is called a reproduction.
- Architectures WideResNet-40-10 and ViT-B; datasets FashionMNIST, CIFAR-10, CIFAR-100; optimizers
  SGD, Adam, AdamW: paper, section 2 (the list of architectures, datasets and optimizers).
- Mixup alpha = 1 (lambda uniform): paper (SPEC section 1 records it as the paper's value).
- FashionMNIST resized to 32x32: issue 7 of this project (so both networks see 32x32 inputs).
- WRN depth 40, widen factor 10: paper ("WideResNet-40-10"; Zagoruyko & Komodakis 2016).
  Dropout 0.0: ASSUMED (the geometry is measured on training data in the terminal phase of
  training; dropout would perturb it; WRN's own CIFAR recipe uses 0.3).
- ViT-B: width 768, depth 12, 12 heads, MLP 3072 (ViT-B of Dosovitskiy et al. 2021, Table 1);
  patch 4 on 32x32 inputs, i.e. ViT-B/4: issue 7 of this project. Dropout 0.0: ASSUMED (as WRN).
- Epochs 350, batch 128, SGD momentum 0.9, weight decay 5e-4, learning rate divided by 10 at 1/3
  and 2/3 of training: ASSUMED, the neural-collapse protocol of the same group (Papyan, Han &
  Donoho, PNAS 2020), which trains to the terminal phase. SGD learning rate 0.1: ASSUMED (the
  mixup paper's CIFAR value, Zhang et al. 2018; Papyan et al. tune it per dataset).
- Adam: learning rate 1e-3 (Kingma & Ba 2015 default), weight decay 5e-4 (coupled, as SGD),
  same step schedule: ASSUMED.
- AdamW (and ViT's default optimizer): learning rate 5e-4 * batch / 512 = 1.25e-4, decoupled weight
  decay 0.05, 5 warmup epochs then cosine decay: ASSUMED, DeiT's recipe for training ViTs from
  scratch (Touvron et al. 2021), the usual choice; WRN's default optimizer is SGD (ASSUMED).
- No data augmentation: ASSUMED (Papyan et al. 2020 train without it so that training error
  reaches zero, which the geometry of the terminal phase needs).
- Snapshots at epochs 10, 50, 100, 200, 350 (training dynamics, >= 4); a checkpoint every
  10 epochs, so an interrupted run resumes where it stopped.
"""

from __future__ import annotations

import ml_collections

from experiments.configs import parse_arg
from nc_mixup.config import default_config

NUM_EPOCHS = 350  # ASSUMED: Papyan, Han & Donoho 2020.
BATCH_SIZE = 128  # ASSUMED: Papyan, Han & Donoho 2020; Zhang et al. 2018.
SNAPSHOT_EPOCHS = (10, 50, 100, 200, 350)

ARCHS = {
    # Paper: WideResNet-40-10 (Zagoruyko & Komodakis). Dropout ASSUMED 0.0.
    "wrn": dict(name="wide_resnet", depth=40, widen=10, dropout=0.0),
    # ViT-B (Dosovitskiy et al. 2021, Table 1), patch 4 (issue 7). Dropout ASSUMED 0.0.
    "vit": dict(name="vit", width=768, depth=12, num_heads=12, mlp_dim=3072, patch_size=4,
                dropout=0.0),
}
DEFAULT_OPTIMIZER = {"wrn": "sgd", "vit": "adamw"}  # ASSUMED (see the module docstring).

_STEP = dict(name="multistep", warmup_epochs=0.0,
             milestones=(NUM_EPOCHS // 3, 2 * NUM_EPOCHS // 3), decay_factor=0.1)
OPTIMIZERS = {
    # ASSUMED: lr 0.1 (Zhang et al. 2018), momentum 0.9 and wd 5e-4 (Papyan et al. 2020).
    "sgd": (dict(name="sgd", learning_rate=0.1, weight_decay=5e-4, momentum=0.9, nesterov=False),
            _STEP),
    # ASSUMED: Kingma & Ba 2015 default learning rate; weight decay and schedule as SGD.
    "adam": (dict(name="adam", learning_rate=1e-3, weight_decay=5e-4, momentum=0.9,
                  nesterov=False), _STEP),
    # ASSUMED: DeiT (Touvron et al. 2021): 5e-4 * 128 / 512, wd 0.05, 5 warmup epochs, cosine.
    "adamw": (dict(name="adamw", learning_rate=1.25e-4, weight_decay=0.05, momentum=0.9,
                   nesterov=False),
              dict(name="cosine", warmup_epochs=5.0, milestones=(), decay_factor=0.1)),
}


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
    """The paper-profile run described by `arg` (see the module docstring)."""
    arg = parse_arg(arg, arch="wrn", dataset="cifar10", opt="default", loss="ce", mixup=True,
                    etf=False, layer=0, seed=0)
    if arg.arch not in ARCHS:
        raise ValueError(f"paper config: arch={arg.arch!r}, expected one of {sorted(ARCHS)}")
    opt = DEFAULT_OPTIMIZER[arg.arch] if arg.opt == "default" else arg.opt
    if opt not in OPTIMIZERS:
        raise ValueError(f"paper config: opt={arg.opt!r}, expected default or {sorted(OPTIMIZERS)}")
    if arg.dataset not in ("fashion_mnist", "cifar10", "cifar100"):
        raise ValueError(f"paper config: dataset={arg.dataset!r} is not one of the paper's")
    optimizer, schedule = OPTIMIZERS[opt]

    config = default_config()
    config.seed = arg.seed
    config.dataset.name = arg.dataset
    config.dataset.n_per_class = 0
    config.dataset.test_n_per_class = 0
    config.dataset.image_size = 32
    config.dataset.augment = False

    config.model.update(ARCHS[arg.arch])

    config.mixup.alpha = 1.0 if arg.mixup else 0.0
    config.mixup.per_example = False
    config.mixup.layer = arg.layer

    config.loss = arg.loss
    config.optimizer.update(optimizer)
    config.schedule.update(schedule)

    config.batch_size = BATCH_SIZE
    config.num_epochs = NUM_EPOCHS
    config.fixed_etf = arg.etf
    config.dtype = "float32"
    config.checkpoint_every_epochs = 10
    config.snapshot_epochs = SNAPSHOT_EPOCHS
    config.eval_every_epochs = 10
    config.log_every_steps = 100
    return config
