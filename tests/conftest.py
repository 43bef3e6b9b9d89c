"""Suite-wide settings and helpers.

Warnings are errors (pyproject), implicit rank promotion is an error, and the
reference side of every parity test is real PyTorch on the CPU in float32.
"""

from __future__ import annotations

import jax
import numpy as np
import pytest

jax.config.update("jax_numpy_rank_promotion", "raise")


@pytest.fixture
def rng() -> np.random.Generator:
    """A fresh seeded numpy generator for test inputs."""
    return np.random.default_rng(0)


def load_torch(torch_module, variables):
    """Load jaxnn ``variables`` into ``torch_module`` (strict) and return it."""
    from jaxnn.compat import flax_to_torch

    torch_module.load_state_dict(flax_to_torch(variables), strict=True)
    return torch_module


def to_numpy(t) -> np.ndarray:
    return t.detach().cpu().numpy()


def assert_close(actual, expected, atol: float, rtol: float = 0.0, what: str = "") -> None:
    """Max abs error <= atol + rtol * |expected|, with the worst error in the message."""
    actual, expected = np.asarray(actual), np.asarray(expected)
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} != {expected.shape}"
    err = np.abs(actual.astype(np.float64) - expected.astype(np.float64))
    bound = atol + rtol * np.abs(expected.astype(np.float64))
    assert np.all(err <= bound), f"{what}: max abs error {err.max():.3g} (atol {atol}, rtol {rtol})"


def import_torchvision(submodule: str):
    """``torchvision.<submodule>`` (e.g. "ops.misc", "models.resnet"): torchvision's own
    code, imported by jaxnn.compat.torchvision_models (without torchvision's compiled
    operators where those do not load beside this torch)."""
    import importlib

    from jaxnn.compat import torchvision_models

    torchvision_models.models()
    return importlib.import_module(f"torchvision.{submodule}")
