"""``torch.utils.data`` and ``torchvision`` datasets/transforms for jaxnn, on numpy.

* :class:`DataLoader`: torch's loader surface, yielding numpy batches, with reproducible
  per-epoch shuffling (``set_epoch`` resumes the exact order), a vectorized path for in-memory
  arrays, ``grain`` threads for per-example reading and per-host sharding for multi-host runs.
* :func:`prefetch_to_device`: overlap host-to-device copies with compute.
* :mod:`jaxnn.data.transforms`: ``ToTensor``, ``Normalize``, ``Resize``, ``RandomCrop``,
  ``RandomHorizontalFlip``, ``Compose``, seeded by the loader.
* datasets: :func:`digits` and :func:`diabetes` (scikit-learn, no download), TFDS via
  :func:`tfds_dataset` (``tfds.data_source``, no TensorFlow), :func:`get_dataset` by name.

Multi-host: give every process ``DataLoader(..., num_shards=jax.process_count(),
shard_index=jax.process_index(), drop_last=True)`` and the same seed; each reads its
``batch_size // num_shards`` rows of every global batch, to be assembled with
``jax.make_array_from_process_local_data``.
"""

from jaxnn.data import transforms
from jaxnn.data.datasets import (
    ArrayDataset,
    TensorDataset,
    TFDSDataset,
    diabetes,
    digits,
    get_dataset,
    tfds_dataset,
)
from jaxnn.data.loader import DataLoader, default_collate, element_rng, prefetch_to_device

__all__ = [
    "ArrayDataset",
    "DataLoader",
    "TFDSDataset",
    "TensorDataset",
    "default_collate",
    "diabetes",
    "digits",
    "element_rng",
    "get_dataset",
    "prefetch_to_device",
    "tfds_dataset",
    "transforms",
]
