"""Multi-process start-up: `jax.distributed.initialize()` when the environment says so.

Call `initialize()` once, first thing, before anything touches JAX devices (`jax.devices()`,
`jax.numpy` arrays, a jitted call). One process per host is the model (big_vision style): every
process runs the same command, loads only its slice of each global batch and contributes it with
`jax.make_array_from_process_local_data`; process 0 alone writes logs, figures and reports.

Where the process topology comes from, first match wins:

1. explicit arguments (the `--coordinator`, `--num-processes`, `--process-id` flags);
2. environment variables `NC_MIXUP_COORDINATOR`, `NC_MIXUP_NUM_PROCESSES`, `NC_MIXUP_PROCESS_ID`
   (or JAX's own `JAX_COORDINATOR_ADDRESS`, `JAX_NUM_PROCESSES`, `JAX_PROCESS_ID`);
3. `NC_MIXUP_DISTRIBUTED=1` forces, `=0` forbids, JAX's own cluster auto-detection;
4. otherwise (auto): a Slurm job step (`srun`) or Open MPI job with more than one task, a Cloud
   TPU VM (TPU chips on the PCI bus and `libtpu` installed, single host or pod slice) or a GKE TPU
   job with several workers is detected and `jax.distributed.initialize()` fills in the rest
   (TPU detection is skipped when `JAX_PLATFORMS` is set without `tpu`).

Anything else is a single process and `initialize` does nothing.
"""

from __future__ import annotations

import dataclasses
import glob
import importlib.util
import logging
import os
import pathlib
from collections.abc import Mapping

import jax

log = logging.getLogger(__name__)

# Google's PCI vendor id and the device ids of TPU chips (as in jax._src.hardware_utils).
_GOOGLE_PCI_VENDOR = "0x1ae0"
_TPU_PCI_DEVICES = {"0x0027", "0x0056", "0x005e", "0x0062", "0x0063", "0x006f", "0x0076"}


@dataclasses.dataclass(frozen=True)
class Plan:
    """How to call `jax.distributed.initialize` (None fields: JAX auto-detects them)."""

    coordinator: str | None
    num_processes: int | None
    process_id: int | None
    reason: str


def _env_int(environ: Mapping[str, str], *names: str) -> int | None:
    for name in names:
        value = environ.get(name, "").strip()
        if value:
            try:
                return int(value)
            except ValueError:
                raise ValueError(f"{name}={value!r} is not an integer") from None
    return None


def tpu_vm_present() -> bool:
    """True on a Cloud TPU VM: TPU chips on the PCI bus and `libtpu` importable."""
    if importlib.util.find_spec("libtpu") is None:
        return False
    for vendor in glob.glob("/sys/bus/pci/devices/*/vendor"):
        try:
            if pathlib.Path(vendor).read_text().strip() != _GOOGLE_PCI_VENDOR:
                continue
            device = pathlib.Path(vendor).with_name("device").read_text().strip()
        except OSError:
            continue
        if device in _TPU_PCI_DEVICES:
            return True
    return bool(glob.glob("/dev/accel[0-9]*"))


def plan(
    coordinator: str | None = None,
    num_processes: int | None = None,
    process_id: int | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    tpu_present: bool | None = None,
) -> Plan | None:
    """Decides whether (and how) to initialise JAX's distributed system; None: single process.

    Pure apart from reading `environ` (default `os.environ`) and probing for a TPU VM
    (`tpu_present=None`), so it can be tested without starting anything.
    """
    env = os.environ if environ is None else environ
    if coordinator is None and num_processes is None and process_id is None:
        coordinator = env.get("NC_MIXUP_COORDINATOR") or env.get("JAX_COORDINATOR_ADDRESS") or None
        num_processes = _env_int(env, "NC_MIXUP_NUM_PROCESSES", "JAX_NUM_PROCESSES")
        process_id = _env_int(env, "NC_MIXUP_PROCESS_ID", "JAX_PROCESS_ID")
        source = "environment variables"
    else:
        source = "--coordinator/--num-processes/--process-id"

    if coordinator is not None or num_processes is not None or process_id is not None:
        if num_processes is not None and num_processes < 1:
            raise ValueError(f"number of processes must be >= 1, got {num_processes}")
        if num_processes == 1 and process_id in (None, 0):
            return None
        missing = [
            name
            for name, value in (
                ("coordinator", coordinator),
                ("num_processes", num_processes),
                ("process_id", process_id),
            )
            if value is None
        ]
        if missing:
            raise ValueError(
                f"multi-process run from {source} needs coordinator, num_processes and "
                f"process_id together; missing: {', '.join(missing)}"
            )
        assert num_processes is not None and process_id is not None
        if not 0 <= process_id < num_processes:
            raise ValueError(f"process_id {process_id} not in [0, {num_processes})")
        return Plan(coordinator, num_processes, process_id, source)

    switch = env.get("NC_MIXUP_DISTRIBUTED", "auto").strip().lower()
    if switch in ("0", "false", "no", "off"):
        return None
    if switch in ("1", "true", "yes", "on"):
        return Plan(None, None, None, "NC_MIXUP_DISTRIBUTED=1 (JAX cluster auto-detection)")
    if switch != "auto":
        raise ValueError(f"NC_MIXUP_DISTRIBUTED must be 0, 1 or auto, got {switch!r}")

    # The variables JAX's own cluster detection reads (jax._src.clusters), so that it succeeds.
    slurm = ("SLURM_JOB_ID", "SLURM_STEP_NODELIST", "SLURM_PROCID", "SLURM_LOCALID")
    if (_env_int(env, "SLURM_NTASKS") or 1) > 1 and all(k in env for k in slurm):
        return Plan(None, None, None, "Slurm job step (srun) with several tasks")
    if (_env_int(env, "OMPI_COMM_WORLD_SIZE") or 1) > 1 and "OMPI_MCA_orte_hnp_uri" in env:
        return Plan(None, None, None, "Open MPI job with several ranks")
    platforms = env.get("JAX_PLATFORMS", "").lower()
    if platforms and "tpu" not in platforms:
        return None  # e.g. JAX_PLATFORMS=cpu on a TPU VM: not a TPU run
    if len([h for h in env.get("TPU_WORKER_HOSTNAMES", "").split(",") if h.strip()]) > 1:
        return Plan(None, None, None, "GKE TPU job with several workers")
    if tpu_present is None:
        tpu_present = tpu_vm_present()
    if tpu_present and "TPU_SKIP_MDS_QUERY" not in env:
        return Plan(None, None, None, "Cloud TPU VM (single host or pod slice)")
    return None


