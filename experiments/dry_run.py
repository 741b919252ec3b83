"""Dry run of the paper profile: its real networks, shrunk to a few steps, images and pairs.

`shrink_run_config` turns a paper-profile run config (experiments/configs/paper.py) into one that
trains `steps` steps of one epoch on `images_per_class` training images per class, with the same
architecture (WRN-40-10, ViT-B/4 on 32x32), optimizer, schedule kind, mixup, augmentation and
dtype, so every code path of a paper run is exercised at the cost of compiling it.
`shrink_analysis` does the same to a profile's analysis settings (experiments/configs/profiles.py).
What a dry run computes means nothing about the science.

Standalone check (one WRN-40-10 and one ViT-B/4 run of the paper config, trained 2 steps and
analysed on CPU, with the time of each phase):

  python -m experiments.dry_run --out /tmp/dry [--arch wrn,vit] [--dataset fashion_mnist]
"""

from __future__ import annotations

import argparse
import json
import pathlib
import sys
import time
from collections.abc import Mapping, Sequence
from typing import Any

import ml_collections

# Analysis settings of a dry run: 3 lambdas (and 1/2, always added), 2 pairs per combination.
DRY_RUN_ANALYSIS = dict(
    lambdas="0:1:3",
    pairs_per_class=2,
    layers_pairs_per_class=1,
    density_lambdas="0:1:3",
    density_pairs_per_class=2,
)
_NUM_CLASSES = {
    "fashion_mnist": 10,
    "mnist": 10,
    "cifar10": 10,
    "cifar100": 100,
    "svhn_cropped": 10,
}


def shrink_run_config(
    config: ml_collections.ConfigDict,
    *,
    images_per_class: int = 2,
    steps: int = 2,
    test_images_per_class: int = 1,
    snapshot_epochs: Sequence[int] = (1,),
) -> ml_collections.ConfigDict:
    """A copy of `config` that trains `steps` steps (one epoch) on few images, same networks.

    Training set: `images_per_class` images of every class, batch = K * images_per_class //
    steps (FashionMNIST with the defaults: 20 images, batches of 10); test set:
    `test_images_per_class` per class. Checkpoint, evaluation and logging every epoch / step;
    `snapshot_epochs` replaces the run's snapshots (the paper's are past the single epoch).
    Model, optimizer, schedule kind, mixup, augmentation, loss, dtype and seed are kept.
    """
    if images_per_class < 1 or steps < 1 or test_images_per_class < 1:
        raise ValueError("images_per_class, steps and test_images_per_class must be >= 1")
    k = _NUM_CLASSES[config.dataset.name]
    if k * images_per_class < steps:
        raise ValueError(f"{k * images_per_class} images cannot make {steps} steps")
    c = ml_collections.ConfigDict(config.to_dict())
    c.dataset.n_per_class = images_per_class
    c.dataset.test_n_per_class = test_images_per_class
    c.batch_size = k * images_per_class // steps
    c.num_epochs = 1
    c.snapshot_epochs = tuple(snapshot_epochs)
    c.checkpoint_every_epochs = 1
    c.eval_every_epochs = 1
    c.log_every_steps = 1
    return c


def shrink_analysis(analysis: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
    """A copy of a profile's analysis section with DRY_RUN_ANALYSIS's tiny values."""
    c = ml_collections.ConfigDict(analysis.to_dict())
    for key, value in DRY_RUN_ANALYSIS.items():
        if key in c:
            c[key] = value
    return c


def check(
    out: str | pathlib.Path,
    archs: Sequence[str] = ("wrn", "vit"),
    dataset: str = "fashion_mnist",
    raw_dir: str = "",
    model_overrides: Mapping[str, Mapping[str, Any]] | None = None,
) -> dict[str, Any]:
    """Train each paper architecture 2 steps and analyse it; returns the time of every phase.

    `model_overrides` (arch -> model keys) shrinks the networks too, for fast tests only.

    Per arch: `train_s` (the whole `train_and_evaluate`, data and checkpoints included),
    `compile_s` (the train step's compilation, part of train_s), `analysis_s` (`run_analysis`:
    NC metrics, mixed activations, figures), plus the analysis's headline numbers. Written to
    OUT/dry_run.json as well.
    """
    from nc_mixup.analysis.runner import run_analysis
    from nc_mixup.config import load_config
    from nc_mixup.train import train_and_evaluate

    out = pathlib.Path(out)
    out.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {}
    for arch in archs:
        config = load_config(f"experiments/configs/paper.py:arch={arch},dataset={dataset}")
        config = shrink_run_config(config)
        config.model.update(dict((model_overrides or {}).get(arch, {})))
        if raw_dir:
            config.dataset.raw_dir = raw_dir
        workdir = out / arch / "run"
        t0 = time.perf_counter()
        summary = train_and_evaluate(config, str(workdir))
        t1 = time.perf_counter()
        a = DRY_RUN_ANALYSIS
        metrics = run_analysis(
            workdir,
            out / arch / "analysis",
            lambdas=a["lambdas"],
            pairs_per_class=a["pairs_per_class"],
            mode="train",
            progress=False,
        )
        t2 = time.perf_counter()
        results[arch] = {
            "model": dict(config.model),
            "steps": summary["step"],
            "train_s": round(t1 - t0, 1),
            "compile_s": round(summary["compile_seconds"], 1),
            "analysis_s": round(t2 - t1, 1),
            "test_accuracy": summary["test_accuracy"],
            "same_class_alignment": metrics.get("same_class_alignment"),
        }
        print(f"{arch}: {json.dumps(results[arch])}", flush=True)
    (out / "dry_run.json").write_text(json.dumps(results, indent=2) + "\n")
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--arch", default="wrn,vit", help="comma list of wrn, vit")
    parser.add_argument("--dataset", default="fashion_mnist")
    parser.add_argument("--raw-dir", default="", help="folder with the raw dataset files")
    args = parser.parse_args(argv)
    archs = [a for a in args.arch.split(",") if a]
    bad = [a for a in archs if a not in ("wrn", "vit")]
    if bad or args.dataset not in _NUM_CLASSES:
        print(f"dry_run: bad --arch {bad} or --dataset {args.dataset!r}", file=sys.stderr)
        return 2
    check(args.out, archs, args.dataset, args.raw_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
