"""Data parallelism over devices with ``jax.sharding``: a mesh over every visible device
(all processes after ``jaxnn.distributed.initialize()``), batches split along the batch
axis, and the training state either replicated (:class:`DataParallel`) or sharded
(:class:`FullyShardedDataParallel`).

In a run of several processes every process executes the same program: each feeds its own
slice of every global batch (``DataLoader(num_shards=..., shard_index=...)``), the state
arrays span every process's devices, and XLA inserts the collectives (gloo on CPU).
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable, Iterable
from typing import Any

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

__all__ = [
    "DataParallel",
    "FullyShardedDataParallel",
    "check_same_across_processes",
    "shard_axis",
]

AXIS = "data"


class DataParallel:
    """Data parallelism over devices with ``jax.sharding``: parameters and optimizer
    state replicated, each batch split along its batch axis; ``torch.nn.parallel.
    DistributedDataParallel``.

    Args:
        devices: the devices to use. Default: every visible device (of every process after
            ``jaxnn.distributed.initialize()``).

    Example::

        >>> from jaxnn.train import TrainState
        >>> state = TrainState.create(nn.Linear(4, 2), optim.SGD(0.1), jnp.ones((2, 4)))
        >>> parallel = DataParallel()
        >>> state = parallel.place(state)  # before restoring a checkpoint into it
        >>> parallel.size == jax.device_count()  # then fit(..., parallel=parallel)
        True
    """

    def __init__(self, devices: Iterable[jax.Device] | None = None) -> None:
        self.devices = list(jax.devices() if devices is None else devices)
        self.mesh = Mesh(np.array(self.devices), (AXIS,))
        self.replicated = NamedSharding(self.mesh, P())

    def __repr__(self) -> str:
        return f"{type(self).__name__}(devices={self.size}, processes={jax.process_count()})"

    @property
    def size(self) -> int:
        return len(self.devices)

    # ------------------------------------------------------------------ the training state

    def sharding(self, leaf: Any) -> NamedSharding:
        """Where this strategy keeps one leaf of the training state: on every device."""
        return self.replicated

    def shardings(self, tree: Any) -> Any:
        """:meth:`sharding` of every leaf of ``tree`` (arrays, ``jax.ShapeDtypeStruct`` or
        tracers: only shapes are read)."""
        return jax.tree_util.tree_map(self.sharding, tree)

    def constrain(self, tree: Any) -> Any:
        """Inside a jitted function: keep ``tree`` where :meth:`shardings` says."""
        return jax.lax.with_sharding_constraint(tree, self.shardings(tree))

    def place(self, tree: Any) -> Any:
        """Put the training state ``tree`` (e.g. a TrainState) where this strategy keeps it.

        With several processes, each passes the state it built (the same on every process)
        and each device receives its part; a state already placed is only moved.

        Raises:
            ValueError: the processes disagree about the model: their states differ in
                structure, shapes, dtypes or values (the message names the leaves).
        """
        return self._put(tree, self.sharding)

    def create(self, make: Callable[[], Any]) -> Any:
        """Call ``make`` (e.g. ``lambda: TrainState.create(model, optimizer, x0, seed=0)``)
        compiled, with its result created where :meth:`place` would put it: each device
        computes only its part, so a state too large for one device can be built.

        The values equal ``place(make())``'s. With several processes every process must
        call it with the same arguments; their structure is checked (a ValueError names the
        first leaf that differs), their values cannot be before they exist.
        """
        shapes = jax.eval_shape(make)
        if jax.process_count() > 1:
            check_same_across_processes(shapes, type(self).__name__)
        return jax.jit(make, out_shardings=self.shardings(shapes))()

    def replicate(self, tree: Any) -> Any:
        """Put ``tree`` on every device, whole (what :meth:`place` does for DataParallel)."""
        return self._put(tree, lambda leaf: self.replicated)

    def _put(self, tree: Any, sharding: Any) -> Any:
        if jax.process_count() > 1:
            tree = jax.tree_util.tree_map(_host_or_global, tree)
            check_same_across_processes(tree, type(self).__name__)
        return jax.device_put(tree, jax.tree_util.tree_map(sharding, tree))

    def to_host(self, tree: Any) -> Any:
        """The whole value of every array of ``tree`` as numpy, on every process (gathered
        from the other processes where the array is sharded across them)."""

        def fetch(a: Any) -> Any:
            if not isinstance(a, jax.Array) or a.is_fully_addressable:
                return np.asarray(a)
            if a.is_fully_replicated:
                return np.asarray(a.addressable_data(0))
            from jax.experimental import multihost_utils

            return np.asarray(multihost_utils.process_allgather(a, tiled=True))

        return jax.tree_util.tree_map(fetch, tree)

    def bytes_per_device(self, tree: Any) -> dict[jax.Device, int]:
        """How many bytes of ``tree``'s arrays each device holds, from their shardings."""
        held = dict.fromkeys(self.devices, 0)
        for leaf in jax.tree_util.tree_leaves(tree):
            sharding = getattr(leaf, "sharding", None)
            if sharding is None:
                continue
            nbytes = math.prod(sharding.shard_shape(leaf.shape)) * leaf.dtype.itemsize
            for device in sharding.device_set:
                held[device] = held.get(device, 0) + nbytes
        return held

    # ------------------------------------------------------------------ batches

    def batch_sharding(self, fused: bool = False) -> NamedSharding:
        """Split dim 0 over devices (dim 1 for a K-stacked fused batch)."""
        return NamedSharding(self.mesh, P(None, AXIS) if fused else P(AXIS))

    def shard_batch(
        self, batch: Any, fused: bool = False, *, per_process: bool | None = None
    ) -> Any:
        """Place a host batch split over the devices.

        Args:
            batch: a pytree of numpy arrays.
            fused: the batch has a leading K axis (``steps_per_call`` > 1); split dim 1.
            per_process: each process passes its own slice of the global batch
                (``global_batch / jax.process_count()`` rows, from a DataLoader with
                ``num_shards``) rather than the whole batch. Default: True with several
                processes (with one, the slice is the whole batch).

        Raises:
            ValueError: the global batch size is not divisible by the number of devices.
        """
        axis = 1 if fused else 0
        sharding = self.batch_sharding(fused)
        processes = jax.process_count()
        per_process = processes > 1 if per_process is None else per_process

        def place(a):
            a = np.asarray(a)
            rows = a.shape[axis] * (processes if per_process else 1)
            if rows % self.size:
                got = f"batch size {rows}"
                if per_process and processes > 1:
                    got += f" ({a.shape[axis]} on each of {processes} processes)"
                raise ValueError(
                    f"{type(self).__name__}: {got} is not divisible by the number of devices "
                    f"({self.size}); choose a multiple of {self.size}"
                )
            if processes == 1:
                return jax.device_put(a, sharding)
            global_shape = None if per_process else a.shape
            return jax.make_array_from_process_local_data(sharding, a, global_shape)

        return jax.tree_util.tree_map(place, batch)

    def loader_is_per_process(self, loader: Any) -> bool:
        """Whether ``loader``'s batches are this process's slices of the global batches
        (a DataLoader with ``num_shards=jax.process_count()``) or whole batches, the same
        on every process (``num_shards`` 1, or a loader without ``num_shards``).

        Raises:
            ValueError: ``num_shards`` or ``shard_index`` does not fit this run.
        """
        shards = getattr(loader, "num_shards", 1)
        index = getattr(loader, "shard_index", 0)
        processes = jax.process_count()
        if shards == 1:
            return False
        if shards != processes or index != jax.process_index():
            raise ValueError(
                f"{type(self).__name__}: a DataLoader with num_shards={shards}, "
                f"shard_index={index} in process {jax.process_index()} of {processes}; pass "
                "num_shards=jax.process_count(), shard_index=jax.process_index() (or "
                "num_shards=1 for whole batches on every process)"
            )
        return True


