"""DataLoader: order and seeding, batching, both paths, workers, sharding, device prefetch."""

from __future__ import annotations

import jax
import numpy as np
import pytest

from jaxnn.data import ArrayDataset, DataLoader, default_collate, element_rng, prefetch_to_device
from jaxnn.data.transforms import RandomCrop, RandomHorizontalFlip

N = 23  # not a multiple of the batch sizes below, so there is a partial last batch


@pytest.fixture
def arrays() -> tuple[np.ndarray, np.ndarray]:
    x = np.arange(N * 6, dtype=np.float32).reshape(N, 1, 2, 3)
    y = np.arange(N, dtype=np.int32)
    return x, y


class ListDataset:
    """A plain indexable dataset (no ``get``): the generic path through ``__getitem__``."""

    def __init__(self, examples: list) -> None:
        self.examples = examples

    def __len__(self) -> int:
        return len(self.examples)

    def __getitem__(self, index: int):
        return self.examples[index]


def labels(loader: DataLoader) -> list[np.ndarray]:
    return [np.asarray(batch[1]) for batch in loader]


def test_no_shuffle_is_sequential(arrays):
    loader = DataLoader(arrays, batch_size=5)
    order = np.concatenate(labels(loader))
    np.testing.assert_array_equal(order, np.arange(N))


def test_same_seed_same_order_and_epochs_differ(arrays):
    a = DataLoader(arrays, batch_size=4, shuffle=True, seed=3)
    b = DataLoader(arrays, batch_size=4, shuffle=True, seed=3)
    epoch0_a, epoch0_b = np.concatenate(labels(a)), np.concatenate(labels(b))
    np.testing.assert_array_equal(epoch0_a, epoch0_b)
    assert sorted(epoch0_a.tolist()) == list(range(N))  # a permutation
    assert not np.array_equal(epoch0_a, np.arange(N))
    assert a.epoch == 1
    epoch1_a = np.concatenate(labels(a))
    assert not np.array_equal(epoch0_a, epoch1_a)
    other_seed = DataLoader(arrays, batch_size=4, shuffle=True, seed=4)
    assert not np.array_equal(epoch0_a, np.concatenate(labels(other_seed)))


def test_set_epoch_resumes_the_order(arrays):
    run = DataLoader(arrays, batch_size=4, shuffle=True, seed=7)
    orders = [np.concatenate(labels(run)) for _ in range(4)]
    resumed = DataLoader(arrays, batch_size=4, shuffle=True, seed=7)
    resumed.set_epoch(2)
    np.testing.assert_array_equal(np.concatenate(labels(resumed)), orders[2])
    np.testing.assert_array_equal(np.concatenate(labels(resumed)), orders[3])
    np.testing.assert_array_equal(resumed.indices(2), orders[2])


def test_order_does_not_depend_on_batch_size(arrays):
    a = np.concatenate(labels(DataLoader(arrays, batch_size=4, shuffle=True)))
    b = np.concatenate(labels(DataLoader(arrays, batch_size=7, shuffle=True)))
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize(
    ("batch_size", "drop_last", "sizes"),
    [
        (5, False, [5, 5, 5, 5, 3]),
        (5, True, [5, 5, 5, 5]),
        (23, False, [23]),
        (30, False, [23]),
        (30, True, []),
        (1, True, [1] * N),
    ],
)
def test_drop_last_and_len(arrays, batch_size, drop_last, sizes):
    loader = DataLoader(arrays, batch_size=batch_size, drop_last=drop_last)
    batches = list(loader)
    assert len(loader) == len(sizes)
    assert [len(b[0]) for b in batches] == sizes
    if not drop_last:  # the partial last batch holds exactly the remaining examples
        np.testing.assert_array_equal(batches[-1][1], np.arange(N - sizes[-1], N))


def test_batch_structure_tuple_dict_and_single_array(arrays):
    x, y = arrays
    xb, yb = next(iter(DataLoader((x, y), batch_size=4)))
    assert xb.shape == (4, 1, 2, 3) and xb.dtype == np.float32
    assert yb.shape == (4,) and yb.dtype == np.int32
    batch = next(iter(DataLoader({"image": x, "label": y}, batch_size=4)))
    assert set(batch) == {"image", "label"}
    np.testing.assert_array_equal(batch["image"], x[:4])
    np.testing.assert_array_equal(next(iter(DataLoader(x, batch_size=3))), x[:3])
    # jax arrays are columns too (copied to the host once), not a sequence of two examples
    xb, yb = next(iter(DataLoader((jax.numpy.asarray(x), jax.numpy.asarray(y)), batch_size=4)))
    assert isinstance(xb, np.ndarray) and xb.shape == (4, 1, 2, 3)


