"""The `nc-mixup` command line: one sub-command per module in `nc_mixup.commands`.

Each command module defines `register(subparsers)` (its flags, the contract) and `run(args,
extra)` (which imports the heavy machinery lazily, so `nc-mixup --help` is instant).
"""

from __future__ import annotations

import argparse
import importlib
import sys

# Sub-command name -> module under nc_mixup.commands.
COMMANDS = {
    "train": "train",
    "analyze": "analyze",
    "data": "data",
    "reproduce": "reproduce",
}


class UsageError(Exception):
    """Bad user input: printed as one line, exit status 2."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="nc-mixup",
        description="Mixup and neural collapse: train, analyse and reproduce the paper.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in COMMANDS.values():
        mod = importlib.import_module(f"nc_mixup.commands.{module}")
        mod.register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra and not getattr(args, "accepts_extra", False):
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    try:
        return int(args.run(args, extra) or 0)
    except UsageError as e:
        print(f"nc-mixup {args.command}: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