class FullyShardedDataParallel(DataParallel):
    """Data parallelism with the parameters and optimizer state sharded over the devices;
    ``torch.distributed.fsdp.FullyShardedDataParallel`` (ZeRO-3).

    Each leaf of the training state of at least ``min_size`` elements is split along its
    largest dimension that the number of devices divides (the first such, among equals);
    smaller leaves, and leaves with no such dimension, are replicated. Each device holds
    about ``1 / size`` of the state. Batches are split as by :class:`DataParallel`; XLA
    gathers each parameter where it is used and reduce-scatters its gradient, so training
    computes what :class:`DataParallel` computes, up to the order of float sums.

    Args:
        devices: the devices to use. Default: every visible device (of every process).
        min_size: leaves with fewer elements stay replicated. Default: 1024.

    Example::

        >>> from jaxnn.train import TrainState
        >>> state = TrainState.create(nn.Linear(64, 32), optim.Adam(1e-3), jnp.ones((2, 64)))
        >>> parallel = FullyShardedDataParallel()
        >>> state = parallel.place(state)
        >>> per_device = parallel.bytes_per_device(state.params)  # ~1 / parallel.size of them
    """

    def __init__(self, devices: Iterable[jax.Device] | None = None, *, min_size: int = 1024):
        super().__init__(devices)
        if min_size < 1:
            raise ValueError(f"FullyShardedDataParallel: min_size must be >= 1, got {min_size}")
        self.min_size = min_size

    def __repr__(self) -> str:
        return f"{super().__repr__()[:-1]}, min_size={self.min_size})"

    def sharding(self, leaf: Any) -> NamedSharding:
        """The leaf split along :func:`shard_axis` of its shape (replicated if None)."""
        shape = tuple(getattr(leaf, "shape", ()))
        axis = shard_axis(shape, self.size, self.min_size)
        if axis is None:
            return self.replicated
        # no trailing Nones: the spec a jitted step gives back, so a placed state and a
        # stepped one hit the same compiled step
        return NamedSharding(self.mesh, P(*[None] * axis, AXIS))