def test_a_list_is_a_sequence_of_examples():
    examples = [np.full(3, i, dtype=np.float32) for i in range(5)]
    batches = list(DataLoader(examples, batch_size=2))
    assert [b.shape for b in batches] == [(2, 3), (2, 3), (1, 3)]
    np.testing.assert_array_equal(batches[1], [[2, 2, 2], [3, 3, 3]])


def test_generic_path_structure():
    examples = [
        {"image": np.full((2, 2), i, np.float32), "label": i, "pair": (i, float(i))}
        for i in range(6)
    ]
    batch = next(iter(DataLoader(ListDataset(examples), batch_size=4)))
    assert batch["image"].shape == (4, 2, 2)
    np.testing.assert_array_equal(batch["label"], [0, 1, 2, 3])
    assert isinstance(batch["pair"], tuple)
    np.testing.assert_array_equal(batch["pair"][1], [0.0, 1.0, 2.0, 3.0])


def test_collate_fn(arrays):
    def collate(examples):
        return {"n": len(examples), "labels": [int(e[1]) for e in examples]}

    loader = DataLoader(arrays, batch_size=10, collate_fn=collate)
    assert list(loader) == [
        {"n": 10, "labels": list(range(10))},
        {"n": 10, "labels": list(range(10, 20))},
        {"n": 3, "labels": [20, 21, 22]},
    ]


@pytest.mark.parametrize("shuffle", [False, True])
def test_fast_path_equals_generic_path(arrays, shuffle):
    fast = DataLoader(ArrayDataset(*arrays), batch_size=4, shuffle=shuffle, seed=1)
    generic = DataLoader(ListDataset(list(zip(*arrays))), batch_size=4, shuffle=shuffle, seed=1)
    assert "fast_path=True" in repr(fast) and "fast_path=False" in repr(generic)
    for _ in range(2):  # two epochs
        for (fx, fy), (gx, gy) in zip(fast, generic, strict=True):
            np.testing.assert_array_equal(fx, gx)
            np.testing.assert_array_equal(fy, gy)
            assert fx.dtype == gx.dtype and fy.dtype == gy.dtype


def augmented(num_workers: int, epoch: int = 0) -> list:
    x = np.arange(N * 16, dtype=np.float32).reshape(N, 1, 4, 4)
    transform = RandomCrop(3, padding=1)
    dataset = ArrayDataset(x, np.arange(N), transform=transform)
    loader = DataLoader(dataset, batch_size=4, shuffle=True, seed=5, num_workers=num_workers)
    loader.set_epoch(epoch)
    return list(loader)


@pytest.mark.parametrize("num_workers", [1, 3])
def test_num_workers_gives_the_same_batches(num_workers):
    reference = augmented(0)
    threaded = augmented(num_workers)
    assert len(reference) == len(threaded) == 6
    for (rx, ry), (tx, ty) in zip(reference, threaded, strict=True):
        np.testing.assert_array_equal(rx, tx)
        np.testing.assert_array_equal(ry, ty)


def test_augmentation_is_seeded_per_epoch_and_index():
    first, again, next_epoch = augmented(0), augmented(0), augmented(0, epoch=1)
    for (a, _), (b, _) in zip(first, again, strict=True):
        np.testing.assert_array_equal(a, b)
    # the crop of example i in epoch e comes from element_rng(seed, e, i)
    x0, y0 = first[0]
    image = np.arange(N * 16, dtype=np.float32).reshape(N, 1, 4, 4)[y0[0]]
    expected = RandomCrop(3, padding=1)(image, element_rng(5, 0, int(y0[0])))
    np.testing.assert_array_equal(x0[0], expected)
    crops = {int(y): x for xb, yb in first for x, y in zip(xb, yb)}
    crops1 = {int(y): x for xb, yb in next_epoch for x, y in zip(xb, yb)}
    assert any(not np.array_equal(crops[i], crops1[i]) for i in range(N))


