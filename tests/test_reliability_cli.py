"""The `nc-mixup` command line on bad input (issue 15, items 10 and 13), without training.

- `--version`;
- `reproduce --out FILE` (or FILE/sub): exit 2, one line naming the file, the file untouched;
- a `reproduce` into a new --out that fails before any unit of work finished leaves nothing;
- library user errors (DatasetError, CheckpointError, a ConfigError(ValueError)) are one line
  and exit 2 from any command; other exceptions still raise (a bug keeps its traceback);
- every flag of analyze, data and reproduce has a help text.
"""

import argparse
import pathlib
import sys
import types

import pytest

import nc_mixup
from nc_mixup import cli


def test_version(capsys):
    with pytest.raises(SystemExit) as e:
        cli.main(["--version"])
    assert e.value.code == 0
    assert capsys.readouterr().out.strip() == f"nc-mixup {nc_mixup.__version__}"


@pytest.mark.parametrize("below", [False, True])
def test_reproduce_out_is_a_file(tmp_path, capsys, below):
    target = tmp_path / "taken"
    target.write_text("keep me")
    out = target / "sub" if below else target
    assert cli.main(["reproduce", "--profile", "smoke", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--out" in err[0] and str(target) in err[0], err
    assert target.read_text() == "keep me"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["taken"]


def test_failed_reproduce_leaves_nothing_in_a_new_out(tmp_path, monkeypatch):
    import experiments.reproduce as driver

    def failing(profile, out, only, log=print, **kw):
        (pathlib.Path(out) / "runs" / "x").mkdir(parents=True)
        (pathlib.Path(out) / "reproduce.json").write_text("{}")
        raise RuntimeError("boom")

    monkeypatch.setattr(driver, "reproduce", failing)
    out = tmp_path / "a" / "results"
    with pytest.raises(RuntimeError, match="boom"):
        cli.main(["reproduce", "--profile", "smoke", "--out", str(out)])
    assert list(tmp_path.iterdir()) == []

    def failing_late(profile, out, only, log=print, **kw):
        (pathlib.Path(out) / "runs" / "x").mkdir(parents=True)
        (pathlib.Path(out) / "runs" / "x" / driver.MARKER).write_text("{}")
        raise RuntimeError("late")

    monkeypatch.setattr(driver, "reproduce", failing_late)
    with pytest.raises(RuntimeError, match="late"):
        cli.main(["reproduce", "--profile", "smoke", "--out", str(out)])
    assert (out / "runs" / "x" / driver.MARKER).is_file()  # a finished run is kept


def _command(monkeypatch, error: BaseException):
    """Registers a throw-away sub-command `boom` that raises `error`."""
    module = types.ModuleType("nc_mixup.commands.boom")

    def run(args, extra):
        raise error

    def register(subparsers):
        subparsers.add_parser("boom", help="raises").set_defaults(run=run)

    module.register = register
    monkeypatch.setitem(sys.modules, "nc_mixup.commands.boom", module)
    monkeypatch.setitem(cli.COMMANDS, "boom", "boom")


def test_library_user_errors_are_one_line_exit_2(monkeypatch, capsys):
    import nc_mixup.config as config
    from nc_mixup.checkpointing import CheckpointError
    from nc_mixup.data import DatasetError

    if not hasattr(config, "ConfigError"):  # until issue 15's ConfigError(ValueError) lands

        class ConfigError(ValueError):
            pass

        monkeypatch.setattr(config, "ConfigError", ConfigError, raising=False)
    ConfigError = config.ConfigError
    for error in (
        DatasetError("data.bin: truncated\nmore"),
        CheckpointError("checkpoint x is corrupt"),
        ConfigError("config key 'mixup.alpha': must be finite, got nan"),
    ):
        _command(monkeypatch, error)
        assert cli.main(["boom"]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert err == [f"nc-mixup boom: error: {str(error).splitlines()[0]}"]


def test_other_errors_keep_their_traceback(monkeypatch):
    _command(monkeypatch, ValueError("a bug"))
    with pytest.raises(ValueError, match="a bug"):
        cli.main(["boom"])


@pytest.mark.parametrize("command", ["analyze", "reproduce", "data"])
def test_every_flag_has_a_help(command):
    parser = cli.build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    stack = [sub.choices[command]]
    while stack:
        p = stack.pop()
        for action in p._actions:
            if isinstance(action, argparse._SubParsersAction):
                stack.extend(action.choices.values())
                continue
            assert action.help, f"{p.prog} {action.option_strings or action.dest}"
