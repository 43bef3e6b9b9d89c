"""``torch.utils.data.DataLoader``'s surface over numpy, plus device prefetch.

The loader owns the example order: epoch ``e`` visits the examples in a permutation that is a
function of ``(seed, e)`` only, and every random transform of example ``i`` in epoch ``e`` draws
from a generator seeded by ``(seed, e, i)``. A run resumed with ``loader.set_epoch(e)`` therefore
sees exactly the batches (and augmentations) the interrupted run would have seen.

Two paths produce the batches, and they agree element for element:

* the **array fast path**, for in-memory arrays (one numpy array, a tuple or dict of them, or an
  :class:`~jaxnn.data.ArrayDataset` without transforms): each batch is one fancy-index of every
  array with a slice of the permutation, no Python per example;
* the **generic path**, for any dataset with ``__len__`` and ``__getitem__``: examples are read
  one by one (through ``dataset.get(index, rng)`` when the dataset has it, so random transforms
  use the loader's generator) and collated. With ``num_workers > 0`` batches are built on a
  ``grain`` thread pool (``grain.MapDataset(...).to_iter_dataset(grain.ReadOptions(...))``), which
  keeps them in order and prefetches ahead.
"""

from __future__ import annotations

import collections
import math
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from jaxnn.data.datasets import ArrayDataset

__all__ = ["DataLoader", "default_collate", "element_rng", "prefetch_to_device"]


def element_rng(seed: int, epoch: int, index: int) -> np.random.Generator:
    """The generator the loader hands to the random transforms of example ``index`` in ``epoch``.

    Seeded from ``(seed, epoch, index)`` through ``np.random.SeedSequence``, so it does not
    depend on the batch size, the number of workers or the position of the example in the batch.

    Args:
        seed: the loader's seed.
        epoch: the epoch (``DataLoader.set_epoch``).
        index: the example's index in the dataset.
    """
    return np.random.default_rng((seed, epoch, index))


def default_collate(batch: Sequence[Any]) -> Any:
    """Stack a list of examples into one batch, keeping the structure of one example.

    Like ``torch.utils.data.default_collate`` but to numpy: arrays and scalars are stacked along
    a new leading axis; tuples, lists, named tuples and dicts are collated field by field;
    strings and bytes are returned as a list.

    Args:
        batch: the examples, a non-empty sequence of the same structure.

    Example::

        >>> b = default_collate([(np.zeros(3), 1), (np.ones(3), 2)])
        >>> b[0].shape, b[1]
        ((2, 3), array([1, 2]))
    """
    if len(batch) == 0:
        raise ValueError("default_collate: got an empty batch")
    first = batch[0]
    if isinstance(first, (str, bytes)):
        return list(batch)
    if isinstance(first, Mapping):
        return {key: default_collate([example[key] for example in batch]) for key in first}
    if isinstance(first, tuple) and hasattr(first, "_fields"):  # namedtuple
        return type(first)(*(default_collate(list(field)) for field in zip(*batch)))
    if isinstance(first, (tuple, list)):
        if any(len(example) != len(first) for example in batch):
            raise ValueError(
                f"default_collate: examples have different lengths "
                f"{sorted({len(example) for example in batch})}"
            )
        return type(first)(default_collate(list(field)) for field in zip(*batch))
    return np.stack([np.asarray(example) for example in batch])


def _is_array(x: Any) -> bool:
    """A numpy array or array-like (e.g. a jax.Array) with at least one dimension."""
    return hasattr(x, "__array__") and len(getattr(x, "shape", ())) >= 1


def _as_arrays(dataset: Any) -> tuple[Any, int] | None:
    """The arrays of an in-memory dataset and its length, or None if it is not one.

    The structure (tuple, dict or a single array) is what one batch will look like. A list is
    not one: as in torch, a list is a sequence of examples.
    """
    if isinstance(dataset, ArrayDataset):
        if dataset.transform is not None or dataset.target_transform is not None:
            return None
        dataset = dataset.arrays
    if _is_array(dataset):
        dataset = np.asarray(dataset)
        return dataset, len(dataset)
    if isinstance(dataset, Mapping):
        leaves = list(dataset.values())
    elif isinstance(dataset, tuple):
        leaves = list(dataset)
    else:
        return None
    if not leaves or not all(_is_array(leaf) for leaf in leaves):
        return None
    # jax arrays (and other array-likes) are copied to the host once, not once per batch
    if isinstance(dataset, Mapping):
        dataset = {key: np.asarray(value) for key, value in dataset.items()}
    else:
        dataset = tuple(np.asarray(leaf) for leaf in dataset)
    leaves = list(dataset.values()) if isinstance(dataset, Mapping) else list(dataset)
    lengths = {len(leaf) for leaf in leaves}
    if len(lengths) != 1:
        shapes = [leaf.shape for leaf in leaves]
        raise ValueError(f"DataLoader: arrays differ in their first dimension: shapes {shapes}")
    return dataset, lengths.pop()


