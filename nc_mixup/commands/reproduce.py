"""`nc-mixup reproduce --profile quick|paper --out DIR [--only NAME,...]`.

Regenerates the figures, tables, claims and HTML report of the paper's experiments (the registry
in `experiments/registry.py`). Finished runs and analyses in DIR are reused, so a second call
only rebuilds what changed; an interrupted call continues where it stopped.
"""

from __future__ import annotations

import shutil
import sys

PROFILES = ("quick", "paper", "smoke")


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "reproduce",
        help="regenerate every figure and table of the paper (make reproduce)",
        description=__doc__.split("\n\n", 1)[1].strip(),
    )
    p.add_argument(
        "--profile",
        choices=PROFILES,
        default="quick",
        help="quick: CPU, FashionMNIST, small networks (minutes); paper: WRN-40-10 "
        "and ViT-B/4 on FashionMNIST, CIFAR-10, CIFAR-100 (GPU/TPU); smoke: "
        "a seconds-long version for tests (default: quick)",
    )
    p.add_argument(
        "--out", required=True, metavar="DIR", help="results folder (created if missing)"
    )
    p.add_argument(
        "--only",
        default="",
        metavar="NAME,...",
        help="comma-separated experiment names (default: all): geometry, "
        "loss_comparison, optimizers, calibration, fixed_etf, dynamics, "
        "earlier_layers, density, theory",
    )
    p.add_argument(
        "--dry-run",
        action="store_true",
        help="the profile's real networks shrunk to a few steps, images and pairs "
        "(experiments.dry_run): proves every code path; the numbers mean "
        "nothing; runs whose data is missing are skipped and listed",
    )
    p.add_argument(
        "--coordinator",
        default=None,
        metavar="HOST:PORT",
        help="multi-process (as `train`): every process trains, process 0 writes",
    )
    p.add_argument("--num-processes", type=int, default=None, metavar="N", help="multi-process")
    p.add_argument("--process-id", type=int, default=None, metavar="I", help="multi-process")
    p.set_defaults(run=run)


def _names() -> tuple[str, ...]:
    from experiments.registry import EXPERIMENT_NAMES

    return EXPERIMENT_NAMES


def run(args, extra) -> int:
    from nc_mixup.cli import UsageError, check_output_dir, first_missing

    out = check_output_dir(args.out, "--out")
    only = [n.strip() for n in args.only.split(",") if n.strip()] or None
    unknown = [n for n in (only or []) if n not in _names()]
    if unknown:
        raise UsageError(
            f"--only: unknown experiment(s) {', '.join(unknown)}; known: {', '.join(_names())}"
        )
    from experiments.reproduce import MARKER, ProfileMismatch, reproduce
    from nc_mixup import distributed

    try:
        distributed.initialize(args.coordinator, args.num_processes, args.process_id)
    except ValueError as e:
        raise UsageError(str(e)) from None
    created = first_missing(out)
    try:
        result = reproduce(args.profile, out, only, dry_run=args.dry_run)
    except ProfileMismatch as e:
        raise UsageError(str(e)) from None
    except Exception:
        # A new --out that failed before any unit of work finished: leave nothing behind (a
        # finished run or analysis is kept: the next call reuses it).
        if created is not None and not any(created.rglob(MARKER)):
            shutil.rmtree(created, ignore_errors=True)
        raise
    except KeyboardInterrupt as e:
        print(
            f"nc-mixup reproduce: interrupted ({e or 'signal'}); finished runs and the last "
            "checkpoint are kept: run the same command again to continue.",
            file=sys.stderr,
        )
        return 130
    if result.get("skipped"):
        print(
            f"nc-mixup reproduce: {len(result['skipped'])} run(s) skipped for missing data "
            "(listed in the log and in OUT/reproduce.json with the command that prepares it)"
        )
    if result["failed"]:
        print(
            f"nc-mixup reproduce: {len(result['failed'])} unit(s) failed: "
            + "; ".join(result["failed"][:5])
        )
        return 1
    return 0