def shard_axis(shape: tuple[int, ...], num_shards: int, min_size: int = 1024) -> int | None:
    """The dimension :class:`FullyShardedDataParallel` splits an array of ``shape`` along:
    its largest dimension divisible by ``num_shards`` (the first, among equals), or None
    (replicate) for arrays of fewer than ``min_size`` elements or with no such dimension.

    Args:
        shape: the array's shape.
        num_shards: the number of devices it would be split over.
        min_size: arrays with fewer elements are replicated. Default: 1024.

    Example::

        >>> shard_axis((400, 120), 4), shard_axis((84, 100), 4), shard_axis((84, 10), 4)
        (0, 1, None)
    """
    if math.prod(shape) < min_size:
        return None
    divisible = [d for d, n in enumerate(shape) if n % num_shards == 0]
    return max(divisible, key=lambda d: shape[d], default=None)


# ----------------------------------------------------------------------------- processes


def _host_or_global(leaf: Any) -> Any:
    """A leaf as numpy when this process holds all of it (to be placed and compared), or the
    array itself when it already spans the processes."""
    if isinstance(leaf, jax.Array) and not leaf.is_fully_addressable:
        return leaf
    return np.asarray(leaf)


def _describe_leaves(tree: Any) -> list[list[Any]]:
    """[path, shape, dtype, digest of the value] per leaf; arrays that already span the
    processes have one value by construction and no digest."""
    rows = []
    for path, leaf in jax.tree_util.tree_flatten_with_path(tree)[0]:
        digest = None
        if isinstance(leaf, np.ndarray):
            digest = hashlib.blake2b(np.ascontiguousarray(leaf).tobytes(), digest_size=8)
            digest = digest.hexdigest()
        name = jax.tree_util.keystr(path, simple=True, separator="/")
        rows.append([name, list(np.shape(leaf)), str(np.dtype(leaf.dtype)), digest])
    return rows


def _allgather_text(text: str) -> list[str]:
    """Every process's ``text``, in process order."""
    from jax.experimental import multihost_utils

    data = np.frombuffer(text.encode(), np.uint8)
    lengths = multihost_utils.process_allgather(np.array([data.size], np.int64))
    padded = np.zeros(int(np.max(lengths)), np.uint8)
    padded[: data.size] = data
    gathered = multihost_utils.process_allgather(padded)
    return [bytes(row[: int(n)]).decode() for row, n in zip(gathered, np.ravel(lengths))]


def check_same_across_processes(tree: Any, who: str = "jaxnn") -> None:
    """Raise ValueError unless every process holds the same ``tree``: the same leaves with
    the same shapes, dtypes and values (compared by digest). Every process must call it.

    torch's DistributedDataParallel checks the parameters' shapes and then copies process
    0's values to the others; here values that differ are an error too, since they mean the
    processes did not build the same state (another seed, another checkpoint).

    Args:
        tree: a pytree of arrays (jax or numpy), e.g. a ``TrainState``.
        who: the name the error message starts with. Default: ``'jaxnn'``.
    """
    mine = _describe_leaves(tree)
    everyone = [json.loads(text) for text in _allgather_text(json.dumps(mine))]
    first = everyone[0]
    for process, rows in enumerate(everyone[1:], start=1):
        n = max(len(first), len(rows))
        at = next((i for i in range(n) if _entry(first, i)[:3] != _entry(rows, i)[:3]), None)
        if at is not None:
            raise ValueError(
                f"{who}: the processes disagree about the model: process {process} has "
                f"{_show(rows, at)}, process 0 has {_show(first, at)}; every process must "
                "build the same model with the same arguments"
            )
        differ = [a[0] for a, b in zip(first, rows) if a[3] != b[3]]
        if differ:
            more = f" (and {len(differ) - 1} more)" if len(differ) > 1 else ""
            raise ValueError(
                f"{who}: the processes disagree about the model's values: {differ[0]}{more} "
                f"differs between process 0 and process {process}; create the state with the "
                "same seed on every process (or restore it from the same checkpoint)"
            )


def _entry(rows: list[list[Any]], i: int) -> list[Any]:
    return rows[i] if i < len(rows) else [None] * 4


def _show(rows: list[list[Any]], i: int) -> str:
    if i >= len(rows):
        return f"no more arrays (only {len(rows)})"
    name, shape, dtype, _ = rows[i]
    return f"{name} {tuple(shape)} {dtype}"