def test_dataset_get_receives_loader_rng():
    dataset = ArrayDataset(np.zeros((8, 1, 1, 6), np.float32), transform=RandomHorizontalFlip())
    seen = []

    class Spy:
        def __len__(self):
            return len(dataset)

        def __getitem__(self, index):
            raise AssertionError("the loader must call get(index, rng)")

        def get(self, index, rng):
            seen.append((index, rng.random()))
            return dataset.get(index, rng)

    list(DataLoader(Spy(), batch_size=8, seed=2))
    assert seen == [(i, element_rng(2, 0, i).random()) for i in range(8)]


def test_sharding_splits_every_global_batch(arrays):
    whole = list(DataLoader(arrays, batch_size=8, shuffle=True, drop_last=True, seed=9))
    shards = [
        list(
            DataLoader(
                arrays,
                batch_size=8,
                shuffle=True,
                drop_last=True,
                seed=9,
                num_shards=2,
                shard_index=k,
            )
        )
        for k in range(2)
    ]
    assert len(shards[0]) == len(shards[1]) == len(whole) == 2
    for b, (_, global_y) in enumerate(whole):
        np.testing.assert_array_equal(np.concatenate([s[b][1] for s in shards]), global_y)
        assert len(shards[0][b][1]) == 4


def test_default_collate():
    batch = default_collate([(np.zeros(3), 1, "a"), (np.ones(3), 2, "b")])
    assert batch[0].shape == (2, 3)
    np.testing.assert_array_equal(batch[1], [1, 2])
    assert batch[2] == ["a", "b"]


def test_prefetch_to_device_yields_the_same_values(arrays):
    loader = DataLoader(arrays, batch_size=4, shuffle=True)
    host = list(loader)
    loader.set_epoch(0)
    device = list(prefetch_to_device(loader, size=3))
    assert len(device) == len(host)
    for (hx, hy), (dx, dy) in zip(host, device, strict=True):
        assert isinstance(dx, jax.Array)
        np.testing.assert_array_equal(np.asarray(dx), hx)
        np.testing.assert_array_equal(np.asarray(dy), hy)


def test_prefetch_to_device_with_sharding(arrays):
    mesh = jax.make_mesh((jax.device_count(),), ("data",))
    sharding = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec("data"))
    batch_size = 2 * jax.device_count()
    loader = DataLoader(arrays, batch_size=batch_size, drop_last=True)
    for (dx, dy), (hx, hy) in zip(prefetch_to_device(loader, sharding=sharding), loader):
        assert dx.sharding == sharding
        np.testing.assert_array_equal(np.asarray(dx), hx)
        np.testing.assert_array_equal(np.asarray(dy), hy)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"batch_size": 0}, r"batch_size must be a positive int, got 0"),
        ({"seed": -1}, r"seed must be a non-negative int, got -1"),
        ({"num_workers": -2}, r"num_workers must be >= 0, got -2"),
        ({"num_shards": 2, "shard_index": 2}, r"shard_index=2, num_shards=2"),
        ({"batch_size": 5, "num_shards": 2, "drop_last": True}, r"batch_size=5 is not divis"),
        ({"batch_size": 4, "num_shards": 2}, r"num_shards=2\): drop_last must be True"),
    ],
)
def test_bad_arguments(arrays, kwargs, match):
    with pytest.raises(ValueError, match=match):
        DataLoader(arrays, **kwargs)


def test_bad_datasets():
    with pytest.raises(
        ValueError, match=r"differ in their first dimension: shapes \[\(3,\), \(4,\)"
    ):
        DataLoader((np.zeros(3), np.zeros(4)))
    with pytest.raises(TypeError, match="must be numpy arrays or define __len__ and __getitem__"):
        DataLoader(object())
    with pytest.raises(ValueError, match="set_epoch: epoch must be >= 0, got -1"):
        DataLoader(np.zeros(3)).set_epoch(-1)
    with pytest.raises(ValueError, match="size must be >= 1, got 0"):
        next(prefetch_to_device([np.zeros(2)], size=0))
    with pytest.raises(ValueError, match="different lengths"):
        default_collate([(1, 2), (1,)])
