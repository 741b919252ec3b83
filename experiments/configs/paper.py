r"""Paper profile: WRN-40-10 and ViT-B/4 on FashionMNIST (32x32), CIFAR-10 and CIFAR-100.

The family of runs of `make reproduce PROFILE=paper` (GPU/TPU). Usage:

  nc-mixup train --config experiments/configs/paper.py:arch=wrn,dataset=cifar10,opt=sgd \
      --workdir runs/wrn_c10

Argument keys (all optional):
  arch=wrn|vit                          WideResNet-40-10 or ViT-B/4
  dataset=fashion_mnist|cifar10|cifar100
  opt=default|sgd|adam|adamw            default: SGD for both networks (below)
  loss=ce|mse   mixup=1|0   etf=0|1   layer=0|k   (as in quick.py)
  aug=1|0                               random crop + flip during training (default 1)
  seed=0,1,...                          training seed (the registry sets the replicates)

Sources. "Paper": Fisher, Meng & Papyan, ICLR 2024 (arXiv 2402.06171); its appendix could not be
read here, so no training hyperparameter below is quoted from it. "Notebook": the public
repository sdraeger/nc-mixup-loss-function (PyTorch, 2024, a follow-up that cites the paper). Its
first commit 08906b0 (2024-09-28) is a single script, `mixup_neural_collapse.py`, that looks like
an export of the paper's notebook (CIFAR-10, WRN-40-10, and the paper's B.2 projection in
`utils.py`); it is cited as "notebook 08906b0 FILE:LINE". Its latest commit ef4218c generalises
it to the paper's three datasets and ViT-B/4 ("follow-up ef4218c FILE:LINE"). Where the two
disagree the first commit wins: from commit 41f266c on, `main.py` computes the outputs on the
*unmixed* inputs and mixes afterwards (ef4218c main.py:72-78), so the follow-up trains on clean
images with mixed targets, unlike the notebook (08906b0 mixup_neural_collapse.py:32-36).

Resolved settings (setting: adopted value. Evidence. Source):
- architectures, datasets, optimizers: same. Evidence: WRN-40-10, ViT-B; FashionMNIST, CIFAR-10,
  CIFAR-100; SGD, Adam, AdamW. Source: paper, main text, as SPEC section 1 summarises it ("Reported
  across WideResNet-40-10 and ViT-B, on FashionMNIST, CIFAR-10 and CIFAR-100, with SGD, Adam and
  AdamW").
- WRN depth / widen / dropout: 40 / 10 / 0.0. Evidence: `Wide_ResNet(40, 10, 0.0, 10)`. Source:
  notebook 08906b0 model.py:97.
- ViT-B/4: same. Evidence: patch 4, 12 layers, 12 heads, width 768, MLP 3072; torchvision's
  defaults: dropout 0, attention dropout 0. Source: follow-up ef4218c model/vit.py:5-16.
- input size: zero-pad 28 -> 32 for training and test, then the crop below in training. Evidence:
  FashionMNIST: `RandomCrop(32, padding=4)` of the 28x28 image in training, `Resize(32)` in test.
  Source: issue 7 of this project (one preprocessing for training and test; the follow-up's test
  resize differs from its training crop).
- epochs: 500. Evidence: `epochs = 500`. Source: notebook 08906b0 mixup_neural_collapse.py:196;
  follow-up ef4218c main.py:198.
- batch size: 128. Evidence: `batch_size=128`. Source: notebook 08906b0
  mixup_neural_collapse.py:166; follow-up ef4218c data.py:20.
- SGD learning rate / momentum / Nesterov: 0.1 / 0.9 / off. Evidence: `learning_rate = 0.1`,
  `optim.SGD(..., momentum=0.9, ...)`, Nesterov off. Source: notebook 08906b0
  mixup_neural_collapse.py:193,202-204.
- weight decay (SGD): 1e-4, coupled. Evidence: `weight_decay = 1e-4`, coupled (PyTorch SGD). Source:
  notebook 08906b0 mixup_neural_collapse.py:194,203.
- decayed parameters (SGD): all but the classifier bias (`decay_mask='no_classifier_bias'`).
  Evidence: `net.parameters()`: all, the classifier bias included. Source: ASSUMED: every run is
  compared with the UFM, whose bias is unregularised; the change is weight decay 1e-4 on K bias
  scalars.
- lr schedule: x0.1 after epochs 150, 250, 450. Evidence: `MultiStepLR(milestones=[int(0.3 E),
  int(0.5 E), int(0.9 E)], gamma=0.1)`, stepped per epoch, no warm-up. Source: notebook 08906b0
  mixup_neural_collapse.py:206-210.
- optimizer of ViT: SGD, as WRN. Evidence: SGD with `--lr=0.1`, as WRN. Source: follow-up ef4218c
  main.py:208-216 and scripts/run_ce.sh:11-14.
- training augmentation: crop with 4 pixels of black padding, flip with p = 1/2. Evidence:
  `RandomCrop(32, padding=4)`, `RandomHorizontalFlip()` on the uint8 image (black padding), then
  `Normalize`. Source: notebook 08906b0 mixup_neural_collapse.py:147-154; follow-up ef4218c
  const.py:54-78 (FashionMNIST too).
- normalisation: this project's per-dataset mean/std (nc_mixup/data/registry.py). Evidence: CIFAR
  `(0.4914, 0.4822, 0.4465) / (0.2023, 0.1994, 0.2010)`, FashionMNIST 0.5 / 0.5. Source: ASSUMED: a
  per-channel affine change of the input; kept so every profile normalises a dataset one way.
- mixup: alpha 1, one lambda per batch, partner a permutation of the batch. Evidence:
  `mixup_data(inputs, targets, alpha=1.0)`: one `np.random.beta(alpha, alpha)` per batch, partner
  `torch.randperm(batch_size)`. Source: notebook 08906b0 mixup_neural_collapse.py:32,
  mixup.py:20-28,50-54.
- WRN conv biases; last BN momentum: no conv biases; flax momentum 0.9 (PyTorch's 0.1). Evidence:
  `bias=True`; `BatchNorm2d(..., momentum=0.9)` (PyTorch's convention). Source: ASSUMED: Zagoruyko &
  Komodakis' WRN; a conv bias is redundant before BN, and the momentum only changes eval-mode
  statistics of the last BN.
- analysed data: un-augmented training images of 3 classes drawn from `class_seed`, a lambda grid,
  train-mode BN. Evidence: training images of 3 random classes (`np.random.choice(10, 3)`) read
  through the *training* transform (augmented), batches of 128 each mixed with one lambda ~ U(0, 1),
  `net.train()`. Source: evidence: notebook 08906b0
  mixup_neural_collapse.py:100,112,120-122,173-180; adopted: experiments/configs/profiles.py
  (ASSUMED there: clean images on a lambda grid measure the geometry without the crop's noise).
- snapshots: after (1, 3, 5, 9, 17, 33, 65, 129, 201, 251, 301, 351, 401, 500) epochs. Evidence:
  after the 0-indexed epochs 0, 2, 4, 8, ..., 128, 200, 250, ..., 400, 499, i.e. after 1, 3, 5, 9,
  ..., 129, 201, ..., 401, 500 epochs of training. Source: notebook 08906b0
  mixup_neural_collapse.py:197,217-225 (`if epoch in epochs_list` right after training 0-indexed
  epoch `epoch`).
- test evaluation: every 10 epochs. Evidence: every epoch. Source: ASSUMED: logging only, training
  does not depend on it; saves accelerator time.
- seeds: `seed=` (default 0); the registry sets the seeds (profiles.py: 0, 1, 2). Evidence:
  0, 1, 2. Source: follow-up ef4218c scripts/run_ce.sh.
- Adam: learning rate 1e-3, coupled weight decay 1e-4 as SGD, SGD's schedule, `no_classifier_bias`.
  Evidence: none (the code only uses SGD). Source: ASSUMED, no source: Kingma & Ba's default
  learning rate, the rest as SGD.
- AdamW: learning rate 5e-4 * 128 / 512 = 1.25e-4, decoupled weight decay 0.05, 5 warm-up epochs
  then cosine to 0; DeiT's decay mask `decay_mask='deit'` (no decay on biases, norm scales, position
  embedding, class token; so none on the classifier bias either). Evidence: none. Source: ASSUMED,
  no source: DeiT's recipe for ViTs from scratch (Touvron et al. 2021).
- fixed-ETF runs: classifier frozen to a simplex ETF with b = 0, neither updated nor decayed
  (nc_mixup/optim.py). Evidence: not in the notebook. Source: paper main text (fixed simplex-ETF
  classifier); b = 0 as in the UFM.

The decay masks are computed by nc_mixup/decay_mask.py; `optimizer.decay_mask` takes effect once
nc_mixup/optim.py passes `weight_decay_mask(config)` as optax's `mask=` (see that module).
"""

