"""Data parallelism over a device mesh: batches sharded on a 'data' axis, parameters replicated.

One 1-D `Mesh` over all devices of all processes, in process-major order, so that process p's
rows `[p*B/P, (p+1)*B/P)` of a global batch (what `EpochIterator` yields to it) land on its own
devices. The same code runs on 1 CPU, forced host devices, GPUs, a TPU host or a pod.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

DATA_AXIS = "data"


def _process_major_devices() -> list[jax.Device]:
    try:
        from nc_mixup.distributed import process_major_devices
    except ImportError:  # pragma: no cover
        return sorted(jax.devices(), key=lambda d: (d.process_index, d.id))
    return process_major_devices()


def create_mesh(devices: Sequence[jax.Device] | None = None) -> Mesh:
    """A 1-D mesh with axis 'data' over `devices` (default: all, process-major)."""
    devices = _process_major_devices() if devices is None else list(devices)
    return Mesh(np.asarray(devices), (DATA_AXIS,))


def batch_sharding(mesh: Mesh) -> NamedSharding:
    """Leading (batch) axis split over 'data', other axes whole."""
    return NamedSharding(mesh, P(DATA_AXIS))


def replicated_sharding(mesh: Mesh) -> NamedSharding:
    """The whole array on every device."""
    return NamedSharding(mesh, P())


def check_batch_size(batch_size: int, mesh: Mesh) -> None:
    """Raises ValueError unless the global batch splits evenly over the mesh's devices."""
    n = mesh.devices.size
    if batch_size % n:
        raise ValueError(f"global batch size {batch_size} is not divisible by {n} devices")


def shard_batch(local_batch: Mapping[str, np.ndarray], mesh: Mesh) -> dict[str, jax.Array]:
    """This process's rows of a global batch -> global arrays sharded over 'data'.

    `local_batch` holds rows `[p*B/P, (p+1)*B/P)` of the global batch of size B (all rows in a
    single process).
    """
    sharding = batch_sharding(mesh)
    count = jax.process_count()
    if count == 1:  # one process: device_put is 4x cheaper on the host (0.1 vs 0.46 ms, MLP batch)
        return {k: jax.device_put(np.asarray(v), sharding) for k, v in local_batch.items()}
    out = {}
    for key, value in local_batch.items():
        value = np.asarray(value)
        global_shape = (value.shape[0] * count, *value.shape[1:])
        out[key] = jax.make_array_from_process_local_data(sharding, value, global_shape)
    return out


def replicate(tree: Any, mesh: Mesh) -> Any:
    """Puts every leaf of `tree` (the same value in every process) on all devices of `mesh`."""
    sharding = replicated_sharding(mesh)
    return jax.tree.map(
        lambda x: jax.make_array_from_process_local_data(sharding, np.asarray(x), np.shape(x)),
        tree,
    )


def to_host(tree: Any) -> Any:
    """Replicated (or fully addressable) arrays as numpy arrays on the host."""
    return jax.tree.map(lambda x: np.asarray(jax.device_get(x)), tree)
