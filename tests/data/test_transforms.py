"""Transforms against hand-computed values, and Resize against torch's bilinear interpolate."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import assert_close

from jaxnn.data.transforms import (
    Compose,
    Normalize,
    RandomCrop,
    RandomHorizontalFlip,
    Resize,
    ToTensor,
)


def test_to_tensor_uint8_hwc():
    pic = np.array([[[0, 255, 51]], [[102, 153, 204]]], dtype=np.uint8)  # (H=2, W=1, C=3)
    out = ToTensor()(pic)
    assert out.shape == (3, 2, 1) and out.dtype == np.float32
    expected = np.array([[[0.0], [0.4]], [[1.0], [0.6]], [[0.2], [0.8]]], dtype=np.float32)
    assert_close(out, expected, atol=1e-7, what="ToTensor")


def test_to_tensor_grayscale_and_float():
    gray = np.array([[0, 255], [51, 102]], dtype=np.uint8)
    out = ToTensor()(gray)
    assert out.shape == (1, 2, 2)
    assert_close(out[0], [[0.0, 1.0], [0.2, 0.4]], atol=1e-7)
    # non-uint8 input is transposed only, keeping dtype and values (torchvision does the same)
    floats = np.arange(12, dtype=np.float64).reshape(2, 3, 2)
    out = ToTensor()(floats)
    assert out.dtype == np.float64
    np.testing.assert_array_equal(out, floats.transpose(2, 0, 1))


def test_normalize():
    x = np.array([[[1.0, 2.0]], [[3.0, 5.0]]], dtype=np.float32)  # (C=2, H=1, W=2)
    out = Normalize(mean=(1.0, 1.0), std=(2.0, 0.5))(x)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, [[[0.0, 0.5]], [[4.0, 8.0]]])
    np.testing.assert_array_equal(Normalize(0.5, 0.5)(x), (x - 0.5) / 0.5)  # one value for all
    np.testing.assert_array_equal(x, [[[1.0, 2.0]], [[3.0, 5.0]]])  # input untouched


def test_resize_hand_computed():
    # half-pixel centres: output i samples source (i + 0.5) * in / out - 0.5, clamped at 0
    up = Resize((1, 4))(np.array([[[0.0, 4.0]]], dtype=np.float32))
    np.testing.assert_array_equal(up, [[[0.0, 1.0, 3.0, 4.0]]])
    down = Resize((1, 2))(np.array([[[0.0, 1.0, 2.0, 3.0]]], dtype=np.float32))
    np.testing.assert_array_equal(down, [[[0.5, 2.5]]])
    both = Resize((2, 2))(np.array([[[0.0, 2.0], [4.0, 6.0]]], dtype=np.float32))
    np.testing.assert_array_equal(both, [[[0.0, 2.0], [4.0, 6.0]]])


@pytest.mark.parametrize(
    ("size", "in_hw", "out_hw"),
    [(4, (2, 3), (4, 6)), (3, (6, 4), (4, 3)), (5, (5, 5), (5, 5)), (7, (4, 10), (7, 17))],
)
def test_resize_int_is_the_smaller_edge(size, in_hw, out_hw):
    out = Resize(size)(np.zeros((3, *in_hw), dtype=np.float32))
    assert out.shape == (3, *out_hw)


@pytest.mark.parametrize(
    ("in_hw", "size"),
    [((5, 7), (11, 13)), ((12, 9), (5, 4)), ((8, 8), (3, 17)), ((6, 10), 4), ((7, 7), 20)],
)
def test_resize_matches_torch_interpolate(rng, in_hw, size):
    x = rng.standard_normal((2, 3, *in_hw)).astype(np.float32)
    out = Resize(size)(x)
    expected = torch.nn.functional.interpolate(
        torch.from_numpy(x), size=out.shape[-2:], mode="bilinear", align_corners=False
    ).numpy()
    assert_close(out, expected, atol=1e-5, what=f"Resize{in_hw}->{size}")


def test_random_crop_fixed_generator():
    x = np.arange(2 * 5 * 6, dtype=np.float32).reshape(2, 5, 6)
    out = RandomCrop((3, 4))(x, np.random.default_rng(42))
    draws = np.random.default_rng(42)
    top, left = draws.integers(0, 3), draws.integers(0, 3)  # row first, then column
    np.testing.assert_array_equal(out, x[:, top : top + 3, left : left + 4])
    again = RandomCrop((3, 4))(x, np.random.default_rng(42))
    np.testing.assert_array_equal(out, again)


def test_random_crop_padding_fill():
    x = np.array([[[1.0, 2.0], [3.0, 4.0]]], dtype=np.float32)
    out = RandomCrop(4, padding=1, fill=9)(x, np.random.default_rng(0))  # one possible window
    expected = [[[9, 9, 9, 9], [9, 1, 2, 9], [9, 3, 4, 9], [9, 9, 9, 9]]]
    np.testing.assert_array_equal(out, expected)
    # (left, top, right, bottom)
    out = RandomCrop((2, 3), padding=(1, 0, 0, 0))(x, np.random.default_rng(0))
    np.testing.assert_array_equal(out, [[[0, 1, 2], [0, 3, 4]]])


@pytest.mark.parametrize(
    ("mode", "expected"),
    [
        ("constant", [0, 0, 1, 2, 3, 0, 0]),
        ("edge", [1, 1, 1, 2, 3, 3, 3]),
        ("reflect", [3, 2, 1, 2, 3, 2, 1]),
        ("symmetric", [2, 1, 1, 2, 3, 3, 2]),
    ],
)
def test_random_crop_padding_modes(mode, expected):
    x = np.array([[[1.0, 2.0, 3.0]]], dtype=np.float32)  # (1, 1, 3)
    out = RandomCrop((1, 7), padding=(2, 0), padding_mode=mode)(x, np.random.default_rng(0))
    np.testing.assert_array_equal(out, [[expected]])


def test_random_crop_pad_if_needed():
    x = np.ones((1, 2, 3), dtype=np.float32)
    # like torchvision, a short side is padded on both ends by the missing amount: 2 -> 6 rows
    out = RandomCrop((4, 3), pad_if_needed=True)(x, np.random.default_rng(1))
    assert out.shape == (1, 4, 3)
    draws = np.random.default_rng(1)
    top = draws.integers(0, 3)
    padded = np.pad(x, [(0, 0), (2, 2), (0, 0)])
    np.testing.assert_array_equal(out, padded[:, top : top + 4])


def test_horizontal_flip():
    x = np.arange(6, dtype=np.float32).reshape(1, 2, 3)
    np.testing.assert_array_equal(RandomHorizontalFlip(p=0.0)(x, np.random.default_rng(0)), x)
    np.testing.assert_array_equal(
        RandomHorizontalFlip(p=1.0)(x, np.random.default_rng(0)), [[[2, 1, 0], [5, 4, 3]]]
    )
    outcomes = []
    for seed in range(20):
        out = RandomHorizontalFlip()(x, np.random.default_rng(seed))
        flipped = np.random.default_rng(seed).random() < 0.5
        np.testing.assert_array_equal(out, x[..., ::-1] if flipped else x)
        outcomes.append(flipped)
    assert 0 < sum(outcomes) < 20


def test_unseeded_call_works():
    x = np.ones((1, 4, 4), dtype=np.float32)
    assert RandomCrop(2)(x).shape == (1, 2, 2)
    assert RandomHorizontalFlip()(x).shape == (1, 4, 4)


def test_compose_passes_rng_to_random_transforms_only():
    pic = np.arange(4 * 5, dtype=np.uint8).reshape(4, 5)  # (H, W) grayscale
    pipeline = Compose(
        [ToTensor(), RandomCrop(3), lambda x: x * 2, RandomHorizontalFlip(), Normalize(0.5, 2.0)]
    )
    out = pipeline(pic, np.random.default_rng(3))
    draws = np.random.default_rng(3)
    expected = RandomCrop(3)(ToTensor()(pic), draws) * 2
    expected = Normalize(0.5, 2.0)(RandomHorizontalFlip()(expected, draws))
    np.testing.assert_array_equal(out, expected)
    assert "RandomCrop" in repr(pipeline)


@pytest.mark.parametrize(
    ("make", "x", "error", "match"),
    [
        (ToTensor, np.zeros((1, 2, 3, 4)), ValueError, r"\(H, W\) or \(H, W, C\) image"),
        (lambda: Normalize(0, 0), None, ValueError, "std evaluated to zero"),
        (lambda: Normalize((0, 0), (1, 1)), np.zeros((3, 2, 2)), ValueError, "3 channels"),
        (lambda: Normalize(0, 1), np.zeros((1, 2, 2), np.uint8), TypeError, "floating point"),
        (lambda: Normalize(0, 1), np.zeros((2, 2)), ValueError, r"\(\.\.\., C, H, W\)"),
        (lambda: Resize(0), None, ValueError, "size must be positive"),
        (lambda: Resize((1, 2, 3)), None, ValueError, r"an int or \(h, w\)"),
        (lambda: Resize(4), np.zeros((1, 2, 2), np.uint8), TypeError, "apply ToTensor first"),
        (lambda: RandomCrop(2, padding_mode="wrap"), None, ValueError, "padding_mode must be"),
        (lambda: RandomCrop(2, padding=(1, 2, 3)), None, ValueError, "2 or 4 values"),
        (lambda: RandomCrop(5), np.zeros((1, 4, 6)), ValueError, r"\(5, 5\) is larger .* \(4, 6\)"),
        (lambda: RandomHorizontalFlip(1.5), None, ValueError, r"p must be in \[0, 1\], got 1.5"),
    ],
)
def test_errors(make, x, error, match):
    with pytest.raises(error, match=match):
        transform = make()
        transform(x)