def _backends_started() -> bool:
    try:
        from jax._src import xla_bridge

        return bool(xla_bridge.backends_are_initialized())
    except (ImportError, AttributeError):  # private API moved: let JAX itself complain
        return False


def initialize(
    coordinator: str | None = None,
    num_processes: int | None = None,
    process_id: int | None = None,
) -> bool:
    """Starts JAX's distributed system when the environment says so (see the module docstring).

    Must run before any JAX device use. Idempotent; a no-op for a single process. Returns True
    when this is (now) a multi-process JAX run.

    Raises:
      ValueError: inconsistent flags or environment variables.
      RuntimeError: JAX devices were already used, so the processes cannot be joined any more.
    """
    if jax.distributed.is_initialized():
        return jax.process_count() > 1
    how = plan(coordinator, num_processes, process_id)
    if how is None:
        return False
    if _backends_started():
        raise RuntimeError(
            f"multi-process run requested ({how.reason}) but JAX devices were already used in "
            "this process: call nc_mixup.distributed.initialize() before anything touches JAX "
            "devices"
        )
    if jax.config.jax_cpu_collectives_implementation is None:
        # Cross-process collectives on CPU (tests, CPU clusters) need an implementation. JAX
        # 0.10 defaults to gloo already; older versions defaulted to none.
        jax.config.update("jax_cpu_collectives_implementation", "gloo")
    log.info(
        "jax.distributed.initialize(coordinator=%s, num_processes=%s, process_id=%s): %s",
        how.coordinator,
        how.num_processes,
        how.process_id,
        how.reason,
    )
    jax.distributed.initialize(
        coordinator_address=how.coordinator,
        num_processes=how.num_processes,
        process_id=how.process_id,
    )
    return jax.process_count() > 1


def is_main_process() -> bool:
    """True in process 0, the one that writes logs, figures and reports."""
    return jax.process_index() == 0


@dataclasses.dataclass(frozen=True)
class ProcessSlice:
    """This process's share of a global batch: rows `[start, stop)` of every global batch."""

    process_index: int
    process_count: int
    local_device_count: int
    global_batch_size: int
    start: int
    stop: int

    @property
    def local_batch_size(self) -> int:
        return self.stop - self.start

    def as_slice(self) -> slice:
        return slice(self.start, self.stop)


def process_slice(global_batch_size: int) -> ProcessSlice:
    """The rows of each global batch this process loads (the `EpochIterator` contract).

    The global batch must split evenly over all devices, so that every device of every process
    gets the same number of rows.
    """
    pi, pc = jax.process_index(), jax.process_count()
    n_dev = jax.device_count()
    if global_batch_size % n_dev:
        raise ValueError(
            f"global batch size {global_batch_size} is not divisible by the {n_dev} devices "
            f"of {pc} process(es)"
        )
    per = global_batch_size // pc
    return ProcessSlice(
        pi, pc, jax.local_device_count(), global_batch_size, pi * per, (pi + 1) * per
    )


def process_major_devices() -> list[jax.Device]:
    """All devices ordered by (process, id): a 1-D 'data' mesh over them puts process p's rows
    of the global batch at `[p*B/P, (p+1)*B/P)`, the order `EpochIterator` slices them in, so the
    global batch (and the mixup pairing over it) does not depend on the process count."""
    return sorted(jax.devices(), key=lambda d: (d.process_index, d.id))


def announce(key: str, value: str = "1") -> None:
    """Process 0 tells the others that `key` happened (JAX's coordination key-value store;
    nothing with one process). See `wait_for`."""
    if jax.process_count() > 1:
        from jax._src import distributed as jax_distributed

        jax_distributed.global_state.client.key_value_set(key, value)


def wait_for(key: str, timeout_s: float = 7 * 24 * 3600) -> str | None:
    """Blocks until `key` was announced (by process 0), keeping this process alive and in touch
    with the coordinator meanwhile, unlike a barrier with a short timeout; None with one
    process. Used by processes that have nothing to do while process 0 works alone."""
    if jax.process_count() <= 1:
        return None
    from jax._src import distributed as jax_distributed

    return jax_distributed.global_state.client.blocking_key_value_get(key, int(timeout_s * 1000))


def barrier(name: str) -> None:
    """All processes wait here until every one arrives (nothing with one process)."""
    if jax.process_count() > 1:
        import orbax.checkpoint as ocp

        ocp.multihost.sync_global_processes(name)
