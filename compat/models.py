"""Models by name for the conversion tools: a ``jaxnn.models`` name or any
``module.path:ClassName``, its PyTorch twin, an example input and its variables' shapes."""

from __future__ import annotations

import importlib
import json
from collections.abc import Mapping
from typing import Any

import numpy as np

from jaxnn import state_dict as sd
from jaxnn._tree import plain
from jaxnn.compat.sources import ConversionError

__all__ = [
    "batch_axis",
    "build_model",
    "build_torch_model",
    "example_batch",
    "example_input",
    "template",
]


def _import(spec: str, what: str) -> Any:
    """``package.module:Name`` -> the object."""
    module_name, _, name = spec.partition(":")
    try:
        module = importlib.import_module(module_name)
    except Exception as e:  # ImportError, or the module failing as it imports
        raise ConversionError(f"cannot import {module_name!r} for {what} {spec!r}: {e}") from e
    found = getattr(module, name, None)
    if found is None:
        raise ConversionError(f"module {module_name!r} has no {name!r} ({what} {spec!r})")
    return found


def _build(builder: Any, kwargs: Mapping[str, Any], spec: str) -> Any:
    try:
        return builder(**kwargs)
    except (TypeError, ValueError) as e:
        raise ConversionError(
            f"cannot build {spec} with --model-kwargs {json.dumps(dict(kwargs))}: {e}"
        ) from e


def build_model(spec: str, kwargs: Mapping[str, Any] | None = None) -> Any:
    """The jaxnn model ``spec`` built with ``kwargs``: a name of
    ``jaxnn.models.list_models()`` (a class such as ``LeNet`` or one of torchvision's
    builder names such as ``resnet50``), or ``module.path:Name`` for your own.

    Args:
        spec: the model's name or ``module.path:Name``.
        kwargs: its constructor arguments (a mapping, not ``**kwargs``). Default: None.
    """
    from flax import linen

    import jaxnn.models

    if ":" in spec:
        builder = _import(spec, "model")
    elif spec in jaxnn.models.list_models():
        builder = getattr(jaxnn.models, spec)
    else:
        raise ConversionError(
            f"unknown model {spec!r}; known: {', '.join(jaxnn.models.list_models())}, "
            f"or module.path:ClassName for your own"
        )
    model = _build(builder, dict(kwargs or {}), spec)
    if not isinstance(model, linen.Module):
        raise ConversionError(f"{spec!r} is not a Flax linen / jaxnn Module")
    return model


def build_torch_model(spec: str, kwargs: Mapping[str, Any] | None = None) -> Any:
    """The PyTorch twin ``spec`` built with ``kwargs``: a class of
    ``jaxnn.compat.torch_models``, else one of torchvision's model builders (its own
    code, :mod:`jaxnn.compat.torchvision_models`), or ``module.path:Name``.

    Args:
        spec: the twin's name or ``module.path:Name``.
        kwargs: its constructor arguments (a mapping, not ``**kwargs``). Default: None.
    """
    import jaxnn.compat.torch_models as torch_models

    if ":" in spec:
        return _build(_import(spec, "torch model"), dict(kwargs or {}), spec)
    if spec in torch_models.__all__:
        return _build(getattr(torch_models, spec), dict(kwargs or {}), spec)
    from jaxnn.compat import torchvision_models

    try:
        tv = torchvision_models.models()
    except ModuleNotFoundError as e:
        raise ConversionError(
            f"no torch twin {spec!r} in jaxnn.compat.torch_models, and torchvision (for "
            f"its model builders) is not installed"
        ) from e
    if spec not in tv.list_models():
        raise ConversionError(
            f"unknown torch model {spec!r}; known: {', '.join(sorted(torch_models.__all__))}, "
            f"torchvision's builders, or module.path:ClassName for your own"
        )
    return _build(lambda **kw: tv.get_model(spec, **kw), dict(kwargs or {}), spec)


def example_input(model: Any, shape: tuple[int, ...] | None = None) -> Any:
    """A ``jax.ShapeDtypeStruct`` for one input batch of ``model``: ``shape`` when given
    (in the model's input dtype), else the model's own ``example_input()``.

    Args:
        model: the jaxnn model.
        shape: the input's shape, batch axis included. Default: None.
    """
    import jax
    import jax.numpy as jnp

    own = getattr(model, "example_input", None)
    if own is None and shape is None:
        raise ConversionError(
            f"no default input shape for model {type(model).__name__}; pass --input-shape N,C,H,W"
        )
    spec = own() if own is not None else None
    if shape is None:
        return spec
    return jax.ShapeDtypeStruct(tuple(shape), spec.dtype if spec is not None else jnp.float32)


def batch_axis(model: Any) -> int:
    """The batch axis of ``model``'s input: where its ``example_input(1)`` and
    ``example_input(2)`` differ (1 for the word-language models' (T, N) tokens); 0 for a
    model without ``example_input``.

    Args:
        model: a jaxnn model.

    Raises:
        ConversionError: the two example inputs differ in another number of axes than one.
    """
    own = getattr(model, "example_input", None)
    if own is None:
        return 0
    one, two = own(1).shape, own(2).shape
    differ = [i for i, (a, b) in enumerate(zip(one, two)) if a != b]
    if len(one) != len(two) or len(differ) != 1:
        raise ConversionError(
            f"{type(model).__name__}.example_input: batch sizes 1 and 2 give shapes {one} and "
            f"{two}, not one batch axis"
        )
    return differ[0]


def example_batch(spec: Any, seed: int = 0) -> np.ndarray:
    """Seeded inputs of ``spec``'s shape and dtype: N(0, 1) floats, or integers in
    [0, 2) (valid token ids and class indices for any vocabulary).

    Args:
        spec: the input's shape and dtype (e.g. :func:`example_input`).
        seed: the numpy seed. Default: 0.
    """
    rng = np.random.default_rng(seed)
    if np.issubdtype(np.dtype(spec.dtype), np.integer):
        return rng.integers(0, 2, spec.shape).astype(spec.dtype)
    return rng.standard_normal(spec.shape).astype(spec.dtype)


def template(model: Any, input_spec: Any) -> dict[str, Any]:
    """The model's variables as shapes and dtypes only (nothing is computed): every
    collection a state_dict maps, and the tie declarations.

    Args:
        model: the jaxnn model.
        input_spec: its input's shape and dtype (:func:`example_input`).
    """
    import jax

    try:
        # the key is made inside the traced function: an abstract key needs no XLA backend
        variables = jax.eval_shape(lambda x: model.init(jax.random.key(0), x), input_spec)
    except Exception as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ConversionError(
            f"cannot initialise {type(model).__name__} on input shape {input_spec.shape}: "
            f"{first} (wrong --input-shape or --model-kwargs?)"
        ) from e
    return {k: v for k, v in plain(variables).items() if k in (*sd.COLLECTIONS, sd.TIED)}