from __future__ import annotations

import ml_collections

from experiments.configs import parse_arg
from nc_mixup.config import default_config

NUM_EPOCHS = 500  # notebook 08906b0 mixup_neural_collapse.py:196
BATCH_SIZE = 128  # notebook 08906b0 mixup_neural_collapse.py:166
# notebook 08906b0 mixup_neural_collapse.py:197, shifted by one: their list holds 0-indexed
# epochs checked after training that epoch; ours counts epochs trained.
SNAPSHOT_EPOCHS = (1, 3, 5, 9, 17, 33, 65, 129, 201, 251, 301, 351, 401, 500)
# notebook 08906b0 mixup_neural_collapse.py:206-210: int(0.3 E), int(0.5 E), int(0.9 E).
MILESTONES = (int(0.3 * NUM_EPOCHS), int(0.5 * NUM_EPOCHS), int(0.9 * NUM_EPOCHS))
CROP_PADDING = 4  # notebook 08906b0 mixup_neural_collapse.py:149 (RandomCrop(32, padding=4))

ARCHS = {
    # notebook 08906b0 model.py:97: Wide_ResNet(40, 10, 0.0, 10).
    "wrn": dict(name="wide_resnet", depth=40, widen=10, dropout=0.0),
    # follow-up ef4218c model/vit.py:5-16 (torchvision ViT, dropout defaults 0).
    "vit": dict(
        name="vit", width=768, depth=12, num_heads=12, mlp_dim=3072, patch_size=4, dropout=0.0
    ),
}
# follow-up ef4218c main.py:208 (SGD for every model), scripts/run_ce.sh:11-14 (ViT, lr 0.1).
DEFAULT_OPTIMIZER = {"wrn": "sgd", "vit": "sgd"}

