"""`nc-mixup analyze`: the paper's measurements of one trained run.

    nc-mixup analyze --workdir RUN_DIR [--step N] --out DIR [--classes a,b,c] [--lambdas SPEC]
                     [--pairs-per-class N] [--mode train|eval] [--layers NAME,...]

Writes DIR/metrics.json, DIR/activations.npz and the figures (PNG + PDF); see
nc_mixup.analysis.runner for what each key means.
"""

from __future__ import annotations

import argparse


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "analyze",
        help="measure a trained run: NC metrics, calibration, mixup geometry, figures",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--workdir", required=True, help="the run's workdir (has checkpoints/)")
    p.add_argument("--step", type=int, default=None, help="checkpoint step (default: latest)")
    p.add_argument("--out", required=True, help="output folder")
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
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(run=run)


def run(args, extra) -> int:
    from nc_mixup.cli import UsageError

    if args.pairs_per_class is not None and args.pairs_per_class < 1:
        raise UsageError(f"--pairs-per-class must be >= 1, got {args.pairs_per_class}")
    from nc_mixup.analysis.extract import AnalysisInputError, parse_lambdas

    try:
        parse_lambdas(args.lambdas)  # fail fast, before loading anything
    except AnalysisInputError as e:
        raise UsageError(f"--lambdas: {e}") from None

    from nc_mixup.analysis.runner import run_analysis

    try:
        metrics = run_analysis(
            args.workdir,
            args.out,
            step=args.step,
            classes=args.classes,
            lambdas=args.lambdas,
            pairs_per_class=args.pairs_per_class,
            mode=args.mode,
            layers=args.layers,
            seed=args.seed,
            progress=not args.no_progress,
        )
    except FileNotFoundError as e:
        raise UsageError(str(e).splitlines()[0] if str(e) else "checkpoint not found") from None
    except AnalysisInputError as e:
        raise UsageError(str(e).splitlines()[0]) from None
    keys = ("accuracy", "ece", "nc1", "same_class_alignment", "boundary_gap", "theory_cos_etf")
    summary = ", ".join(f"{k} {metrics[k]:.4g}" for k in keys if _is_num(metrics.get(k)))
    print(f"analysis of {args.workdir} (step {metrics['step']}) -> {args.out}: {summary}")
    return 0


def _is_num(v) -> bool:
    return isinstance(v, (int, float)) and v == v
