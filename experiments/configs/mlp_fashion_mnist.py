"""MLP (width 1024, depth 3) on the full FashionMNIST with input mixup, batch 256.

  nc-mixup train --config experiments/configs/mlp_fashion_mnist.py --workdir runs/mlp_fmnist
  nc-mixup train --config experiments/configs/mlp_fashion_mnist.py:loss=mse,etf=1 ...

Argument keys (optional, comma-separated KEY=VALUE): loss=ce|mse, opt=sgd|adam|adamw,
alpha=FLOAT (0 = no mixup), etf=0|1 (fixed simplex-ETF classifier), layer=INT (0 = input mixup),
epochs=INT. SGD: momentum 0.9, lr 0.05, weight decay 5e-4, cosine decay; Adam/AdamW: lr 1e-3
(AdamW decoupled weight decay 5e-2). Snapshots at 1, 5, 10, 25 and 50 epochs for the dynamics.
"""

from __future__ import annotations

import ml_collections

from nc_mixup.config import default_config

OPTIMIZERS = {
    "sgd": dict(learning_rate=0.05, weight_decay=5e-4),
    "adam": dict(learning_rate=1e-3, weight_decay=5e-4),
    "adamw": dict(learning_rate=1e-3, weight_decay=5e-2),
}


def _parse(arg: str | None) -> dict[str, str]:
    out = {}
    for item in filter(None, (arg or "").split(",")):
        key, sep, value = item.partition("=")
        if not sep:
            raise ValueError(f"config arg {item!r}: expected KEY=VALUE")
        out[key.strip()] = value.strip()
    unknown = set(out) - {"loss", "opt", "alpha", "etf", "layer", "epochs"}
    if unknown:
        raise ValueError(f"unknown config arg(s) {sorted(unknown)}")
    return out


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
    a = _parse(arg)
    config = default_config()
    config.seed = 0
    config.dataset.name = "fashion_mnist"

    config.model.name = "mlp"
    config.model.width = 1024
    config.model.depth = 3

    config.mixup.alpha = float(a.get("alpha", 1.0))
    config.mixup.layer = int(a.get("layer", 0))
    config.loss = a.get("loss", "ce")

    opt = a.get("opt", "sgd")
    if opt not in OPTIMIZERS:
        raise ValueError(f"opt={opt!r}: expected one of {sorted(OPTIMIZERS)}")
    config.optimizer.name = opt
    config.optimizer.learning_rate = OPTIMIZERS[opt]["learning_rate"]
    config.optimizer.weight_decay = OPTIMIZERS[opt]["weight_decay"]
    config.optimizer.momentum = 0.9
    config.schedule.name = "cosine"

    config.fixed_etf = a.get("etf", "0").lower() in ("1", "true", "yes")
    config.batch_size = 256
    config.num_epochs = int(a.get("epochs", 50))
    config.snapshot_epochs = tuple(e for e in (1, 5, 10, 25, 50) if e <= config.num_epochs)
    config.checkpoint_every_epochs = 5
    config.eval_every_epochs = 5
    config.log_every_steps = 50
    return config