_STEP = dict(name="multistep", warmup_epochs=0.0, milestones=MILESTONES, decay_factor=0.1)
OPTIMIZERS = {
    # notebook 08906b0 mixup_neural_collapse.py:193-194,202-204. Mask ASSUMED (docstring).
    "sgd": (
        dict(
            name="sgd",
            learning_rate=0.1,
            weight_decay=1e-4,
            momentum=0.9,
            nesterov=False,
            decay_mask="no_classifier_bias",
        ),
        _STEP,
    ),
    # ASSUMED, no source: Kingma & Ba 2015 default learning rate; decay and schedule as SGD.
    "adam": (
        dict(
            name="adam",
            learning_rate=1e-3,
            weight_decay=1e-4,
            momentum=0.9,
            nesterov=False,
            decay_mask="no_classifier_bias",
        ),
        _STEP,
    ),
    # ASSUMED, no source: DeiT (Touvron et al. 2021): 5e-4 * 128 / 512, wd 0.05, DeiT's mask,
    # 5 warm-up epochs, cosine.
    "adamw": (
        dict(
            name="adamw",
            learning_rate=1.25e-4,
            weight_decay=0.05,
            momentum=0.9,
            nesterov=False,
            decay_mask="deit",
        ),
        dict(name="cosine", warmup_epochs=5.0, milestones=(), decay_factor=0.1),
    ),
}


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
    """The paper-profile run described by `arg` (see the module docstring)."""
    arg = parse_arg(
        arg,
        arch="wrn",
        dataset="cifar10",
        opt="default",
        loss="ce",
        mixup=True,
        etf=False,
        layer=0,
        aug=True,
        seed=0,
    )
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
    config.dataset.image_size = 32  # issue 7: FashionMNIST zero-padded 28 -> 32
    config.dataset.augment = False  # the explicit keys below say it
    config.augment.crop_padding = CROP_PADDING if arg.aug else 0
    config.augment.flip = bool(arg.aug)  # notebook 08906b0 mixup_neural_collapse.py:150

    config.model.update(ARCHS[arg.arch])

    # notebook 08906b0 mixup_neural_collapse.py:32 and mixup.py:26: alpha 1, one lambda a batch.
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
    config.eval_every_epochs = 10  # ASSUMED (the notebook tests every epoch; logging only)
    config.log_every_steps = 100
    return config
