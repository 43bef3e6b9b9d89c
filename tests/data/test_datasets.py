"""Datasets: TFDS on mock data, the built-in digits and diabetes sets, the registry."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow_datasets as tfds

from jaxnn.data import (
    ArrayDataset,
    DataLoader,
    diabetes,
    digits,
    get_dataset,
    tfds_dataset,
)
from jaxnn.data.transforms import Compose, RandomHorizontalFlip, ToTensor

# USE_CODE generates random examples from the dataset's feature spec in code; USE_FILES needs
# metadata files that this tfds install does not ship for mnist/cifar10, and AUTO falls back to
# USE_CODE. Neither needs TensorFlow or the network.
MOCK = tfds.testing.MockPolicy.USE_CODE


@pytest.mark.parametrize(
    ("name", "shape"),
    [("mnist", (1, 28, 28)), ("cifar10", (3, 32, 32)), ("fashion_mnist", (1, 28, 28))],
)
@pytest.mark.parametrize("num_workers", [0, 2])
def test_tfds_through_the_loader(name, shape, num_workers):
    with tfds.testing.mock_data(num_examples=10, policy=MOCK):
        dataset = get_dataset(name, "train")
        assert len(dataset) == 10
        loader = DataLoader(dataset, batch_size=4, shuffle=True, num_workers=num_workers)
        batches = list(loader)
    assert [len(b[0]) for b in batches] == [4, 4, 2]
    images, labels = batches[0]
    assert images.shape == (4, *shape) and images.dtype == np.float32
    assert 0.0 <= images.min() and images.max() <= 1.0
    assert labels.shape == (4,) and labels.dtype == np.int32
    assert np.all((labels >= 0) & (labels < 10))


def test_tfds_transforms_and_raw_images():
    with tfds.testing.mock_data(num_examples=4, policy=MOCK):
        raw = tfds_dataset("mnist", split="test", transform=None)
        image, label = raw[0]
        assert image.shape == (28, 28, 1) and image.dtype == np.uint8
        assert isinstance(label, np.int32)
        flipped = tfds_dataset(
            "mnist",
            split="test",
            transform=Compose([ToTensor(), RandomHorizontalFlip(p=1.0)]),
            target_transform=lambda y: y + 100,
        )
        image_t, label_t = flipped.get(0, np.random.default_rng(0))
    np.testing.assert_array_equal(image_t, ToTensor()(image)[..., ::-1])
    assert label_t == label + 100


def test_tfds_absent_data_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match=rf"'mnist'.*not prepared.*{tmp_path}.*tfds build"):
        tfds_dataset("mnist", data_dir=str(tmp_path))


def test_digits():
    train, test = digits("train"), digits("test")
    assert (len(train), len(test)) == (1437, 360)
    x, y = train.arrays
    assert x.shape == (1437, 1, 32, 32) and x.dtype == np.float32
    assert y.shape == (1437,) and y.dtype == np.int32
    assert x.min() == 0.0 and x.max() == 1.0
    np.testing.assert_array_equal(x * 16, np.round(x * 16))  # 0..16 scaled by 1/16
    # 4x nearest upsampling: every 4x4 block is constant
    blocks = x.reshape(1437, 1, 8, 4, 8, 4)
    np.testing.assert_array_equal(blocks, np.broadcast_to(blocks[:, :, :, :1, :, :1], blocks.shape))
    # stratified: each class is in both splits, at ~80/20
    train_counts, test_counts = np.bincount(y), np.bincount(test.arrays[1])
    assert np.all(np.abs(train_counts / (train_counts + test_counts) - 0.8) < 0.02)
    again = digits("train")  # the split is fixed
    np.testing.assert_array_equal(again.arrays[0], x)
    np.testing.assert_array_equal(again.arrays[1], y)
    xb, yb = next(iter(DataLoader(train, batch_size=64)))
    assert xb.shape == (64, 1, 32, 32) and yb.dtype == np.int32
    assert "fast_path=True" in repr(DataLoader(train))


def test_digits_with_transform_takes_the_generic_path():
    train = digits("train", transform=RandomHorizontalFlip(p=1.0))
    loader = DataLoader(train, batch_size=8)
    assert "fast_path=False" in repr(loader)
    xb, _ = next(iter(loader))
    np.testing.assert_array_equal(xb, digits("train").arrays[0][:8, ..., ::-1])


def test_diabetes():
    train, test = diabetes("train"), diabetes("test")
    assert (len(train), len(test)) == (353, 89)
    x, y = train.arrays
    assert x.shape == (353, 10) and x.dtype == np.float32
    assert y.shape == (353, 1) and y.dtype == np.float32
    np.testing.assert_allclose(x.mean(axis=0), 0.0, atol=1e-5)
    np.testing.assert_allclose(x.std(axis=0), 1.0, atol=1e-5)
    assert 25.0 <= y.min() and y.max() <= 346.0  # raw targets by default
    # test features use the train statistics, so they are close to, not exactly, standard
    assert np.abs(test.arrays[0].mean(axis=0)).max() > 1e-3

    scaled = diabetes("train", standardize_targets=True)
    ys = scaled.arrays[1]
    np.testing.assert_allclose([ys.mean(), ys.std()], [0.0, 1.0], atol=1e-5)
    stats = scaled.stats
    np.testing.assert_allclose(ys * stats["y_std"] + stats["y_mean"], y, rtol=1e-5)
    np.testing.assert_array_equal(scaled.arrays[0], x)


def test_array_dataset_get_and_getitem():
    dataset = ArrayDataset(
        np.arange(6.0).reshape(3, 2), np.arange(3), target_transform=lambda t: -t
    )
    x, y = dataset[1]
    np.testing.assert_array_equal(x, [2.0, 3.0])
    assert y == -1
    assert "ArrayDataset" in repr(dataset)


def test_errors():
    with pytest.raises(ValueError, match=r"unknown dataset 'svhn'; known: cifar10, diabetes, "):
        get_dataset("svhn")
    with pytest.raises(ValueError, match=r"digits: split must be one of \('train', 'test'\)"):
        digits("validation")
    with pytest.raises(ValueError, match=r"diabetes: split must be one of"):
        diabetes("val")
    with pytest.raises(
        ValueError, match=r"share their first dimension, got shapes \[\(2,\), \(3,\)"
    ):
        ArrayDataset(np.zeros(2), np.zeros(3))
    with pytest.raises(ValueError, match="needs at least one array"):
        ArrayDataset()
    with pytest.raises(ValueError, match="no target array"):
        ArrayDataset(np.zeros(2), target_transform=abs)
