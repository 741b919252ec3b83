"""Multi-process data parallelism on CPU: two JAX processes on 127.0.0.1 with 4 devices each.

`plan` (when to call jax.distributed.initialize) is tested as a pure function; the rest starts
real processes, because a JAX process can join a distributed run only once, before device use.
"""

from __future__ import annotations

import json
import os
import pathlib
import socket
import subprocess
import sys
import textwrap

import pytest

from nc_mixup import distributed

REPO = pathlib.Path(__file__).resolve().parents[1]
TIMEOUT_S = 240


# --- plan(): when does the environment say "multi-process"? ------------------------------------


def test_single_process_by_default():
    assert distributed.plan(environ={}, tpu_present=False) is None


def test_explicit_flags_win_and_are_validated():
    p = distributed.plan("10.0.0.1:1234", 4, 3, environ={}, tpu_present=False)
    assert (p.coordinator, p.num_processes, p.process_id) == ("10.0.0.1:1234", 4, 3)
    assert distributed.plan("h:1", 1, 0, environ={}) is None  # one process: nothing to join
    with pytest.raises(ValueError, match="missing: process_id"):
        distributed.plan("h:1", 2, None, environ={})
    with pytest.raises(ValueError, match="not in"):
        distributed.plan("h:1", 2, 2, environ={})
    with pytest.raises(ValueError, match=">= 1"):
        distributed.plan("h:1", 0, 0, environ={})


def test_environment_variables():
    env = {"NC_MIXUP_COORDINATOR": "h:9", "NC_MIXUP_NUM_PROCESSES": "2", "NC_MIXUP_PROCESS_ID": "1"}
    p = distributed.plan(environ=env, tpu_present=False)
    assert (p.coordinator, p.num_processes, p.process_id) == ("h:9", 2, 1)
    env = {"JAX_COORDINATOR_ADDRESS": "h:9", "JAX_NUM_PROCESSES": "2", "JAX_PROCESS_ID": "0"}
    assert distributed.plan(environ=env, tpu_present=False).process_id == 0
    with pytest.raises(ValueError, match="not an integer"):
        distributed.plan(environ={"NC_MIXUP_NUM_PROCESSES": "two"})


SLURM = {
    "SLURM_JOB_ID": "7",
    "SLURM_STEP_NODELIST": "n[1-2]",
    "SLURM_PROCID": "0",
    "SLURM_LOCALID": "0",
}


@pytest.mark.parametrize(
    "env, tpu, reason",
    [
        ({}, True, "Cloud TPU VM"),
        (SLURM | {"SLURM_NTASKS": "4"}, False, "Slurm"),
        ({"OMPI_COMM_WORLD_SIZE": "2", "OMPI_MCA_orte_hnp_uri": "x"}, False, "Open MPI"),
        ({"TPU_WORKER_HOSTNAMES": "a,b,c,d"}, False, "GKE TPU"),
        ({"NC_MIXUP_DISTRIBUTED": "1"}, False, "auto-detection"),
    ],
)
def test_cluster_auto_detection_lets_jax_fill_in_the_topology(env, tpu, reason):
    p = distributed.plan(environ=env, tpu_present=tpu)
    assert p is not None and reason in p.reason
    assert (p.coordinator, p.num_processes, p.process_id) == (None, None, None)


@pytest.mark.parametrize(
    "env, tpu",
    [
        (SLURM | {"SLURM_NTASKS": "1"}, False),  # one task: single process
        ({"SLURM_JOB_ID": "7", "SLURM_NTASKS": "4"}, False),  # batch script, not an srun step
        ({"JAX_PLATFORMS": "cpu"}, True),  # CPU run on a TPU VM
        ({"TPU_WORKER_HOSTNAMES": "localhost"}, False),
        ({"NC_MIXUP_DISTRIBUTED": "0"}, True),  # explicit opt-out wins over detection
        ({"TPU_SKIP_MDS_QUERY": "1"}, True),
    ],
)
def test_no_initialisation(env, tpu):
    assert distributed.plan(environ=env, tpu_present=tpu) is None


def test_initialize_is_a_no_op_for_one_process(monkeypatch):
    monkeypatch.setenv("NC_MIXUP_DISTRIBUTED", "0")  # even on a TPU VM or in a Slurm job
    assert distributed.initialize() is False
    assert distributed.is_main_process()
    s = distributed.process_slice(8)
    assert (s.start, s.stop, s.local_batch_size) == (0, 8, 8)


