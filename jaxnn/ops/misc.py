"""torchvision.ops.misc's blocks: Conv2dNormActivation, SqueezeExcitation, MLP, Permute,
FrozenBatchNorm2d, with torchvision's arguments, defaults and child names."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
from jax import lax

from jaxnn.core.args import ntuple
from jaxnn.layers import (
    AdaptiveAvgPool2d,
    BatchNorm2d,
    Conv2d,
    Dropout,
    Linear,
    Module,
    ReLU,
    Sequential,
    Sigmoid,
)

__all__ = ["MLP", "Conv2dNormActivation", "FrozenBatchNorm2d", "Permute", "SqueezeExcitation"]

LayerFactory = Callable[..., Any]


class Conv2dNormActivation(Sequential):
    """Conv2d, then a norm layer, then an activation: torchvision's
    ``ops.Conv2dNormActivation``, a Sequential with children "0", "1", "2" (torchvision's
    state_dict keys).

    Args:
        in_channels: channels of the input.
        out_channels: channels produced.
        kernel_size: the convolution's kernel size. Default: 3.
        stride: the convolution's stride. Default: 1.
        padding: Default: None, (kernel_size - 1) // 2 * dilation ("same" for odd
            kernels).
        groups: the convolution's groups. Default: 1.
        norm_layer: called with ``out_channels``; None for no norm. Default:
            ``nn.BatchNorm2d``.
        activation_layer: called with ``inplace=inplace`` (without it when ``inplace``
            is None); None for no activation. Default: ``nn.ReLU``.
        dilation: the convolution's dilation. Default: 1.
        inplace: passed to the activation. Default: True.
        bias: the convolution's bias. Default: None, a bias only without a norm layer.
        conv_layer: builds the convolution, called with Conv2d's arguments (torchvision's
            ``_ConvNormActivation`` argument); a model passes e.g.
            ``functools.partial(nn.Conv2d, weight_init=...)`` for its initialisation,
            which Flax fixes when a layer is built. Default: ``nn.Conv2d``.
        **kwargs: Flax's ``parent`` and ``name`` (and the children, when Flax clones it).

    Shape:
        (N, in_channels, H, W) -> (N, out_channels, H_out, W_out).
    """

    def __init__(
        self,
        in_channels: int | None = None,
        out_channels: int | None = None,
        kernel_size: int | tuple[int, int] = 3,
        stride: int | tuple[int, int] = 1,
        padding: int | tuple[int, int] | str | None = None,
        groups: int = 1,
        norm_layer: LayerFactory | None = BatchNorm2d,
        activation_layer: LayerFactory | None = ReLU,
        dilation: int | tuple[int, int] = 1,
        inplace: bool | None = True,
        bias: bool | None = None,
        conv_layer: LayerFactory = Conv2d,
        **kwargs: Any,
    ) -> None:
        if "layers" in kwargs:  # Flax's clone() passes the children already built
            super().__init__(**kwargs)
            return
        if padding is None:
            k, d = ntuple(kernel_size, 2, "kernel_size"), ntuple(dilation, 2, "dilation")
            padding = tuple((kk - 1) // 2 * dd for kk, dd in zip(k, d))
            if isinstance(kernel_size, int) and isinstance(dilation, int):
                padding = padding[0]
        if bias is None:
            bias = norm_layer is None
        layers = [
            conv_layer(
                in_channels,
                out_channels,
                kernel_size,
                stride,
                padding,
                dilation=dilation,
                groups=groups,
                bias=bias,
            )
        ]
        if norm_layer is not None:
            layers.append(norm_layer(out_channels))
        if activation_layer is not None:
            layers.append(activation_layer(**({} if inplace is None else {"inplace": inplace})))
        super().__init__(*layers, **kwargs)

    @property
    def out_channels(self) -> int:
        """The convolution's output channels, as torchvision's attribute."""
        return self.layers[0].out_channels


class SqueezeExcitation(Module):
    """Squeeze-and-excitation, torchvision's ``ops.SqueezeExcitation``: the input scaled
    per channel by scale_activation(fc2(activation(fc1(avgpool(x))))).

    Args:
        input_channels: channels of the input.
        squeeze_channels: channels of the bottleneck.
        activation: Default: ``nn.ReLU``.
        scale_activation: Default: ``nn.Sigmoid``.
        conv_layer: builds ``fc1`` and ``fc2``, called with Conv2d's arguments; a jaxnn
            addition, for a model's initialisation (see :class:`Conv2dNormActivation`).
            Default: ``nn.Conv2d``.

    Children ``avgpool``, ``fc1``, ``fc2`` (1x1 Conv2d), ``activation``,
    ``scale_activation``, as torchvision's.

    Shape:
        (N, C, H, W) -> same.
    """

    input_channels: int
    squeeze_channels: int
    activation: LayerFactory = ReLU
    scale_activation: LayerFactory = Sigmoid
    conv_layer: LayerFactory = Conv2d

    def setup(self) -> None:
        self.avgpool = AdaptiveAvgPool2d(1)
        self.fc1 = self.conv_layer(self.input_channels, self.squeeze_channels, 1)
        self.fc2 = self.conv_layer(self.squeeze_channels, self.input_channels, 1)
        # torchvision names these children `activation` and `scale_activation`; here those
        # names hold the constructor arguments (the layers have no parameters)
        self.activation_ = self.activation()
        self.scale_activation_ = self.scale_activation()

    def __call__(self, input: jax.Array) -> jax.Array:
        scale = self.fc2(self.activation_(self.fc1(self.avgpool(input))))
        return self.scale_activation_(scale) * input


class MLP(Sequential):
    """Linear layers with norm, activation and dropout between them, torchvision's
    ``ops.MLP``: children numbered "0", "1", ... as torchvision's.

    Args:
        in_channels: features of the input.
        hidden_channels: the width of each Linear layer; the last is the output's.
        norm_layer: called with each hidden width; None for none. Default: None.
        activation_layer: called (with ``inplace`` when it is not None) after each
            hidden Linear layer and its norm. Default: ``nn.ReLU``.
        inplace: passed to the activation and dropout when not None. Default: None.
        bias: the Linear layers' bias. Default: True.
        dropout: dropout probability after each Linear layer. Default: 0.0.
        linear_layer: builds the Linear layers, called with Linear's arguments; a jaxnn
            addition, for a model's initialisation (see :class:`Conv2dNormActivation`).
            Default: ``nn.Linear``.
        **kwargs: Flax's ``parent`` and ``name`` (and the children, when Flax clones it).

    Shape:
        (*, in_channels) -> (*, hidden_channels[-1]).
    """

    def __init__(
        self,
        in_channels: int | None = None,
        hidden_channels: Sequence[int] = (),
        norm_layer: LayerFactory | None = None,
        activation_layer: LayerFactory | None = ReLU,
        inplace: bool | None = None,
        bias: bool = True,
        dropout: float = 0.0,
        linear_layer: LayerFactory = Linear,
        **kwargs: Any,
    ) -> None:
        if "layers" in kwargs:  # Flax's clone() passes the children already built
            super().__init__(**kwargs)
            return
        if not hidden_channels:
            raise ValueError("MLP: hidden_channels must list at least one width")
        params = {} if inplace is None else {"inplace": inplace}
        layers, width = [], in_channels
        for hidden in hidden_channels[:-1]:
            layers.append(linear_layer(width, hidden, bias=bias))
            if norm_layer is not None:
                layers.append(norm_layer(hidden))
            layers.append(activation_layer(**params))
            layers.append(Dropout(dropout, **params))
            width = hidden
        layers.append(linear_layer(width, hidden_channels[-1], bias=bias))
        layers.append(Dropout(dropout, **params))
        super().__init__(*layers, **kwargs)


class Permute(Module):
    """Permute the dims of the input, torchvision's ``ops.Permute(dims)``.

    Args:
        dims: the new order of the dims.
    """

    dims: tuple[int, ...]

    def __call__(self, input: jax.Array) -> jax.Array:
        if sorted(d % max(input.ndim, 1) for d in self.dims) != list(range(input.ndim)):
            raise ValueError(
                f"{self._who()}: dims {tuple(self.dims)} is not a permutation of the "
                f"{input.ndim} dims of input {tuple(input.shape)}"
            )
        return jnp.transpose(input, tuple(self.dims))

    def extra_repr(self) -> str:
        return ""


class FrozenBatchNorm2d(Module):
    """BatchNorm2d with fixed statistics and affine parameters, torchvision's
    ``ops.FrozenBatchNorm2d``: x * w / sqrt(var + eps) + (b - mean * w / sqrt(var + eps)).

    Args:
        num_features: C of the (N, C, H, W) input.
        eps: added to the variance. Default: 1e-5.

    Variables: ``buffers/weight``, ``bias``, ``running_mean``, ``running_var``
    (num_features,): torchvision's buffers, in the state_dict under their names and
    never trained. torchvision also drops a ``num_batches_tracked`` key when loading;
    load a BatchNorm2d's state_dict with ``strict=False`` for that.

    Shape:
        (N, C, H, W) -> same.
    """

    num_features: int
    eps: float = 1e-5

    def setup(self) -> None:
        n = self.num_features
        self.register_buffer("weight", jnp.ones(n))
        self.register_buffer("bias", jnp.zeros(n))
        self.register_buffer("running_mean", jnp.zeros(n))
        self.register_buffer("running_var", jnp.ones(n))

    def __call__(self, input: jax.Array) -> jax.Array:
        if input.ndim != 4 or input.shape[1] != self.num_features:
            raise ValueError(
                f"{self._who()}: expected input of shape (N, {self.num_features}, H, W), "
                f"got {tuple(input.shape)}"
            )
        shape = (1, -1, 1, 1)
        scale = self.weight.reshape(shape) * lax.rsqrt(self.running_var.reshape(shape) + self.eps)
        bias = self.bias.reshape(shape) - self.running_mean.reshape(shape) * scale
        return input * scale.astype(input.dtype) + bias.astype(input.dtype)

    def __repr__(self) -> str:
        return f"FrozenBatchNorm2d({self.num_features}, eps={self.eps})"
