"""Activation layers, torch's ``nn.ReLU`` ... ``nn.Softmin``; each calls its
``jaxnn.functional`` form, so a layer and its F form compute the same thing. At a kink
(ReLU6 at 0 and 6, Hardswish at +-3, ...) the gradient is torch's.

``inplace`` arguments are accepted for torch compatibility; JAX arrays are immutable,
so every layer returns a new array.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from flax import linen

from jaxnn import functional as F
from jaxnn import init as nn_init
from jaxnn.layers.module import UNSPECIFIED_PARENT, Module

__all__ = [
    "CELU",
    "ELU",
    "GELU",
    "GLU",
    "SELU",
    "Hardshrink",
    "Hardsigmoid",
    "Hardswish",
    "Hardtanh",
    "LeakyReLU",
    "LogSigmoid",
    "LogSoftmax",
    "Mish",
    "PReLU",
    "ReLU",
    "ReLU6",
    "SiLU",
    "Sigmoid",
    "Softmax",
    "Softmin",
    "Softplus",
    "Softshrink",
    "Softsign",
    "Tanh",
    "Tanhshrink",
    "Threshold",
]


def _inplace(inplace: bool) -> str:
    return "inplace=True" if inplace else ""


class ReLU(Module):
    """max(0, x).

    Args:
        inplace: kept for torch's signature and repr; JAX returns a new array. Default: False.
    """

    inplace: bool = False

    def __call__(self, input: jax.Array) -> jax.Array:
        return F.relu(input)

    def extra_repr(self) -> str:
        return "inplace=True" if self.inplace else ""


class LeakyReLU(Module):
    """x if x > 0 else negative_slope * x.

    Args:
        negative_slope: the slope for negative inputs. Default: 0.01.
        inplace: kept for torch's signature and repr; JAX returns a new array. Default: False.
    """

    negative_slope: float = 0.01
    inplace: bool = False

    def __call__(self, input: jax.Array) -> jax.Array:
        return F.leaky_relu(input, self.negative_slope)

    def extra_repr(self) -> str:
        return f"negative_slope={self.negative_slope}" + (", inplace=True" if self.inplace else "")


class ELU(Module):
    """x if x > 0 else alpha * (exp(x) - 1).

    Args:
        alpha: the output approaches -alpha for large negative inputs. Default: 1.0.
        inplace: kept for torch's signature and repr; JAX returns a new array. Default: False.
    """

    alpha: float = 1.0
    inplace: bool = False

    def __call__(self, input: jax.Array) -> jax.Array:
        return F.elu(input, self.alpha)

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}" + (", inplace=True" if self.inplace else "")


class GELU(Module):
    """Gaussian error linear unit, x * Phi(x).

    Args:
        approximate: ``'none'``, exact (with erf), or ``'tanh'``, the tanh approximation.
            Default: ``'none'`` (Flax's ``nn.gelu`` defaults to the approximation).
    """

    approximate: str = "none"

    def __post_init__(self) -> None:
        if self.approximate not in ("none", "tanh"):
            raise ValueError(
                f"GELU: approximate must be 'none' or 'tanh', got {self.approximate!r}"
            )
        super().__post_init__()

    def __call__(self, input: jax.Array) -> jax.Array:
        return F.gelu(input, self.approximate)

    def extra_repr(self) -> str:
        return f"approximate={self.approximate!r}"


class SiLU(Module):
    """x * sigmoid(x). Args: as :class:`ReLU`."""

    inplace: bool = False

    def __call__(self, input: jax.Array) -> jax.Array:
        return F.silu(input)

    def extra_repr(self) -> str:
        return "inplace=True" if self.inplace else ""


class Sigmoid(Module):
    """1 / (1 + exp(-x))."""

    def __call__(self, input: jax.Array) -> jax.Array:
        return F.sigmoid(input)

    def extra_repr(self) -> str:
        return ""


class Tanh(Module):
    """Hyperbolic tangent."""

    def __call__(self, input: jax.Array) -> jax.Array:
        return F.tanh(input)

    def extra_repr(self) -> str:
        return ""


class Softmax(Module):
    """Softmax along ``dim`` (torch's dim: 1 for (N, C) logits).

    Args:
        dim: the dimension the softmax normalises over. Default: None, torch's deprecated
            implicit choice, with its warning: 0 for 0-, 1- and 3-D input, else 1.
    """

    dim: int | None = None

    def __call__(self, input: jax.Array) -> jax.Array:
        return F.softmax(input, self.dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class LogSoftmax(Module):
    """log(softmax(x)) along ``dim``. Args: as :class:`Softmax`."""

    dim: int | None = None

    def __call__(self, input: jax.Array) -> jax.Array:
        return F.log_softmax(input, self.dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class Softmin(Module):
    """softmax(-x) along ``dim``. Args: as :class:`Softmax`."""

    dim: int | None = None

    def __call__(self, input: jax.Array) -> jax.Array:
        return F.softmin(input, self.dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class Hardtanh(Module):
    """min_val if x < min_val, max_val if x > max_val, else x; gradient 1 strictly
    between the two, 0 elsewhere (torch's).

    Args:
        min_val: the lower end of the linear range. Default: -1.0.
        max_val: the upper end of the linear range (above min_val). Default: 1.0.
        inplace: kept for torch's signature and repr; JAX returns a new array. Default: False.
    """

    min_val: float = -1.0
    max_val: float = 1.0
    inplace: bool = False

    def __post_init__(self) -> None:
        if self.max_val <= self.min_val:
            raise ValueError(
                f"{type(self).__name__}: max_val ({self.max_val}) must be greater than "
                f"min_val ({self.min_val})"
            )
        super().__post_init__()

    def __call__(self, input: jax.Array) -> jax.Array:
        return F.hardtanh(input, self.min_val, self.max_val)

    def extra_repr(self) -> str:
        inplace = ", inplace=True" if self.inplace else ""
        return f"min_val={float(self.min_val)}, max_val={float(self.max_val)}{inplace}"


class ReLU6(Module):
    """min(max(0, x), 6); gradient 0 at 0 and 6, as torch. Args: as :class:`ReLU`."""

    inplace: bool = False

    def __call__(self, input: jax.Array) -> jax.Array:
        return F.relu6(input)

    def extra_repr(self) -> str:
        return _inplace(self.inplace)


class Hardsigmoid(Module):
    """0 if x <= -3, 1 if x >= 3, else x / 6 + 1 / 2. Args: as :class:`ReLU`."""

    inplace: bool = False

    def __call__(self, input: jax.Array) -> jax.Array:
        return F.hardsigmoid(input)

    def extra_repr(self) -> str:
        return ""


class Hardswish(Module):
    """x * relu6(x + 3) / 6 (MobileNetV3); gradient (2 x + 3) / 6 inside (-3, 3). Args: as
    :class:`ReLU`."""

    inplace: bool = False

    def __call__(self, input: jax.Array) -> jax.Array:
        return F.hardswish(input)

    def extra_repr(self) -> str:
        return ""


class Mish(Module):
    """x * tanh(softplus(x)). Args: as :class:`ReLU`."""

    inplace: bool = False

    def __call__(self, input: jax.Array) -> jax.Array:
        return F.mish(input)

    def extra_repr(self) -> str:
        return ""


class Softplus(Module):
    """log(1 + exp(beta x)) / beta, linear where beta x > threshold.

    Args:
        beta: the sharpness of the curve. Default: 1.0.
        threshold: where beta x is above it, the output is x. Default: 20.0.
    """

    beta: float = 1.0
    threshold: float = 20.0

    def __call__(self, input: jax.Array) -> jax.Array:
        return F.softplus(input, self.beta, self.threshold)

    def extra_repr(self) -> str:
        return f"beta={float(self.beta)}, threshold={float(self.threshold)}"


class SELU(Module):
    """scale * (x if x > 0 else alpha * (exp(x) - 1)) with torch's alpha and scale. Args: as
    :class:`ReLU`."""

    inplace: bool = False

    def __call__(self, input: jax.Array) -> jax.Array:
        return F.selu(input)

    def extra_repr(self) -> str:
        return _inplace(self.inplace)


class CELU(Module):
    """x if x > 0 else alpha * (exp(x / alpha) - 1).

    Args:
        alpha: the scale of the negative part (not 0). Default: 1.0.
        inplace: kept for torch's signature and repr; JAX returns a new array. Default: False.
    """

    alpha: float = 1.0
    inplace: bool = False

    def __call__(self, input: jax.Array) -> jax.Array:
        return F.celu(input, self.alpha)

    def extra_repr(self) -> str:
        return f"alpha={float(self.alpha)}" + (", inplace=True" if self.inplace else "")


class GLU(Module):
    """a * sigmoid(b), where a and b are the two halves of the input along ``dim``.

    Args:
        dim: the dimension split in half (its size must be even). Default: -1.

    Shape: (*, 2 M, *) -> (*, M, *).
    """

    dim: int = -1

    def __call__(self, input: jax.Array) -> jax.Array:
        return F.glu(input, self.dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class LogSigmoid(Module):
    """log(sigmoid(x)), computed stably."""

    def __call__(self, input: jax.Array) -> jax.Array:
        return F.logsigmoid(input)

    def extra_repr(self) -> str:
        return ""


class Softsign(Module):
    """x / (1 + |x|)."""

    def __call__(self, input: jax.Array) -> jax.Array:
        return F.softsign(input)

    def extra_repr(self) -> str:
        return ""


class Tanhshrink(Module):
    """x - tanh(x)."""

    def __call__(self, input: jax.Array) -> jax.Array:
        return F.tanhshrink(input)

    def extra_repr(self) -> str:
        return ""


class Threshold(Module):
    """x if x > threshold else value.

    Args:
        threshold: the value to threshold at.
        value: the value that replaces what is not above it.
        inplace: kept for torch's signature and repr; JAX returns a new array. Default: False.
    """

    threshold: float
    value: float
    inplace: bool = False

    def __call__(self, input: jax.Array) -> jax.Array:
        return F.threshold(input, self.threshold, self.value)

    def extra_repr(self) -> str:
        inplace = ", inplace=True" if self.inplace else ""
        return f"threshold={self.threshold}, value={self.value}{inplace}"


class Hardshrink(Module):
    """x if |x| > lambd else 0.

    Args:
        lambd: the half-width of the band set to 0. Default: 0.5.
    """

    lambd: float = 0.5

    def __call__(self, input: jax.Array) -> jax.Array:
        return F.hardshrink(input, self.lambd)

    def extra_repr(self) -> str:
        return f"{self.lambd}"


class Softshrink(Module):
    """x - lambd if x > lambd, x + lambd if x < -lambd, else 0.

    Args:
        lambd: the half-width of the band set to 0, and the shrink (>= 0). Default: 0.5.
    """

    lambd: float = 0.5

    def __post_init__(self) -> None:
        if self.lambd < 0:
            raise ValueError(
                f"Softshrink: lambda must be greater or equal to 0, but found to be {self.lambd}"
            )
        super().__post_init__()

    def __call__(self, input: jax.Array) -> jax.Array:
        return F.softshrink(input, self.lambd)

    def extra_repr(self) -> str:
        return f"{self.lambd}"


class PReLU(Module):
    """x if x > 0 else a * x with a learned slope ``a``, torch's ``nn.PReLU``.

    Args:
        num_parameters: 1 (one slope for all channels) or the number of channels
            (dim 1 of the input). Default: 1.
        init: the slopes' initial value. Default: 0.25.
        param_dtype: the slopes' dtype. Default: float32.
        **kwargs: only ``init_value``, which Flax's ``clone()`` passes for ``init``.

    Torch's ``init`` argument shares its name with Flax's ``Module.init``: the
    constructor takes ``init=`` as torch does and keeps it as the field ``init_value``,
    so ``PReLU(3, init=0.1).init(key, x)`` is still Flax's ``init``.

    Shape:
        (N, C, *) or any shape with num_parameters=1 -> same.

    Variables: ``params/weight`` (num_parameters,), torch's name and layout.
    """

    num_parameters: int = 1
    init_value: float = 0.25
    param_dtype: Any = jnp.float32

    def __init__(
        self,
        num_parameters: int = 1,
        init: float = 0.25,
        *,
        param_dtype: Any = jnp.float32,
        parent: Any = UNSPECIFIED_PARENT,
        name: str | None = None,
        **kwargs: Any,
    ) -> None:
        if "init_value" in kwargs:  # Flax's clone() passes the fields by keyword
            init = kwargs.pop("init_value")
        if kwargs:
            raise TypeError(f"PReLU got unexpected keyword arguments {sorted(kwargs)}")
        if not isinstance(num_parameters, int) or num_parameters < 1:
            raise ValueError(
                f"PReLU: num_parameters must be a positive int, got {num_parameters!r}"
            )
        object.__setattr__(self, "num_parameters", num_parameters)
        object.__setattr__(self, "init_value", float(init))
        object.__setattr__(self, "param_dtype", param_dtype)
        object.__setattr__(self, "parent", parent)
        object.__setattr__(self, "name", name)
        self.__post_init__()

    @linen.compact
    def __call__(self, input: jax.Array) -> jax.Array:
        weight = self.param(
            "weight", nn_init.constant_(self.init_value), (self.num_parameters,), self.param_dtype
        )
        if self.num_parameters > 1 and (input.ndim < 2 or input.shape[1] != self.num_parameters):
            raise ValueError(
                f"{self._who()}: {self.num_parameters} parameters need the input's dim 1 to "
                f"have as many channels, got shape {tuple(input.shape)}"
            )
        return F.prelu(input, weight)

    def extra_repr(self) -> str:
        return f"num_parameters={self.num_parameters}"
