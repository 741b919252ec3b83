"""Config files, command-line overrides and their validation (nc_mixup.config, `nc-mixup train`)."""

import json
import subprocess
import sys

import pytest

from nc_mixup import cli
from nc_mixup import config as config_lib
from nc_mixup.config import ConfigError as UsageError

SMOKE = "experiments/configs/smoke.py"


@pytest.fixture(autouse=True)
def _repo_root(monkeypatch, request):
    from conftest import REPO_ROOT

    monkeypatch.chdir(REPO_ROOT)


def test_configs_load_and_merge_onto_defaults():
    smoke = config_lib.load_config(SMOKE)
    assert smoke.model.name == "mlp" and smoke.dataset.name == "fashion_mnist"
    mlp = config_lib.load_config("experiments/configs/mlp_fashion_mnist.py")
    assert (mlp.model.width, mlp.model.depth, mlp.batch_size) == (1024, 3, 256)
    mse = config_lib.load_config("experiments/configs/mlp_fashion_mnist.py:loss=mse,etf=1")
    assert mse.loss == "mse" and mse.fixed_etf is True
    assert set(config_lib.default_config()) == set(smoke)


def test_overrides_are_coerced_to_the_type_they_replace():
    c = config_lib.apply_overrides(
        config_lib.load_config(SMOKE),
        [
            "--config.model.width=64",
            "--config.optimizer.learning_rate=1e-3",
            "--config.fixed_etf=true",
            "--config.snapshot_epochs=1,2",
            "--config.schedule.milestones=(3, 6)",
            "--config.mixup.layer=block1",
            "--config.loss",
            "mse",
        ],
    )
    assert c.model.width == 64 and isinstance(c.model.width, int)
    assert c.optimizer.learning_rate == 1e-3 and c.fixed_etf is True
    assert c.snapshot_epochs == (1, 2) and c.schedule.milestones == (3, 6)
    assert c.mixup.layer == "block1" and c.loss == "mse"
    c = config_lib.apply_overrides(c, [("mixup.layer", "2"), ("snapshot_epochs", "()")])
    assert c.mixup.layer == 2 and c.snapshot_epochs == ()


@pytest.mark.parametrize(
    "override,key",
    [
        ("--config.model.widht=3", "model.widht"),
        ("--config.nonsense=1", "nonsense"),
        ("--config.model.name=resnet", "model.name"),
        ("--config.batch_size=abc", "batch_size"),
        ("--config.batch_size=0", "batch_size"),
        ("--config.fixed_etf=maybe", "fixed_etf"),
        ("--config.optimizer.name=rmsprop", "optimizer.name"),
        ("--config.mixup.alpha=-1", "mixup.alpha"),
        ("--config.loss=hinge", "loss"),
        ("--config.dtype=float16", "dtype"),
        ("--config.model=3", "model"),
    ],
)
def test_bad_key_or_value_names_the_key(override, key):
    with pytest.raises(UsageError, match=f"'{key}'"):
        config_lib.apply_overrides(config_lib.load_config(SMOKE), [override])


def test_unknown_key_in_a_config_file(tmp_path):
    path = tmp_path / "bad.py"
    path.write_text(
        "from nc_mixup.config import default_config\n"
        "def get_config(arg=None):\n"
        "    c = default_config()\n"
        "    c.model.widht = 3\n"
        "    return c\n"
    )
    with pytest.raises(UsageError, match="'model.widht'"):
        config_lib.load_config(str(path))


def test_cli_exits_2_naming_the_key(tmp_path, capsys):
    argv = ["train", "--config", SMOKE, "--workdir", str(tmp_path / "w")]
    assert cli.main([*argv, "--config.optimizer.learning_rat=0.1"]) == 2
    assert "optimizer.learning_rat" in capsys.readouterr().err
    assert cli.main([*argv, "--config.mixup.layer=block7"]) == 2
    assert "mixup.layer" in capsys.readouterr().err
    assert cli.main(["train", "--config", "nope.py", "--workdir", str(tmp_path)]) == 2
    assert not (tmp_path / "w" / "checkpoints").exists()


def test_cli_subprocess_exit_status(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "nc_mixup", "train", "--config", SMOKE, "--workdir", str(tmp_path)]
        + ["--config.model.name=resnet"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert "model.name" in proc.stderr and "Traceback" not in proc.stderr


def test_json_round_trip():
    c = config_lib.load_config(SMOKE)
    back = config_lib.from_json(config_lib.to_json(c))
    assert back.to_dict() == c.to_dict()
    assert json.loads(config_lib.to_json(c))["snapshot_epochs"] == [1]