# --- real processes ----------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_env(devices: int) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        JAX_PLATFORMS="cpu",
        XLA_FLAGS=f"--xla_force_host_platform_device_count={devices}",
        TF_CPP_MIN_LOG_LEVEL="2",
        PYTHONPATH=str(REPO),
    )
    return env


def run_processes(argvs: list[list[str]], devices: int) -> list[str]:
    """Starts one process per argv at once, waits for all; returns their stdout."""
    procs = [
        subprocess.Popen(
            argv,
            env=cpu_env(devices),
            cwd=REPO,
            text=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for argv in argvs
    ]
    outs = []
    try:
        for p in procs:
            out, err = p.communicate(timeout=TIMEOUT_S)
            assert p.returncode == 0, f"{' '.join(p.args)} failed:\n{err[-4000:]}"
            outs.append(out)
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    return outs


COLLECTIVES = textwrap.dedent(
    """
    import json, sys
    import numpy as np
    from nc_mixup import distributed
    distributed.initialize(sys.argv[1], 2, int(sys.argv[2]))
    import jax, jax.numpy as jnp
    from jax.sharding import Mesh, NamedSharding, PartitionSpec as P
    mesh = Mesh(np.array(distributed.process_major_devices()), ("data",))
    rows = distributed.process_slice(16)
    global_batch = np.arange(16 * 3, dtype=np.float32).reshape(16, 3)
    x = jax.make_array_from_process_local_data(
        NamedSharding(mesh, P("data")), global_batch[rows.as_slice()])
    total = jax.jit(jnp.sum, out_shardings=NamedSharding(mesh, P()))(x)
    # Rows stay in global order: a permutation of the batch gathers across processes.
    perm = jnp.arange(16)[::-1]
    first = jax.jit(lambda a: a[perm][0], out_shardings=NamedSharding(mesh, P()))(x)
    print(json.dumps(dict(
        process=jax.process_index(), count=jax.process_count(), devices=jax.device_count(),
        local=jax.local_device_count(), rows=[rows.start, rows.stop],
        main=distributed.is_main_process(), total=float(total),
        first=np.asarray(first).tolist(), shape=list(x.shape))))
    """
)


def test_two_processes_share_one_global_batch():
    port = free_port()
    argvs = [[sys.executable, "-c", COLLECTIVES, f"127.0.0.1:{port}", str(i)] for i in (0, 1)]
    results = [json.loads(out.strip().splitlines()[-1]) for out in run_processes(argvs, 4)]
    for i, r in enumerate(results):
        assert (r["process"], r["count"], r["devices"], r["local"]) == (i, 2, 8, 4)
        assert r["rows"] == [8 * i, 8 * i + 8] and r["main"] == (i == 0)
        assert r["shape"] == [16, 3]
        assert r["total"] == sum(range(48))
        assert r["first"] == [45.0, 46.0, 47.0]  # row 15, which lives in process 1


# --- training: 2 processes x 4 devices == 1 process x 8 devices; resume in 1 process --------

SMOKE = "experiments/configs/smoke.py"
# 200 images per class, global batch 80 (divisible by 8 devices): 25 steps per epoch, 2 epochs.
OVERRIDES = [
    "--config.batch_size=80",
    "--config.num_epochs=2",
    "--config.log_every_steps=5",
    "--config.snapshot_epochs=(1,2)",
    "--config.checkpoint_every_epochs=1",
    "--config.eval_every_epochs=1",
]
STEPS_PER_EPOCH = 25


def train_argv(workdir: pathlib.Path, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "nc_mixup",
        "train",
        "--config",
        SMOKE,
        "--workdir",
        str(workdir),
        *OVERRIDES,
        *extra,
    ]


def max_abs_diff(a, b) -> float:
    import jax
    import numpy as np

    diffs = jax.tree.map(lambda x, y: float(np.max(np.abs(np.asarray(x) - np.asarray(y)))), a, b)
    assert jax.tree.structure(a) == jax.tree.structure(b)
    return max(jax.tree.leaves(diffs))


@pytest.mark.slow
def test_two_processes_train_like_one_and_resume_in_one(tmp_path, fashion_mnist_dir):
    from nc_mixup.metrics_writer import read_metrics
    from nc_mixup.train import load_run

    one, two = tmp_path / "one_process_8_devices", tmp_path / "two_processes"
    port = free_port()
    coord = ["--coordinator", f"127.0.0.1:{port}", "--num-processes", "2"]
    # The reference (1 process, 8 devices, uninterrupted) and the 2-process run (4 devices each,
    # stopped after epoch 1 as if preempted) side by side.
    procs = {
        "reference": subprocess.Popen(
            train_argv(one),
            env=cpu_env(8),
            cwd=REPO,
            text=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
    }
    env2 = cpu_env(4)
    for i in (0, 1):
        procs[f"process {i}"] = subprocess.Popen(
            train_argv(
                two, *coord, "--process-id", str(i), "--stop-after-step", str(STEPS_PER_EPOCH)
            ),
            env=env2,
            cwd=REPO,
            text=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
    try:
        for name, p in procs.items():
            out, err = p.communicate(timeout=TIMEOUT_S)
            assert p.returncode == 0, f"{name} failed:\n{err[-4000:]}"
    finally:
        for p in procs.values():
            if p.poll() is None:
                p.kill()

    # After N steps the parameters (and BN-free MLP state) of 2 processes equal those of 1.
    ref = load_run(one, STEPS_PER_EPOCH)
    split = load_run(two)
    assert split.step == STEPS_PER_EPOCH
    diff_n = max_abs_diff(ref.variables, split.variables)
    assert diff_n < 1e-5, diff_n

    # The checkpoint of the 2-process run restores in 1 process (1 device) and continues.
    resumed = subprocess.run(
        train_argv(two),
        env=cpu_env(1),
        cwd=REPO,
        text=True,
        capture_output=True,
        timeout=TIMEOUT_S,
    )
    assert resumed.returncode == 0, resumed.stderr[-4000:]
    assert f"resuming from step {STEPS_PER_EPOCH}" in resumed.stderr
    final_ref, final = load_run(one), load_run(two)
    assert final.step == final_ref.step == 2 * STEPS_PER_EPOCH
    diff_end = max_abs_diff(final_ref.variables, final.variables)
    assert diff_end < 1e-5, diff_end

    # Only process 0 wrote logs: one line per record, the same records as the reference.
    lines, ref_lines = read_metrics(two), read_metrics(one)
    assert [(r["step"], sorted(r)) for r in lines] == [(r["step"], sorted(r)) for r in ref_lines]
    for r, q in zip(lines, ref_lines, strict=True):
        for key in ("loss", "test_accuracy", "test_loss"):
            if key in r:
                assert r[key] == pytest.approx(q[key], abs=1e-5), (key, r, q)
    print(
        f"max |param difference|: after {STEPS_PER_EPOCH} steps {diff_n:.2e}, "
        f"after resuming to {2 * STEPS_PER_EPOCH} in one process {diff_end:.2e}"
    )


# --- bf16 compute, float32 master weights and loss ------------------------------------------


@pytest.mark.slow
def test_bf16_matches_fp32_accuracy(tmp_path, fashion_mnist_dir):
    import jax
    import jax.numpy as jnp

    from nc_mixup.config import load_config
    from nc_mixup.train import load_run, train_and_evaluate

    accuracy, loss = {}, {}
    for dtype in ("float32", "bfloat16"):
        config = load_config(SMOKE)
        config.dtype = dtype
        config.snapshot_epochs = ()
        summary = train_and_evaluate(config, tmp_path / dtype)
        accuracy[dtype], loss[dtype] = summary["test_accuracy"], summary["train_loss"]
        run = load_run(tmp_path / dtype)
        # Master weights stay float32 whatever the compute dtype.
        assert {str(x.dtype) for x in jax.tree.leaves(run.variables)} == {"float32"}

    # The bf16 model computes its hidden layers in bf16; the classifier and logits are float32.
    x = jnp.zeros((2, 28, 28, 1), jnp.float32)
    jaxpr = jax.make_jaxpr(lambda v, x: run.model.apply(v, x))(run.variables, x)
    dots = [
        str(e.invars[0].aval.dtype) for e in jaxpr.jaxpr.eqns if e.primitive.name == "dot_general"
    ]
    assert dots == ["bfloat16"] * (len(dots) - 1) + ["float32"] and len(dots) > 1, dots
    assert jaxpr.out_avals[0].dtype == jnp.float32

    assert accuracy["float32"] > 0.6  # it learned (chance is 0.1)
    assert abs(accuracy["bfloat16"] - accuracy["float32"]) <= 0.02, accuracy
    assert loss["bfloat16"] == pytest.approx(loss["float32"], rel=0.05), loss
    print(f"test accuracy fp32 {accuracy['float32']:.4f} bf16 {accuracy['bfloat16']:.4f}")
