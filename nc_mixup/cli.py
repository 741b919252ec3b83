"""The `nc-mixup` command line: one sub-command per module in `nc_mixup.commands`.

Each command module defines `register(subparsers)` (its flags, the contract) and `run(args,
extra)` (which imports the heavy machinery lazily, so `nc-mixup --help` is instant).
"""

from __future__ import annotations

import argparse
import importlib
import os
import pathlib
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


# The library's user-facing errors (bad config, data, checkpoint): printed as one line, exit 2,
# like UsageError. Looked up in sys.modules only, so the CLI imports nothing for them: an error
# of one of these classes can only come from a module that is already imported.
USER_ERRORS = (
    ("nc_mixup.config", "ConfigError"),
    ("nc_mixup.data.registry", "DatasetError"),
    ("nc_mixup.checkpointing", "CheckpointError"),
)


def check_output_dir(path: str | os.PathLike, flag: str) -> pathlib.Path:
    """`path` as an absolute Path if it can be an output folder: an existing writable folder,
    or a new one whose nearest existing parent is a writable folder. UsageError otherwise,
    naming `flag` and the path, before anything is written."""
    path = pathlib.Path(path).expanduser().absolute()
    if path.exists() and not path.is_dir():
        raise UsageError(f"{flag} {path} is a file, not a folder")
    existing = path
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise UsageError(f"{flag} {path}: {existing} is a file, not a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise UsageError(f"{flag} {path}: {existing} is not writable")
    return path


def first_missing(path: pathlib.Path) -> pathlib.Path | None:
    """The outermost folder of `path` that does not exist yet (None: `path` exists): what to
    remove to leave nothing behind after a failure."""
    if path.exists():
        return None
    while not path.parent.exists():
        path = path.parent
    return path


def _user_errors() -> tuple[type[BaseException], ...]:
    found = [UsageError]
    for module, name in USER_ERRORS:
        cls = getattr(sys.modules.get(module), name, None)
        if isinstance(cls, type) and issubclass(cls, Exception):
            found.append(cls)
    return tuple(found)


def _one_line(e: BaseException) -> str:
    lines = str(e).strip().splitlines()
    return lines[0] if lines else type(e).__name__


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="nc-mixup",
        description="Mixup and neural collapse: train, analyse and reproduce the paper.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
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
    except Exception as e:
        if not isinstance(e, _user_errors()):
            raise
        print(f"nc-mixup {args.command}: error: {_one_line(e)}", file=sys.stderr)
        return 2


def _version() -> str:
    from nc_mixup import __version__

    return __version__


if __name__ == "__main__":
    sys.exit(main())
