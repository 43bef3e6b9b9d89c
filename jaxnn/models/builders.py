"""What torchvision's model builders share: an ImageNet-sized example input, the
``weights`` argument (jaxnn downloads nothing), arguments a builder fixes, and the
rounding of channel counts."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from flax.linen import nowrap

__all__ = [
    "MODELS",
    "image_input",
    "make_divisible",
    "no_pretrained_weights",
    "register_model",
    "set_fixed",
]

MODELS: dict[str, Any] = {}
"""name -> builder (a model class, or a function returning a model): what
:func:`jaxnn.models.get_model` builds and ``list_models`` lists (:func:`register_model`
adds to it)."""


def register_model(builder: Any) -> Any:
    """Make a model class or builder function known to ``jaxnn.models.get_model`` under
    its own name (torchvision's ``register_model``, used as a decorator).

    Args:
        builder: a model class or a function returning a model; returned unchanged.

    Raises:
        ValueError: a model of that name is already registered.
    """
    if builder.__name__ in MODELS:
        raise ValueError(f"a model named {builder.__name__!r} is already registered")
    MODELS[builder.__name__] = builder
    return builder


def image_input(size: int, channels: int = 3) -> Any:
    """An ``example_input(batch_size=1)`` method for models of (N, channels, size, size)
    float32 images.

    Args:
        size: the images' height and width.
        channels: the images' channels. Default: 3.
    """

    @nowrap
    def example_input(self: Any, batch_size: int = 1) -> jax.ShapeDtypeStruct:
        """The shape and dtype of an input batch (for init, conversion and export)."""
        return jax.ShapeDtypeStruct((batch_size, channels, size, size), jnp.float32)

    return example_input


def no_pretrained_weights(weights: Any) -> None:
    """torchvision's builders download weights when asked; jaxnn's cannot, so anything
    but None is refused, with a message that says how to bring torchvision's weights.

    Args:
        weights: the builder's ``weights`` argument.
    """
    if weights is not None:
        raise ValueError(
            f"jaxnn does not download pretrained weights (weights={weights!r}); build the "
            "model with weights=None and load torchvision's state_dict with "
            "jaxnn.compat.torch_to_flax, or convert a .pth with `jaxnn-compat convert`"
        )


def set_fixed(kwargs: dict[str, Any], fixed: dict[str, Any]) -> dict[str, Any]:
    """``kwargs`` with the values a builder fixes (ResNeXt's ``groups``, ...); a
    conflicting value is an error, as in torchvision.

    Args:
        kwargs: the caller's keyword arguments; not modified.
        fixed: name -> the value the builder sets.
    """
    out = dict(kwargs)
    for name, value in fixed.items():
        if name in out and out[name] != value:
            raise ValueError(
                f"The parameter '{name}' expected value {value} but got {out[name]} instead."
            )
        out[name] = value
    return out


def make_divisible(v: float, divisor: int, min_value: int | None = None) -> int:
    """``v`` rounded to the nearest multiple of ``divisor`` (at least ``min_value``),
    one multiple up where rounding lost more than 10%: how torchvision's MobileNets,
    EfficientNets and RegNets round channel counts.

    Args:
        v: the channel count before rounding (a width multiplier's product).
        divisor: the multiple to round to.
        min_value: the smallest result. Default: None (``divisor``).
    """
    if min_value is None:
        min_value = divisor
    out = max(min_value, int(v + divisor / 2) // divisor * divisor)
    return out + divisor if out < 0.9 * v else out
