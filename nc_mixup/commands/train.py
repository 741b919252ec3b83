"""`nc-mixup train --config FILE.py[:ARG] --workdir DIR [--config.KEY=VALUE ...]`.

Trains one configuration in DIR (config.json, metrics.jsonl, checkpoints/, tensorboard/), a local
folder or gs://BUCKET/PATH (required on multi-host TPU pod slices); running the same command again
resumes from the latest checkpoint. SIGTERM/SIGINT: the step in flight
finishes, a checkpoint is saved and the command exits (status 0) saying how to resume.
Multi-process runs (one process per host): `--coordinator HOST:PORT --num-processes N
--process-id I`, or the environment (see nc_mixup.distributed).
"""

from __future__ import annotations

import argparse
import signal
import sys


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "train",
        help="train one configuration (resumes from the workdir's latest checkpoint)",
        description=__doc__.split("\n\n")[1] if __doc__ else None,
    )
    p.add_argument(
        "--config",
        required=True,
        metavar="FILE.py[:ARG]",
        help="config file with get_config(arg=None), e.g. experiments/configs/smoke.py",
    )
    p.add_argument(
        "--workdir", required=True, metavar="DIR", help="run directory (local or gs://...)"
    )
    p.add_argument("--coordinator", default=None, metavar="HOST:PORT", help="multi-process")
    p.add_argument("--num-processes", type=int, default=None, metavar="N", help="multi-process")
    p.add_argument("--process-id", type=int, default=None, metavar="I", help="multi-process")
    p.set_defaults(run=run, accepts_extra=True)


def run(args: argparse.Namespace, extra: list[str]) -> int:
    # Record SIGTERM/SIGINT from the very start: a signal during the slow start-up (imports, data,
    # compilation) still ends in a saved, loadable checkpoint instead of a dead process.
    received: list[str] = []
    previous = {
        sig: signal.signal(sig, lambda signum, _: received.append(signal.Signals(signum).name))
        for sig in (signal.SIGTERM, signal.SIGINT)
    }
    try:
        return _run(args, extra, received)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _run(args: argparse.Namespace, extra: list[str], received: list[str]) -> int:
    from nc_mixup import config as config_lib
    from nc_mixup.cli import UsageError

    overrides = config_lib.parse_overrides(extra)  # before any heavy import: bad words exit fast
    config = config_lib.apply_overrides(config_lib.load_config(args.config), overrides)

    try:
        from nc_mixup import distributed
    except ImportError:  # pragma: no cover
        distributed = None
    if distributed is not None:
        try:
            distributed.initialize(args.coordinator, args.num_processes, args.process_id)
        except ValueError as e:
            raise UsageError(str(e)) from None
    elif args.coordinator or args.num_processes or args.process_id is not None:
        raise UsageError("multi-process flags given but nc_mixup.distributed is not available")

    from nc_mixup.data import DatasetError
    from nc_mixup.train import StopRequest, TrainingDiverged, train_and_evaluate

    try:
        summary = train_and_evaluate(config, args.workdir, stop=StopRequest(received))
    except DatasetError as e:
        raise UsageError(str(e)) from None
    except TrainingDiverged as e:
        print(f"nc-mixup train: {e}", file=sys.stderr)
        return 1
    if summary["interrupted"]:
        print(
            f"nc-mixup train: stopped ({summary['stop_reason']}) at step {summary['step']}; "
            f"checkpoint saved in {args.workdir}/checkpoints. Run the same command to resume.",
            file=sys.stderr,
        )
        return 0
    acc = summary.get("test_accuracy")
    acc_text = f", test accuracy {acc:.4f}" if acc is not None else ""
    print(f"nc-mixup train: done, step {summary['step']}{acc_text} ({args.workdir})")
    return 0