def _take(arrays: Any, indices: np.ndarray) -> Any:
    """Index every array of ``arrays`` (array, tuple or dict) with ``indices``."""
    if isinstance(arrays, np.ndarray):
        return arrays[indices]
    if isinstance(arrays, Mapping):
        return {key: value[indices] for key, value in arrays.items()}
    return type(arrays)(value[indices] for value in arrays)


class _ArrayExamples:
    """Example-by-example view of in-memory arrays, for the generic path."""

    def __init__(self, arrays: Any, length: int) -> None:
        self.arrays = arrays
        self.length = length

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> Any:
        return _take(self.arrays, index)


class DataLoader:
    """Iterate over a dataset in numpy batches; ``torch.utils.data.DataLoader``.

    Args:
        dataset: an indexable dataset (``__len__`` and ``__getitem__``; if it also has
            ``get(index, rng)`` the loader calls that, so random transforms are seeded by the
            loader), or in-memory arrays: one numpy array, a tuple of arrays
            (``DataLoader((x, y), batch_size=64)``) or a dict of arrays, all with the same first
            dimension. Arrays take a vectorized path: one fancy-index per batch. A list is a
            sequence of examples, as in torch.
        batch_size: examples per (global) batch. Default: 1.
        shuffle: visit the examples in a new random order each epoch. Default: False.
        drop_last: drop the last batch if it has fewer than ``batch_size`` examples.
            Default: False.
        seed: the order of epoch ``e`` and the generator given to the random transforms of
            example ``i`` depend only on ``(seed, e)`` and ``(seed, e, i)``. Unlike torch there is
            no global RNG: the same seed gives the same data on every run. Default: 0.
        num_workers: threads that build batches of the generic path (0: in the calling thread).
            Threads, not processes: numpy, image decoding and TFDS reads release the GIL. The
            batches are the same for every value. Ignored by the array fast path. Default: 0.
        collate_fn: turns a list of examples into a batch. Default: :func:`default_collate`
            (stack, keeping the structure of one example). Giving one disables the array fast
            path, since it needs the examples one by one.
        num_shards: split every global batch into this many equal slices, one per host; for a
            multi-host run pass ``jax.process_count()``. ``batch_size`` must be divisible by it,
            and ``drop_last`` must be True (every host must see batches of one shape). Default: 1.
        shard_index: which slice this process reads; ``jax.process_index()`` in a multi-host run.
            Every host computes the same global permutation and reads only its rows, so the hosts
            together read each global batch exactly once. Default: 0.

    Each ``iter(loader)`` (each ``for`` loop) runs one epoch and advances ``loader.epoch`` by one,
    starting from 0 or from the value given to :meth:`set_epoch`.

    Shape:
        Each batch has the structure of one example with a leading batch axis: for
        ``DataLoader((x, y), batch_size=B)`` it is ``(x[idx], y[idx])`` with ``len(idx) == B``
        (``B // num_shards`` with sharding); the last batch may be shorter unless ``drop_last``.

    Examples::

        >>> x, y = np.zeros((100, 3), np.float32), np.arange(100) % 2
        >>> loader = DataLoader((x, y), batch_size=64, shuffle=True, seed=0)
        >>> loader.set_epoch(3)  # a run resumed at epoch 3 sees the interrupted run's order
        >>> [xb.shape for xb, yb in prefetch_to_device(loader)]
        [(64, 3), (36, 3)]
    """

    def __init__(
        self,
        dataset: Any,
        batch_size: int = 1,
        shuffle: bool = False,
        drop_last: bool = False,
        seed: int = 0,
        num_workers: int = 0,
        collate_fn: Callable[[list[Any]], Any] | None = None,
        num_shards: int = 1,
        shard_index: int = 0,
    ) -> None:
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"DataLoader: batch_size must be a positive int, got {batch_size!r}")
        if not isinstance(seed, (int, np.integer)) or seed < 0:
            raise ValueError(f"DataLoader: seed must be a non-negative int, got {seed!r}")
        if num_workers < 0:
            raise ValueError(f"DataLoader: num_workers must be >= 0, got {num_workers}")
        if num_shards < 1 or not 0 <= shard_index < num_shards:
            raise ValueError(
                f"DataLoader: need 0 <= shard_index < num_shards, got shard_index={shard_index}, "
                f"num_shards={num_shards}"
            )
        if batch_size % num_shards:
            raise ValueError(
                f"DataLoader: batch_size={batch_size} is not divisible by num_shards={num_shards}"
            )
        if num_shards > 1 and not drop_last:
            raise ValueError(
                f"DataLoader(num_shards={num_shards}): drop_last must be True, so that every host "
                "gets batches of the same shape"
            )
        arrays = _as_arrays(dataset)
        # A collate_fn needs the examples one by one, so arrays then take the generic path.
        self._arrays = arrays if collate_fn is None else None
        self._source = _ArrayExamples(*arrays) if arrays is not None else dataset
        if arrays is None and not (hasattr(dataset, "__len__") and hasattr(dataset, "__getitem__")):
            raise TypeError(
                f"DataLoader: dataset must be numpy arrays or define __len__ and __getitem__, "
                f"got {type(dataset).__name__}"
            )
        self.dataset = dataset
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.drop_last = drop_last
        self.seed = int(seed)
        self.num_workers = num_workers
        self.collate_fn = collate_fn if collate_fn is not None else default_collate
        self.num_shards = num_shards
        self.shard_index = shard_index
        self._epoch = 0

    @property
    def epoch(self) -> int:
        """The epoch the next ``iter(loader)`` will run."""
        return self._epoch

    def set_epoch(self, epoch: int) -> None:
        """Make the next ``iter(loader)`` run epoch ``epoch``; ``DistributedSampler.set_epoch``.

        Call it with the epoch to resume from; later epochs follow on their own.
        """
        if epoch < 0:
            raise ValueError(f"DataLoader.set_epoch: epoch must be >= 0, got {epoch}")
        self._epoch = int(epoch)

    def _num_examples(self) -> int:
        return len(self._source)

    def __len__(self) -> int:
        """Batches per epoch (the same on every shard)."""
        n = self._num_examples()
        return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)

    def indices(self, epoch: int) -> np.ndarray:
        """The example indices of ``epoch`` in visiting order (all shards, before batching)."""
        n = self._num_examples()
        if not self.shuffle:
            return np.arange(n)
        # A generator of its own per epoch, so the order of epoch e never depends on how many
        # epochs ran before (resuming needs exactly this).
        return np.random.default_rng((self.seed, epoch)).permutation(n)

    def _batch_indices(self, epoch: int) -> list[np.ndarray]:
        """This shard's slice of the indices of every global batch of ``epoch``."""
        order = self.indices(epoch)
        local = self.batch_size // self.num_shards
        lo = self.shard_index * local
        batches = []
        for b in range(len(self)):
            global_batch = order[b * self.batch_size : (b + 1) * self.batch_size]
            batches.append(global_batch[lo : lo + local] if self.num_shards > 1 else global_batch)
        return batches

    def __iter__(self) -> Iterator[Any]:
        epoch = self._epoch
        self._epoch += 1
        batches = self._batch_indices(epoch)
        if self._arrays is not None:
            arrays = self._arrays[0]
            return (_take(arrays, idx) for idx in batches)

        def make_batch(idx: np.ndarray) -> Any:
            return self.collate_fn([self._example(int(i), epoch) for i in idx])

        if self.num_workers == 0:
            return (make_batch(idx) for idx in batches)
        import grain  # optional dependency (jaxnn[data]); only the threaded path needs it

        read_options = grain.ReadOptions(
            num_threads=self.num_workers, prefetch_buffer_size=2 * self.num_workers
        )
        return iter(grain.MapDataset.source(batches).map(make_batch).to_iter_dataset(read_options))

    def _example(self, index: int, epoch: int) -> Any:
        get = getattr(self._source, "get", None)
        if callable(get):
            return get(index, element_rng(self.seed, epoch, index))
        return self._source[index]

    def __repr__(self) -> str:
        return (
            f"DataLoader(dataset={type(self.dataset).__name__}, num_examples="
            f"{self._num_examples()}, batch_size={self.batch_size}, shuffle={self.shuffle}, "
            f"drop_last={self.drop_last}, seed={self.seed}, num_workers={self.num_workers}, "
            f"num_shards={self.num_shards}, shard_index={self.shard_index}, "
            f"fast_path={self._arrays is not None})"
        )


