"""Datasets: in-memory arrays, TFDS through ``tfds.data_source``, and two built-in sets.

Every dataset has ``__len__``, ``get(index, rng)`` and ``__getitem__(index)``. The
:class:`~jaxnn.data.DataLoader` calls ``get`` with a generator seeded by
``(seed, epoch, index)``, so random transforms are reproducible; ``dataset[index]`` is
``get(index, None)``: random transforms then draw fresh, unseeded entropy.

``transform`` applies to the input (the image), ``target_transform`` to the label, as in
torchvision. Neither needs the data to be downloaded here: ``digits`` and ``diabetes`` ship with
scikit-learn, and TFDS data must be prepared beforehand on a machine with network access.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from jaxnn.data.transforms import ToTensor

__all__ = [
    "ArrayDataset",
    "TFDSDataset",
    "TensorDataset",
    "diabetes",
    "digits",
    "get_dataset",
    "tfds_dataset",
]

Transform = Callable[..., Any]


def _apply(transform: Transform | None, x: Any, rng: np.random.Generator | None) -> Any:
    if transform is None:
        return x
    return transform(x, rng) if getattr(transform, "random", False) else transform(x)


class ArrayDataset:
    """Examples held in numpy arrays with a shared first dimension; torch's ``TensorDataset``.

    Example ``i`` is ``tuple(a[i] for a in arrays)``. ``transform`` applies to the first array's
    element (the input), ``target_transform`` to the second's (the target). Without transforms the
    :class:`~jaxnn.data.DataLoader` batches it by fancy-indexing the arrays, with no Python per
    example.

    Args:
        *arrays: numpy arrays with the same first dimension.
        transform: applied to ``arrays[0][i]``; random ones receive the loader's generator.
        target_transform: applied to ``arrays[1][i]``.
    """

    def __init__(
        self,
        *arrays: np.ndarray,
        transform: Transform | None = None,
        target_transform: Transform | None = None,
    ) -> None:
        if not arrays:
            raise ValueError("ArrayDataset: needs at least one array")
        arrays = tuple(np.asarray(a) for a in arrays)
        if any(a.ndim == 0 for a in arrays) or len({len(a) for a in arrays}) != 1:
            raise ValueError(
                f"ArrayDataset: arrays must share their first dimension, got shapes "
                f"{[a.shape for a in arrays]}"
            )
        if target_transform is not None and len(arrays) < 2:
            raise ValueError("ArrayDataset: target_transform given but there is no target array")
        self.arrays = arrays
        self.transform = transform
        self.target_transform = target_transform

    def __len__(self) -> int:
        return len(self.arrays[0])

    def get(self, index: int, rng: np.random.Generator | None = None) -> tuple[Any, ...]:
        """Example ``index``, its random transforms drawing from ``rng``."""
        example = [a[index] for a in self.arrays]
        example[0] = _apply(self.transform, example[0], rng)
        if len(example) > 1:
            example[1] = _apply(self.target_transform, example[1], rng)
        return tuple(example)

    def __getitem__(self, index: int) -> tuple[Any, ...]:
        """Example ``index``; random transforms draw unseeded (use the loader for seeding)."""
        return self.get(index, None)

    def __repr__(self) -> str:
        shapes = ", ".join(f"{a.dtype}{list(a.shape)}" for a in self.arrays)
        return f"ArrayDataset({shapes}, transform={self.transform!r})"


TensorDataset = ArrayDataset  # the torch name


# --------------------------------------------------------------------------- TFDS


class TFDSDataset:
    """A TFDS split read through ``tfds.data_source`` (random access, no TensorFlow needed).

    Example ``i`` is ``(transform(record['image']), target_transform(record['label']))``;
    the label is an ``np.int32`` scalar. Build one with :func:`tfds_dataset`.

    Args:
        source: the random-access source (``tfds.data_source(...)``): ``len`` and
            indexing to a record with ``'image'`` and ``'label'``.
        name: the TFDS name, for the repr.
        split: the split, for the repr.
        transform: applied to each image (a numpy array), or None.
        target_transform: applied to each label, or None.
    """

    def __init__(
        self,
        source: Any,
        name: str,
        split: str,
        transform: Transform | None,
        target_transform: Transform | None,
    ) -> None:
        self.source = source
        self.name = name
        self.split = split
        self.transform = transform
        self.target_transform = target_transform

    def __len__(self) -> int:
        return len(self.source)

    def get(self, index: int, rng: np.random.Generator | None = None) -> tuple[Any, Any]:
        """Example ``index`` as ``(image, label)``, random transforms drawing from ``rng``."""
        record = self.source[index]
        image = _apply(self.transform, np.asarray(record["image"]), rng)
        label = _apply(self.target_transform, np.int32(record["label"]), rng)
        return image, label

    def __getitem__(self, index: int) -> tuple[Any, Any]:
        """Example ``index``; random transforms draw unseeded (use the loader for seeding)."""
        return self.get(index, None)

    def __repr__(self) -> str:
        return f"TFDSDataset({self.name!r}, split={self.split!r}, len={len(self)})"


_DEFAULT = object()


def tfds_dataset(
    name: str,
    split: str = "train",
    data_dir: str | None = None,
    transform: Transform | object | None = _DEFAULT,
    target_transform: Transform | None = None,
    download: bool = False,
) -> TFDSDataset:
    """An image-classification TFDS dataset (``mnist``, ``fashion_mnist``, ``cifar10``, ...).

    Reads with ``tfds.data_source``, which needs no TensorFlow but does need the data prepared
    in ArrayRecord format. On a machine with network access prepare it once with
    ``tfds build mnist --file_format=array_record --data_dir=DIR`` or
    ``tfds.data_source("mnist", data_dir=DIR, download=True)``, then copy ``DIR``.

    Args:
        name: the TFDS name.
        split: a TFDS split, slicing allowed (``'train[:90%]'``). Default: ``'train'``.
        data_dir: where the prepared data lives. Default: TFDS's (``$TFDS_DATA_DIR`` or
            ``~/tensorflow_datasets``).
        transform: applied to the HWC ``uint8`` image. Default: :class:`ToTensor`, giving CHW
            ``float32`` in [0, 1]; pass None for the raw image.
        target_transform: applied to the ``np.int32`` label. Default: None.
        download: let TFDS download and prepare the data if absent. Default: False, so a
            missing dataset is an error instead of a surprise download.

    Raises:
        FileNotFoundError: the dataset is not prepared under ``data_dir`` (and ``download`` is
            False); the message says how to prepare it.
    """
    import tensorflow_datasets as tfds  # optional dependency (jaxnn[data])

    if transform is _DEFAULT:
        transform = ToTensor()
    try:
        source = tfds.data_source(name, split=split, data_dir=data_dir, download=download)
    except tfds.core.registered.DatasetNotFoundError:
        raise
    except Exception as error:
        # data_source reports absent data as whatever its reader trips over (for example a
        # NotImplementedError about TFRECORD); say plainly what is missing instead.
        builder = tfds.builder(name, data_dir=data_dir)
        if builder.is_prepared():
            raise
        raise FileNotFoundError(
            f"tfds_dataset({name!r}, split={split!r}): the dataset is not prepared under "
            f"data_dir={builder.data_dir!r}, and it cannot be downloaded here. On a machine with "
            f"network access run `tfds build {name} --file_format=array_record "
            f"--data_dir=DIR` (or tfds.data_source({name!r}, data_dir=DIR, download=True)), then "
            f"copy DIR here and pass data_dir=DIR (or set TFDS_DATA_DIR)."
        ) from error
    return TFDSDataset(source, name, split, transform, target_transform)


# ---------------------------------------------------------------- built-in datasets

_SPLITS = ("train", "test")
_SPLIT_SEED = 0  # fixed: the train/test split must never change between runs or machines


def _check_split(where: str, split: str) -> None:
    if split not in _SPLITS:
        raise ValueError(f"{where}: split must be one of {_SPLITS}, got {split!r}")


def digits(
    split: str = "train",
    transform: Transform | None = None,
    target_transform: Transform | None = None,
) -> ArrayDataset:
    """scikit-learn's 1797 handwritten digits at 1x32x32, split 80/20 (1437 train, 360 test).

    No download: the data ships with scikit-learn. Each 8x8 image (values 0..16) is divided by
    16 into [0, 1] and upsampled 4x by repeating every pixel into a 4x4 block (nearest
    neighbour), so models built for (N, 1, 32, 32) input take it unchanged. The split is
    ``sklearn.model_selection.train_test_split(test_size=0.2, stratify=labels,
    random_state=0)``: fixed, and every class is in both splits in proportion.

    Args:
        split: ``'train'`` or ``'test'``.
        transform: applied per image (then the loader reads example by example).
        target_transform: applied per label.

    Returns:
        an :class:`ArrayDataset` of ``(image float32 (1, 32, 32), label int32)``.
    """
    _check_split("digits", split)
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    bunch = load_digits()
    images = (bunch.images / 16.0).astype(np.float32)  # (1797, 8, 8) in [0, 1]
    images = images.repeat(4, axis=1).repeat(4, axis=2)[:, None]  # (1797, 1, 32, 32)
    labels = bunch.target.astype(np.int32)
    x_train, x_test, y_train, y_test = train_test_split(
        images, labels, test_size=0.2, stratify=labels, random_state=_SPLIT_SEED
    )
    x, y = (x_train, y_train) if split == "train" else (x_test, y_test)
    return ArrayDataset(
        np.ascontiguousarray(x), y, transform=transform, target_transform=target_transform
    )


def diabetes(split: str = "train", standardize_targets: bool = False) -> ArrayDataset:
    """scikit-learn's diabetes regression set (442 patients, 10 features), split 80/20.

    No download. The split is ``train_test_split(test_size=0.2, random_state=0)`` (353 train,
    89 test). Features are standardized with the *train* split's mean and standard deviation
    (so test features are not exactly zero-mean); the targets (disease progression, 25..346)
    are ``float32`` of shape (N, 1), standardized the same way if ``standardize_targets``.

    Args:
        split: ``'train'`` or ``'test'``.
        standardize_targets: also standardize the targets with train statistics. Default: False.

    Returns:
        an :class:`ArrayDataset` of ``(features float32 (10,), target float32 (1,))``. Its
        ``stats`` attribute holds the train statistics (``x_mean``, ``x_std``, ``y_mean``,
        ``y_std``) to map predictions back: ``y = y_std * pred + y_mean``.
    """
    _check_split("diabetes", split)
    from sklearn.datasets import load_diabetes
    from sklearn.model_selection import train_test_split

    features, targets = load_diabetes(return_X_y=True, scaled=False)
    x_train, x_test, y_train, y_test = train_test_split(
        features, targets[:, None], test_size=0.2, random_state=_SPLIT_SEED
    )
    stats = {
        "x_mean": x_train.mean(axis=0),
        "x_std": x_train.std(axis=0),
        "y_mean": y_train.mean(axis=0) if standardize_targets else np.zeros(1),
        "y_std": y_train.std(axis=0) if standardize_targets else np.ones(1),
    }
    x, y = (x_train, y_train) if split == "train" else (x_test, y_test)
    x = ((x - stats["x_mean"]) / stats["x_std"]).astype(np.float32)
    y = ((y - stats["y_mean"]) / stats["y_std"]).astype(np.float32)
    dataset = ArrayDataset(x, y)
    dataset.stats = {key: value.astype(np.float32) for key, value in stats.items()}
    return dataset


def _tfds_factory(name: str) -> Callable[..., TFDSDataset]:
    def factory(split: str = "train", **kwargs: Any) -> TFDSDataset:
        return tfds_dataset(name, split=split, **kwargs)

    return factory


_REGISTRY: Mapping[str, Callable[..., Any]] = {
    "digits": digits,
    "diabetes": diabetes,
    "mnist": _tfds_factory("mnist"),
    "fashion_mnist": _tfds_factory("fashion_mnist"),
    "cifar10": _tfds_factory("cifar10"),
}


def get_dataset(name: str, split: str = "train", **kwargs: Any) -> Any:
    """The dataset called ``name``: ``'digits'``, ``'diabetes'``, ``'mnist'``,
    ``'fashion_mnist'`` or ``'cifar10'``.

    Args:
        name: the dataset's name.
        split: ``'train'`` or ``'test'``. Default: ``'train'``.
        **kwargs: passed to :func:`digits`, :func:`diabetes` or :func:`tfds_dataset`
            (``data_dir``, ``transform``, ...).

    Example::

        >>> from jaxnn.data import DataLoader
        >>> train = get_dataset("digits", "train")
        >>> loader = DataLoader(train, batch_size=64, shuffle=True)
    """
    try:
        factory = _REGISTRY[name]
    except KeyError:
        raise ValueError(
            f"get_dataset: unknown dataset {name!r}; known: {', '.join(sorted(_REGISTRY))} "
            f"(other TFDS names: use tfds_dataset(name, ...))"
        ) from None
    return factory(split, **kwargs)
