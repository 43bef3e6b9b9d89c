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
    """``torchvision.<submodule>`` (e.g. "ops.misc", "models.resnet") without running
    torchvision's package ``__init__``.

    torchvision's wheels are built against CUDA torch; beside the CPU torch its C
    extension does not load and ``import torchvision`` fails in ``_meta_registrations``
    ("operator torchvision::nms does not exist"). Its ops and model modules are plain
    Python that needs none of that: the package is registered as an empty module with
    torchvision's ``__path__``, and the submodule is imported normally from there.
    """
    import importlib
    import importlib.util
    import sys
    import types

    if "torchvision" not in sys.modules:
        spec = importlib.util.find_spec("torchvision")
        if spec is None:
            pytest.skip("torchvision is not installed (pip install -e '.[dev]')")
        package = types.ModuleType("torchvision")
        package.__path__ = list(spec.submodule_search_locations)
        package.__spec__ = spec
        package.__file__ = spec.origin
        sys.modules["torchvision"] = package
    return importlib.import_module(f"torchvision.{submodule}")
