"""Data parallelism over devices with ``jax.sharding``: a mesh over every visible device
(all hosts after ``jax.distributed.initialize()``), parameters replicated, batches split."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

__all__ = ["DataParallel"]


class DataParallel:
    """Data parallelism over devices with ``jax.sharding``: parameters and optimizer
    state replicated, each batch split along its batch axis.

    Args:
        devices: the devices to use. Default: every visible device (all hosts after
            ``jax.distributed.initialize()``).
    """

    def __init__(self, devices: Iterable[jax.Device] | None = None) -> None:
        self.devices = list(jax.devices() if devices is None else devices)
        self.mesh = Mesh(np.array(self.devices), ("data",))
        self.replicated = NamedSharding(self.mesh, P())

    @property
    def size(self) -> int:
        return len(self.devices)

    def batch_sharding(self, fused: bool = False) -> NamedSharding:
        """Split dim 0 over devices (dim 1 for a K-stacked fused batch)."""
        return NamedSharding(self.mesh, P(None, "data") if fused else P("data"))

    def replicate(self, tree: Any) -> Any:
        """Put ``tree`` (e.g. a TrainState) on every device."""
        return jax.device_put(tree, self.replicated)

    def shard_batch(self, batch: Any, fused: bool = False) -> Any:
        """Place a host batch split over the devices.

        Single host: ``batch`` is the global batch. Several hosts: each passes its own
        slice of the global batch (``global_batch / jax.process_count()`` rows).
        Raises ValueError when the batch does not split evenly over the devices.
        """
        axis = 1 if fused else 0
        sharding = self.batch_sharding(fused)
        local_devices = len(self.mesh.local_devices)

        def place(a):
            a = np.asarray(a)
            if a.shape[axis] % local_devices:
                raise ValueError(
                    f"batch size {a.shape[axis]} is not divisible by the number of devices "
                    f"({local_devices} on this host); choose a multiple of {local_devices}"
                )
            if jax.process_count() == 1:
                return jax.device_put(a, sharding)
            return jax.make_array_from_process_local_data(sharding, a)

        return jax.tree_util.tree_map(place, batch)
