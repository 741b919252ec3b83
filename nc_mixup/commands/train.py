"""`nc-mixup train --config FILE.py[:ARG] --workdir DIR [--config.KEY=VALUE ...]`.

Trains one configuration in DIR (config.json, metrics.jsonl, checkpoints/, tensorboard/), a local
folder or gs://BUCKET/PATH (required on multi-host TPU pod slices); running the same command again
resumes from the latest checkpoint. A workdir belongs to one run: resuming with a different config
is refused (exit 2, naming the keys) unless --allow-config-change. SIGTERM/SIGINT: the step in
flight finishes, a checkpoint is saved and the command exits (status 0) saying how to resume.
Multi-process runs (one process per host): `--coordinator HOST:PORT --num-processes N
--process-id I`, or the environment (see nc_mixup.distributed).
"""

from __future__ import annotations

import argparse
import signal
import sys

EPILOG = """config overrides:
  --config.KEY=VALUE    set any config key (nc_mixup/config.py lists them with their defaults),
                        e.g. --config.num_epochs=5 --config.optimizer.learning_rate=0.05
                        --config.model.width=512 --config.snapshot_epochs=1,5; values are
                        checked against the key's type and range (exit 2 naming the key)

examples:
  nc-mixup train --config experiments/configs/smoke.py --workdir runs/smoke
  nc-mixup train --config experiments/configs/mlp_fashion_mnist.py:loss=mse --workdir runs/mse \\
      --config.num_epochs=10"""


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "train",
        help="train one configuration (resumes from the workdir's latest checkpoint)",
        description=__doc__.split("\n\n")[1] if __doc__ else None,
        usage="%(prog)s --config FILE.py[:ARG] --workdir DIR [--config.KEY=VALUE ...] [options]",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
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
    p.add_argument(
        "--allow-config-change",
        action="store_true",
        help="resume even though the config differs from the workdir's config.json (e.g. more "
        "num_epochs); config.json is kept and the change recorded in config_changes.jsonl",
    )
    # A planned interruption after global step K (as on SIGTERM): for tests.
    p.add_argument("--stop-after-step", type=int, default=None, help=argparse.SUPPRESS)
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

    try:
        overrides = config_lib.parse_overrides(extra)  # before heavy imports: bad words exit fast
        config = config_lib.apply_overrides(config_lib.load_config(args.config), overrides)
    except config_lib.ConfigError as e:
        raise UsageError(str(e)) from None

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
        summary = train_and_evaluate(
            config,
            args.workdir,
            stop=StopRequest(received),
            stop_after_step=args.stop_after_step,
            allow_config_change=args.allow_config_change,
        )
    except (DatasetError, config_lib.ConfigError) as e:
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
