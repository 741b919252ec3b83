"""`nc-mixup analyze`: the paper's measurements of one trained run.

    nc-mixup analyze --workdir RUN_DIR [--step N] --out DIR [--classes a,b,c] [--lambdas SPEC]
                     [--pairs-per-class N] [--mode train|eval] [--layers NAME,...] [--seed S]
                     [--num-triples N] [--no-figures] [--max-memory-gb GB] [--no-progress]

Writes DIR/metrics.json, DIR/activations.npz and the figures (PNG + PDF); see
nc_mixup.analysis.runner for what each key means. The results are moved into DIR only once
complete, so a failed analysis leaves DIR as it was. The memory the analysis needs is estimated
first (nc_mixup.analysis.budget); over the limit it stops with exit 2. Without --step, a corrupt
latest checkpoint is reported and the previous intact one analysed.
"""

from __future__ import annotations

import argparse
import os
import pathlib
import shutil
import tempfile


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "analyze",
        help="measure a trained run: NC metrics, calibration, mixup geometry, figures",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--workdir", required=True, help="the run's workdir (has checkpoints/)")
    p.add_argument("--step", type=int, default=None, help="checkpoint step (default: latest)")
    p.add_argument(
        "--out", required=True, help="output folder (created if missing; filled when complete)"
    )
    p.add_argument("--classes", default=None, help="three class indices a,b,c (default: random)")
    p.add_argument(
        "--lambdas",
        default=None,
        help="lambda grid: start:stop:num (inclusive) or a comma list (default 0:1:11); "
        "1/2 is always added",
    )
    p.add_argument(
        "--pairs-per-class",
        type=int,
        default=None,
        help="image pairs per class combination (default 64)",
    )
    p.add_argument(
        "--mode",
        choices=("train", "eval"),
        default="train",
        help="train: batch statistics, as the paper (default); eval: running averages",
    )
    p.add_argument(
        "--layers",
        default=None,
        help="earlier layers to capture, comma separated (default: the model's small ones "
        "and the last one)",
    )
    p.add_argument("--seed", type=int, default=0, help="seed for classes and pairs (default 0)")
    p.add_argument(
        "--num-triples",
        type=int,
        default=1,
        help="class triples to measure: --classes (or one drawn from --seed), then further "
        "triples drawn from --seed, the replicates in metrics.json 'triples' (default 1)",
    )
    p.add_argument(
        "--feature-mix-layer",
        default=None,
        metavar="LAYER",
        help="also mix every pair at this hidden layer (an int as mixup.layer, or a name) and "
        "report feature_mixup_kl: how well the network predicts the mixed label then, the "
        "loss manifold mixup at that layer trains (claim C6)",
    )
    p.add_argument(
        "--no-figures", action="store_true", help="metrics and activations only (no figures)"
    )
    p.add_argument(
        "--max-memory-gb",
        type=float,
        default=None,
        metavar="GB",
        help="refuse (exit 2) when the estimated memory of the analysis is over GB GiB "
        "(default: the memory available now)",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(run=run)


def run(args, extra) -> int:
    import numpy as np

    from nc_mixup.cli import UsageError, check_output_dir, first_missing

    if args.num_triples < 1:
        raise UsageError(f"--num-triples must be >= 1, got {args.num_triples}")
    if args.pairs_per_class is not None and args.pairs_per_class < 1:
        raise UsageError(f"--pairs-per-class must be >= 1, got {args.pairs_per_class}")
    if args.max_memory_gb is not None and not args.max_memory_gb > 0:
        raise UsageError(f"--max-memory-gb must be > 0, got {args.max_memory_gb}")
    out = check_output_dir(args.out, "--out")
    from nc_mixup.analysis.extract import AnalysisInputError, parse_lambdas

    try:
        grid = parse_lambdas(args.lambdas)  # fail fast, before loading anything
    except AnalysisInputError as e:
        raise UsageError(f"--lambdas: {e}") from None

    try:
        _check_memory(args, num_lambdas=len(np.union1d(grid, [0.5])))
    except AnalysisInputError as e:
        raise UsageError(str(e).splitlines()[0]) from None

    from nc_mixup.analysis.runner import run_analysis

    # Written into a staging folder beside OUT and moved into OUT only when complete: a failed
    # or interrupted analysis leaves nothing behind, and an earlier analysis in OUT is intact.
    created = first_missing(out.parent)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = pathlib.Path(tempfile.mkdtemp(prefix=f".{out.name}.partial-", dir=out.parent))
    try:
        metrics = run_analysis(
            args.workdir,
            staging,
            step=args.step,
            classes=args.classes,
            lambdas=args.lambdas,
            pairs_per_class=args.pairs_per_class,
            mode=args.mode,
            layers=args.layers,
            seed=args.seed,
            progress=not args.no_progress,
            num_triples=args.num_triples,
            figures=not args.no_figures,
            feature_mix_layer=args.feature_mix_layer,
        )
        _move_into(staging, out)
    except FileNotFoundError as e:
        raise UsageError(str(e).splitlines()[0] if str(e) else "checkpoint not found") from None
    except AnalysisInputError as e:
        raise UsageError(str(e).splitlines()[0]) from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        if created is not None and not out.exists():
            shutil.rmtree(created, ignore_errors=True)
    keys = ("accuracy", "ece", "nc1", "same_class_alignment", "boundary_gap", "theory_cos_etf")
    summary = ", ".join(f"{k} {metrics[k]:.4g}" for k in keys if _is_num(metrics.get(k)))
    print(f"analysis of {args.workdir} (step {metrics['step']}) -> {args.out}: {summary}")
    return 0


def _check_memory(args, num_lambdas: int) -> None:
    """Refuses (AnalysisInputError) an analysis whose estimated memory is over the limit, from
    the run's config alone (nothing heavy is loaded). A config.json that cannot be read is a
    UsageError naming it."""
    from nc_mixup.analysis import budget
    from nc_mixup.analysis.extract import DEFAULT_PAIRS
    from nc_mixup.cli import UsageError
    from nc_mixup.train import load_config

    path = pathlib.Path(args.workdir) / "config.json"
    try:
        config = load_config(args.workdir)
    except FileNotFoundError as e:
        raise UsageError(str(e).splitlines()[0]) from None
    except (UsageError, ValueError, TypeError, KeyError, AttributeError) as e:
        raise UsageError(f"{path}: not a valid run config ({_one_line(e)})") from None
    layers = None
    if args.layers is not None:
        layers = [n.strip() for n in args.layers.split(",") if n.strip()]
    pairs = DEFAULT_PAIRS if args.pairs_per_class is None else args.pairs_per_class
    try:
        estimate = budget.analysis_memory(
            config,
            pairs_per_class=pairs,
            num_lambdas=num_lambdas,
            layers=layers,
            num_triples=args.num_triples,
        )
    except KeyError:
        return  # an unknown layer: run_analysis names it and the model's layers
    except (ValueError, TypeError, AttributeError) as e:
        raise UsageError(f"{path}: not a valid run config ({_one_line(e)})") from None
    if args.max_memory_gb is not None:
        limit, what = args.max_memory_gb * 2**30, "--max-memory-gb"
    else:
        limit, what = budget.available_memory(), "the memory available now"
    budget.check_memory(estimate, limit, f"--pairs-per-class {pairs}", what)


def _move_into(staging: pathlib.Path, out: pathlib.Path) -> None:
    """Moves every file of `staging` into `out` (replacing files of the same name)."""
    out.mkdir(parents=True, exist_ok=True)
    for item in sorted(staging.iterdir()):
        target = out / item.name
        if target.is_dir() and not item.is_dir():
            shutil.rmtree(target)
        if item.is_dir():
            _move_into(item, target)
        else:
            os.replace(item, target)


def _one_line(e: BaseException) -> str:
    """The first line of `e`'s message, after its type unless it is a user-error type."""
    lines = str(e).strip().splitlines()
    kind = type(e).__name__
    if not lines:
        return kind
    return lines[0] if kind in ("UsageError", "ConfigError") else f"{kind}: {lines[0]}"


def _is_num(v) -> bool:
    return isinstance(v, (int, float)) and v == v