def prefetch_to_device(
    iterator: Iterable[Any], size: int = 2, sharding: Any | None = None
) -> Iterator[Any]:
    """Yield the batches of ``iterator`` as device arrays, keeping ``size`` transfers in flight.

    ``jax.device_put`` is asynchronous, so while the model runs on batch ``t`` the next
    ``size - 1`` batches are already being copied to the device.

    Args:
        iterator: yields batches (any pytree of numpy arrays), e.g. a :class:`DataLoader`.
        size: batches on the device or in transfer at once. Default: 2.
        sharding: where to put each batch, e.g.
            ``NamedSharding(mesh, PartitionSpec("data"))`` to split the batch axis over the
            devices of ``mesh``. Default: None (the default device).

    Example::

        >>> from jax.sharding import NamedSharding, PartitionSpec as P
        >>> mesh = jax.make_mesh((jax.device_count(),), ("data",))
        >>> loader = DataLoader((np.zeros((8, 2), np.float32), np.zeros(8)), batch_size=4)
        >>> batches = prefetch_to_device(loader, sharding=NamedSharding(mesh, P("data")))
        >>> [xb.sharding.spec for xb, yb in batches]
        [P('data',), P('data',)]
    """
    import jax

    if size < 1:
        raise ValueError(f"prefetch_to_device: size must be >= 1, got {size}")
    queue: collections.deque = collections.deque()
    for batch in iterator:
        queue.append(jax.device_put(batch, sharding))
        if len(queue) == size:
            yield queue.popleft()
    while queue:
        yield queue.popleft()
