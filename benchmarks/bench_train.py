"""Training-step throughput, nc_mixup (JAX/Flax) vs the same model in PyTorch, side by side.

Issue 5, "Speed": the full mixup SGD step (nc_mixup.train.train_step on
nc_mixup.models.create_model) of
  (a) mlp, width 1024, depth 3, batch 256, 28x28x1 inputs (784 -> 1024 x3 -> 10), and
  (b) wide_resnet 16-4, batch 128, 32x32x3 inputs,
against benchmarks/torch_models.py (torch==2.13.0 CPU, the `bench` extra), plus a micro benchmark
of one convolution's weight gradient (nc_mixup.models.conv.Conv vs flax.linen.Conv vs PyTorch).
Inputs are random normal images, labels i mod 10 (timing only; CIFAR is not on this machine).

How it measures (the machine is shared, so only side-by-side ratios mean much):
  * every (framework, model) pair runs in its own worker subprocess, so each one's peak RSS
    (ru_maxrss) is its own; workers of a group are started one after another (compilations
    never overlap) and then stay alive;
  * after warm-up, the parent asks the workers in turn for `--steps` timed steps, for
    `--rounds` rounds, alternating the order each round; we report the median (and best) step;
  * both frameworks use the same number of threads (`--threads`, default: all cores): XLA:CPU
    sizes its pool from the usable cores (a smaller --threads pins the worker to that many
    cores), PyTorch gets torch.set_num_threads;
  * JAX compile time = lower + compile of the jitted step, cold (the persistent compilation
    cache is off in the workers); PyTorch has none (eager). Both get two warm-up steps.

    python benchmarks/bench_train.py                   # everything (a few minutes on 2 cores)
    python benchmarks/bench_train.py --only mlp        # one group: mlp | wrn | conv
    python benchmarks/bench_train.py --json out.json   # also write the numbers

The mlp group also has an end-to-end row (issue 14), "nc-mixup train (end to end)": each round
runs `nc-mixup train` on experiments/configs/mlp_fashion_mnist.py (real FashionMNIST, batch 256,
input mixup) for `--e2e-epochs` epochs in a fresh workdir, between the workers' turns, and takes
the `images_per_sec` of its metrics.jsonl lines after the first epoch (data gathering, device
transfer, logging and the step: what a user gets). Its ratio is against the same PyTorch step.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from importlib import metadata

HERE = pathlib.Path(__file__).resolve().parent
REPO = HERE.parent

# group -> (worker kinds, the reference job (PyTorch) the ratios are taken against)
GROUPS: dict[str, tuple[list[str], str]] = {
    "mlp": (["jax-mlp", "torch-mlp"], "torch"),
    "wrn": (["jax-wrn", "torch-wrn"], "torch"),
    "conv": (["jax-conv", "torch-conv"], "torch 3x3 fwd+dx+dW"),
}
# conv group: the dW-only jobs are compared with flax's nn.Conv on the same shape
CONV_REFERENCES = {"3x3 dW": "3x3 dW nn.Conv", "1x1/2 dW": "1x1/2 dW nn.Conv"}
BATCH = {"mlp": 256, "wrn": 128, "conv": 128}
# --primary-only: each worker builds only its main job, so its peak RSS is one model's
PRIMARY_ONLY = os.environ.get("BENCH_TRAIN_PRIMARY_ONLY") == "1"
E2E_JOB = "nc-mixup train (end to end)"
E2E_CONFIG = "experiments/configs/mlp_fashion_mnist.py"


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


# --------------------------------------------------------------------------------------------
# Workers: build the jobs (name -> one blocking step), then serve "run NAME N" / "quit".


def _jax_jobs(kind: str) -> tuple[dict[str, Callable[[], None]], dict[str, float]]:
    import flax.linen as nn
    import jax
    import jax.numpy as jnp

    from nc_mixup import train
    from nc_mixup.config import default_config
    from nc_mixup.models import conv as conv_lib
    from nc_mixup.models import create_model, wide_resnet

    opts = conv_lib.cpu_compiler_options()
    jobs: dict[str, Callable[[], None]] = {}
    compile_s: dict[str, float] = {}

    def add_step(name: str, cfg, image_shape, compiler_options=None, conv_cls=None) -> None:
        saved = wide_resnet.Conv
        if conv_cls is not None:
            wide_resnet.Conv = conv_cls  # read when the model is traced, i.e. in lower()
        try:
            model = create_model(cfg.model, 10)
            state = train.create_train_state(
                cfg, model, jax.random.key(0), image_shape, steps_per_epoch=1000
            )
            b = cfg.batch_size
            batch = {
                "image": jax.random.normal(jax.random.key(1), (b, *image_shape), jnp.float32),
                "label": jnp.arange(b, dtype=jnp.int32) % 10,
            }
            rng = jax.random.key(2)
            t0 = time.perf_counter()
            step = (
                jax.jit(train.train_step, donate_argnums=(0,), compiler_options=compiler_options)
                .lower(state, batch, rng)
                .compile()
            )
            compile_s[name] = time.perf_counter() - t0
        finally:
            wide_resnet.Conv = saved
        box = [state]

        def run() -> None:
            box[0], metrics = step(box[0], batch, rng)
            jax.block_until_ready(metrics)

        jobs[name] = run

    if kind == "jax-mlp":
        sys.path.insert(0, str(REPO))
        from experiments.configs import mlp_fashion_mnist

        add_step("jax", mlp_fashion_mnist.get_config(), (28, 28, 1))
    elif kind == "jax-wrn":
        cfg = default_config()
        cfg.model.name, cfg.model.depth, cfg.model.widen = "wide_resnet", 16, 4
        cfg.batch_size, cfg.mixup.alpha = 128, 1.0
        if opts:
            add_step("jax Conv + cpu_compiler_options", cfg, (32, 32, 3), opts)
        if not PRIMARY_ONLY or not opts:
            add_step("jax Conv", cfg, (32, 32, 3))
        if not PRIMARY_ONLY:
            add_step("jax nn.Conv (flax)", cfg, (32, 32, 3), conv_cls=nn.Conv)
    elif kind == "jax-conv":
        x = jax.random.normal(jax.random.key(0), (128, 32, 32, 64), jnp.float32)

        def add_conv(name, module, mode: str, what: str, compiler_options=None) -> None:
            v = module.init(jax.random.key(1), x)
            y = module.apply(v, x)
            t = jax.random.normal(jax.random.key(2), y.shape, y.dtype)
            if what == "dW":
                f = lambda v, x: jax.grad(lambda v: jnp.vdot(module.apply(v, x), t))(v)
            else:  # forward + dx + dW
                f = lambda v, x: jax.grad(lambda v, x: jnp.vdot(module.apply(v, x), t), (0, 1))(
                    v, x
                )
            saved = conv_lib.CPU_WEIGHT_GRAD
            conv_lib.CPU_WEIGHT_GRAD = mode  # read at trace time
            try:
                t0 = time.perf_counter()
                g = jax.jit(f).lower(v, x).compile(compiler_options=compiler_options)
                compile_s[name] = time.perf_counter() - t0
            finally:
                conv_lib.CPU_WEIGHT_GRAD = saved
            jobs[name] = lambda: jax.block_until_ready(g(v, x))

        c3 = dict(features=64, kernel_size=(3, 3), use_bias=False)
        c1 = dict(features=128, kernel_size=(1, 1), strides=2, use_bias=False)
        add_conv("3x3 dW nn.Conv", nn.Conv(**c3), "auto", "dW")
        add_conv("3x3 dW Conv (per-tap GEMMs)", conv_lib.Conv(**c3), "taps", "dW")
        if opts:
            # for 3x3 kernels Conv keeps XLA's dW, so this isolates the compile option
            add_conv("3x3 dW nn.Conv + cpu_compiler_options", nn.Conv(**c3), "auto", "dW", opts)
        add_conv("1x1/2 dW nn.Conv", nn.Conv(**c1), "auto", "dW")
        add_conv("1x1/2 dW Conv (one GEMM)", conv_lib.Conv(**c1), "auto", "dW")
        add_conv("3x3 fwd+dx+dW nn.Conv", nn.Conv(**c3), "auto", "all")
        if opts:
            add_conv(
                "3x3 fwd+dx+dW Conv + cpu_compiler_options",
                conv_lib.Conv(**c3),
                "auto",
                "all",
                opts,
            )
    else:
        raise ValueError(kind)
    return jobs, compile_s


def _torch_jobs(kind: str, threads: int) -> tuple[dict[str, Callable[[], None]], dict[str, float]]:
    import torch

    sys.path.insert(0, str(HERE))
    import torch_models

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    jobs: dict[str, Callable[[], None]] = {}

    def add_step(name: str, model, images, labels) -> None:
        opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=5e-4)
        model.train()
        jobs[name] = lambda: torch_models.mixup_sgd_step(model, opt, images, labels)

    if kind == "torch-mlp":
        images, labels = torch.randn(256, 1, 28, 28), torch.arange(256) % 10
        add_step("torch", torch_models.MLP(784, 10, 1024, 3), images, labels)
    elif kind == "torch-wrn":
        images, labels = torch.randn(128, 3, 32, 32), torch.arange(128) % 10
        add_step("torch", torch_models.WideResNet(10, 16, 4), images, labels)
        if PRIMARY_ONLY:
            return jobs, {}
        cl = torch.channels_last
        add_step(
            "torch channels_last",
            torch_models.WideResNet(10, 16, 4).to(memory_format=cl),
            images.contiguous(memory_format=cl),
            labels,
        )
    elif kind == "torch-conv":
        conv = torch.nn.Conv2d(64, 64, 3, 1, 1, bias=False)
        x = torch.randn(128, 64, 32, 32, requires_grad=True)
        t = torch.randn(128, 64, 32, 32)

        def all_grads() -> None:
            conv.zero_grad(set_to_none=True)
            x.grad = None
            (conv(x) * t).sum().backward()

        jobs["torch 3x3 fwd+dx+dW"] = all_grads
    else:
        raise ValueError(kind)
    return jobs, {}


def worker(kind: str, threads: int) -> int:
    """Serve one (framework, model) pair on stdin/stdout, one JSON object per reply line."""
    out = sys.stdout
    sys.stdout = sys.stderr  # library chatter must not corrupt the protocol
    if threads < (os.cpu_count() or 1):  # XLA:CPU sizes its pool from the usable cores
        os.sched_setaffinity(0, set(sorted(os.sched_getaffinity(0))[:threads]))
    t0 = time.perf_counter()
    if kind.startswith("jax"):
        jobs, compile_s = _jax_jobs(kind)
        import jax

        versions = {"jax": jax.__version__, "flax": metadata.version("flax")}
    else:
        jobs, compile_s = _torch_jobs(kind, threads)
        import torch

        versions = {"torch": torch.__version__}
    first_s = {}
    for name, run in jobs.items():  # warm-up: first step (after compile) and one more
        t1 = time.perf_counter()
        run()
        first_s[name] = time.perf_counter() - t1
        run()
    ready = {
        "jobs": list(jobs),
        "compile_s": compile_s,
        "first_step_s": first_s,
        "setup_s": time.perf_counter() - t0,
        "rss_after_warmup_mb": _rss_mb(),
        "versions": versions,
    }
    print(json.dumps(ready), file=out, flush=True)
    for line in sys.stdin:
        cmd = line.split()
        if not cmd or cmd[0] == "quit":
            break
        name, n = " ".join(cmd[2:]), int(cmd[1])
        wall, cpu = [], []
        for _ in range(n):
            c0, t1 = time.process_time(), time.perf_counter()
            jobs[name]()
            wall.append(time.perf_counter() - t1)
            cpu.append(time.process_time() - c0)
        print(json.dumps({"wall": wall, "cpu": cpu}), file=out, flush=True)
    print(json.dumps({"peak_rss_mb": _rss_mb()}), file=out, flush=True)
    return 0


# --------------------------------------------------------------------------------------------
# Parent


class Worker:
    def __init__(self, kind: str, threads: int):
        env = dict(os.environ)
        env.setdefault("JAX_PLATFORMS", "cpu")
        env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        env["OMP_NUM_THREADS"] = str(threads)
        env.pop("JAX_COMPILATION_CACHE_DIR", None)  # compile times are cold compiles
        env["JAX_ENABLE_COMPILATION_CACHE"] = "false"
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
        self.kind = kind
        self.proc = subprocess.Popen(
            [sys.executable, __file__, "--worker", kind, "--threads", str(threads)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
            cwd=REPO,
        )
        self.info = self._read()

    def _read(self) -> dict:
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"worker {self.kind} died (exit {self.proc.wait()})")
        return json.loads(line)

    def run(self, job: str, n: int) -> dict:
        self.proc.stdin.write(f"run {n} {job}\n")
        self.proc.stdin.flush()
        return self._read()

    def quit(self) -> float:
        self.proc.stdin.write("quit\n")
        self.proc.stdin.flush()
        rss = self._read()["peak_rss_mb"]
        self.proc.wait()
        return rss


def run_end_to_end(epochs: int, threads: int) -> dict:
    """One `nc-mixup train` of E2E_CONFIG for `epochs` epochs in a fresh workdir.

    Returns the `images_per_sec` of the train lines after the first epoch ('ips'), the wall time
    and the CLI's exit status. The compilation cache is shared as in normal use (the first epoch,
    which includes compilation, is not timed anyway). With fewer `threads` than cores the run is
    pinned to that many cores, like the workers.
    """
    workdir = tempfile.mkdtemp(prefix="bench_e2e_")
    env = dict(os.environ)
    env.setdefault("JAX_PLATFORMS", "cpu")
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    cmd = [
        sys.executable,
        "-m",
        "nc_mixup",
        "train",
        "--config",
        E2E_CONFIG,
        "--workdir",
        workdir,
        f"--config.num_epochs={epochs}",
        "--config.log_every_steps=20",
        "--config.snapshot_epochs=",
    ]
    t0 = time.perf_counter()
    try:
        cores = set(sorted(os.sched_getaffinity(0))[:threads])
        pin = (lambda: os.sched_setaffinity(0, cores)) if threads < (os.cpu_count() or 1) else None
        proc = subprocess.run(
            cmd, cwd=REPO, env=env, capture_output=True, text=True, preexec_fn=pin
        )
        if proc.returncode != 0:
            raise RuntimeError(f"nc-mixup train failed ({proc.returncode}): {proc.stderr[-2000:]}")
        lines = [json.loads(x) for x in (pathlib.Path(workdir) / "metrics.jsonl").open()]
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    ips = [r["images_per_sec"] for r in lines if "images_per_sec" in r and r["epoch"] > 1]
    return {"ips": ips, "wall_s": time.perf_counter() - t0}


def run_group(group: str, rounds: int, steps: int, threads: int, e2e_epochs: int = 0) -> dict:
    kinds, reference = GROUPS[group]
    print(f"\n--- {group}: starting {', '.join(kinds)}", flush=True)
    workers = [Worker(k, threads) for k in kinds]
    times: dict[str, dict[str, list[float]]] = {}
    for w in workers:
        for job in w.info["jobs"]:
            times[job] = {"wall": [], "cpu": []}
    e2e_ips: list[float] = []
    for r in range(rounds):
        order = workers if r % 2 == 0 else workers[::-1]
        if e2e_epochs and r % 2 == 1:  # end to end between the workers' turns, every other round
            e2e_ips += run_end_to_end(e2e_epochs, threads)["ips"]
        for w in order:
            jobs = w.info["jobs"]
            jobs = jobs[r % len(jobs) :] + jobs[: r % len(jobs)]
            for job in jobs:
                res = w.run(job, steps)
                times[job]["wall"] += res["wall"]
                times[job]["cpu"] += res["cpu"]
        print(f"    round {r + 1}/{rounds} done, load {os.getloadavg()[0]:.1f}", flush=True)
    result: dict = {"jobs": {}, "reference": reference}
    for w in workers:
        rss = w.quit()
        for job in w.info["jobs"]:
            wall = times[job]["wall"]
            result["jobs"][job] = {
                "worker": w.kind,
                "median_s": statistics.median(wall),
                "best_s": min(wall),
                "cpu_median_s": statistics.median(times[job]["cpu"]),
                "n": len(wall),
                "compile_s": w.info["compile_s"].get(job),
                "first_step_s": w.info["first_step_s"][job],
                "peak_rss_mb": rss,
                "versions": w.info["versions"],
            }
    if e2e_ips:
        med, best = statistics.median(e2e_ips), max(e2e_ips)
        batch = BATCH[group]
        result["jobs"][E2E_JOB] = {
            "worker": "nc-mixup train",
            "median_s": batch / med,
            "best_s": batch / best,
            "cpu_median_s": float("nan"),
            "n": len(e2e_ips),
            "compile_s": None,
            "first_step_s": None,
            "peak_rss_mb": float("nan"),
            "images_per_sec": e2e_ips,
            "versions": {},
        }
    result["load_average"] = os.getloadavg()
    _print_group(group, result)
    return result


def _reference(group: str, job: str, default: str) -> str:
    if group == "conv":
        for prefix, ref in CONV_REFERENCES.items():
            if job.startswith(prefix):
                return ref
    return default


def _print_group(group: str, result: dict) -> None:
    jobs, batch = result["jobs"], BATCH[group]
    unit = "img/s" if group != "conv" else "ms"
    print(
        f"{'job':44s} {'median':>9s} {'best':>9s} {unit:6s} {'ratio':>7s} {'(best)':>7s} "
        f"{'vs':24s} {'cpu s':>6s} {'compile':>8s} {'RSS MB':>7s}"
    )
    for name, j in jobs.items():
        ref = _reference(group, name, result["reference"])
        ref_med, ref_best = jobs[ref]["median_s"], jobs[ref]["best_s"]
        if group == "conv":
            med, best = f"{j['median_s'] * 1e3:9.1f}", f"{j['best_s'] * 1e3:9.1f}"
        else:
            med, best = f"{batch / j['median_s']:9.1f}", f"{batch / j['best_s']:9.1f}"
        ratio = ref_med / j["median_s"]
        ratio_best = ref_best / j["best_s"]
        comp = f"{j['compile_s']:7.1f}s" if j["compile_s"] is not None else "      -"
        print(
            f"{name:44s} {med} {best} {'':6s} {ratio:6.2f}x {ratio_best:6.2f}x {ref[:24]:24s} "
            f"{j['cpu_median_s']:6.2f} {comp:>8s} {j['peak_rss_mb']:7.0f}"
        )
    print(
        "(ratio = reference time / job time: > 1 means faster than the reference; "
        "RSS is per worker process)"
    )
    load = result.get("load_average")
    if load:
        print(f"load average at the end: {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--only", choices=sorted(GROUPS), action="append")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--steps", type=int, default=0, help="timed steps per turn (0: per group)")
    p.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    p.add_argument("--json", type=pathlib.Path)
    p.add_argument(
        "--e2e-epochs",
        type=int,
        default=2,
        help="epochs of each end-to-end `nc-mixup train` run in the mlp group (0: no such row)",
    )
    p.add_argument(
        "--primary-only",
        action="store_true",
        help="one job per worker (JAX: Conv + cpu_compiler_options; PyTorch: NCHW), "
        "so the peak RSS is that of one model",
    )
    p.add_argument("--worker", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        return worker(args.worker, args.threads)
    if args.primary_only:
        os.environ["BENCH_TRAIN_PRIMARY_ONLY"] = "1"  # inherited by the workers
    print(f"threads: {args.threads} per framework; load {os.getloadavg()[0]:.1f}")
    results = {}
    for group in args.only or list(GROUPS):
        steps = args.steps or {"mlp": 10, "wrn": 2, "conv": 3}[group]
        e2e = args.e2e_epochs if group == "mlp" else 0
        results[group] = run_group(group, args.rounds, steps, args.threads, e2e)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
