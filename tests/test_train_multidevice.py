"""8 forced CPU devices give the same run as 1 device (data parallel over a 'data' mesh axis).

The 8-device run is a subprocess: XLA_FLAGS must be set before JAX starts.
"""

import json
import os
import subprocess
import sys
import textwrap

import jax
import numpy as np

from nc_mixup import config as config_lib
from nc_mixup import train
from nc_mixup.metrics_writer import read_metrics

OVERRIDES = {
    "dataset.n_per_class": "40",
    "dataset.test_n_per_class": "20",
    "model.name": "mlp",
    "model.width": "64",
    "model.depth": "2",
    "mixup.per_example": "true",
    "batch_size": "40",
    "num_epochs": "2",
    "log_every_steps": "5",
    "snapshot_epochs": "()",
}

SCRIPT = textwrap.dedent(
    """
    import json, sys
    import jax, numpy as np
    from nc_mixup import config as config_lib, sharding, train
    assert jax.device_count() == 8, jax.devices()
    assert sharding.create_mesh().devices.size == 8
    config = config_lib.apply_overrides(config_lib.default_config(), json.loads(sys.argv[1]))
    train.train_and_evaluate(config, sys.argv[2])
    run = train.load_run(sys.argv[2])
    leaves = jax.tree_util.tree_leaves_with_path(run.variables)
    np.savez(sys.argv[3], **{jax.tree_util.keystr(p): np.asarray(v) for p, v in leaves})
    """
)


def test_eight_devices_match_one(tmp_path, fashion_mnist_dir):
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=8")
    env["JAX_PLATFORMS"] = "cpu"
    out = tmp_path / "params8.npz"
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT, json.dumps(OVERRIDES), str(tmp_path / "eight"), str(out)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]

    assert jax.device_count() == 1
    config = config_lib.apply_overrides(config_lib.default_config(), list(OVERRIDES.items()))
    train.train_and_evaluate(config, tmp_path / "one")

    one, eight = read_metrics(tmp_path / "one"), read_metrics(tmp_path / "eight")
    assert [r["step"] for r in one] == [r["step"] for r in eight]
    for a, b in zip(one, eight, strict=True):
        for key in ("loss", "train_accuracy", "test_loss", "test_accuracy"):
            if key in a:
                np.testing.assert_allclose(a[key], b[key], rtol=2e-4, atol=2e-4, err_msg=key)
    run = train.load_run(tmp_path / "one")
    leaves = dict(
        (jax.tree_util.keystr(p), np.asarray(v))
        for p, v in jax.tree_util.tree_leaves_with_path(run.variables)
    )
    with np.load(out) as eight_params:
        assert set(eight_params.files) == set(leaves)
        for name, value in leaves.items():
            np.testing.assert_allclose(eight_params[name], value, rtol=1e-4, atol=1e-5)
