"""torchvision's ConvNeXts (tiny, small, base, large) with its builder names, arguments
and module names."""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
from flax import linen

from jaxnn import init
from jaxnn.layers import (
    GELU,
    AdaptiveAvgPool2d,
    Conv2d,
    Flatten,
    LayerNorm,
    Linear,
    Module,
    Sequential,
)
from jaxnn.models.builders import image_input, no_pretrained_weights, register_model
from jaxnn.ops import Conv2dNormActivation, Permute, StochasticDepth

__all__ = [
    "CNBlockConfig",
    "ConvNeXt",
    "convnext_base",
    "convnext_large",
    "convnext_small",
    "convnext_tiny",
]

# torchvision's initialisation of every convolution and Linear layer of a ConvNeXt (Flax
# fixes it when a layer is built): weights N(0, 0.02^2) truncated to [-2, 2], zero biases
_init = dict(weight_init=init.trunc_normal_(std=0.02), bias_init=init.zeros_())
_conv = functools.partial(Conv2d, **_init)
_linear = functools.partial(Linear, **_init)


class LayerNorm2d(LayerNorm):
    """Layer normalization over the channels of each pixel of an NCHW image,
    torchvision's ``LayerNorm2d``: :class:`~jaxnn.LayerNorm` applied channels-last.

    Args:
        normalized_shape: the number of channels C (or ``(C,)``).
        eps: added to the variance. Default: 1e-5 (ConvNeXt passes 1e-6).
        elementwise_affine: learn ``scale`` (torch's ``weight``) and ``bias`` of shape
            (C,). Default: True.
        bias: with ``elementwise_affine``, also learn ``bias``. Default: True.
        dtype: output dtype (None: the input's).
        param_dtype: parameter dtype. Default: float32.

    Shape:
        (N, C, H, W) -> same.

    Example::

        >>> from jaxnn.models.convnext import LayerNorm2d
        >>> norm = LayerNorm2d(8, eps=1e-6)
        >>> x = jax.ShapeDtypeStruct((2, 8, 5, 5), jnp.float32)
        >>> jax.eval_shape(norm.init_with_output, jax.random.key(0), x)[0].shape
        (2, 8, 5, 5)
    """

    @linen.compact
    def __call__(self, input: jax.Array) -> jax.Array:
        if input.ndim != 4:
            raise ValueError(
                f"{self._who()}: expected an (N, C, H, W) input, got shape {tuple(input.shape)}"
            )
        x = self._normalize(jnp.transpose(input, (0, 2, 3, 1)))  # (N, H, W, C)
        return jnp.transpose(x, (0, 3, 1, 2))


class CNBlock(Module):
    """ConvNeXt's block, ``block``: depthwise conv 7x7 - LayerNorm - Linear to 4x the
    channels - GELU - Linear back (the norm and the Linear layers channels-last), scaled
    per channel by the learned ``layer_scale`` (C, 1, 1); the input is added back, the
    branch dropped by stochastic depth ("row" mode) in train mode. Its convolution and
    Linear layers get ConvNeXt's initialisation (torchvision's ``ConvNeXt`` re-draws
    them after building its blocks).

    Args:
        dim: channels of the input and the output.
        layer_scale: the initial value of every element of ``layer_scale``.
        stochastic_depth_prob: probability of dropping the branch (train mode).
        norm_layer: the normalization layer class (channels-last). Default: None,
            :class:`~jaxnn.LayerNorm` with eps 1e-6.

    Shape:
        (N, dim, H, W) -> same.

    Example::

        >>> from jaxnn.models.convnext import CNBlock
        >>> block = CNBlock(16, layer_scale=1e-6, stochastic_depth_prob=0.1)
        >>> x = jax.ShapeDtypeStruct((2, 16, 8, 8), jnp.float32)
        >>> out, variables = jax.eval_shape(block.init_with_output, jax.random.key(0), x)
        >>> out.shape, variables["params"]["layer_scale"].shape
        ((2, 16, 8, 8), (16, 1, 1))
    """

    dim: int
    layer_scale: float
    stochastic_depth_prob: float
    norm_layer: Callable[..., Module] | None = None

    def setup(self) -> None:
        dim, norm = self.dim, self.norm_layer or functools.partial(LayerNorm, eps=1e-6)
        self.block = Sequential(
            _conv(dim, dim, kernel_size=7, padding=3, groups=dim, bias=True),
            Permute((0, 2, 3, 1)),
            norm(dim),
            _linear(dim, 4 * dim, bias=True),
            GELU(),
            _linear(4 * dim, dim, bias=True),
            Permute((0, 3, 1, 2)),
        )
        # an nn.Parameter in torchvision: torch's name and layout (C, 1, 1)
        self.scale = self.param(
            "layer_scale", init.constant_(self.layer_scale), (dim, 1, 1), jnp.float32
        )
        self.stochastic_depth = StochasticDepth(self.stochastic_depth_prob, "row")

    def __call__(self, input: jax.Array) -> jax.Array:
        # torch broadcasts the (C, 1, 1) scale over N; jaxnn promotes no ranks implicitly
        result = self.scale[None] * self.block(input)
        return self.stochastic_depth(result) + input


@dataclasses.dataclass(frozen=True)
class CNBlockConfig:
    """One stage of a ConvNeXt (the paper's section 3), torchvision's ``CNBlockConfig``.

    Args:
        input_channels: channels of the stage's blocks.
        out_channels: channels after the downsampling layer that follows the stage; None
            for the last stage (no downsampling).
        num_layers: the number of blocks.
    """

    input_channels: int
    out_channels: int | None
    num_layers: int


class ConvNeXt(Module):
    """torchvision's ``ConvNeXt``: ``features`` (a conv 4x4/4 - norm stem, then each
    stage's blocks in a Sequential followed by a norm - conv 2x2/2 downsampling
    Sequential), ``avgpool`` and ``classifier`` (norm - Flatten - Linear), with
    torchvision's initialisation (convolution and Linear weights N(0, 0.02^2) truncated
    to [-2, 2], zero biases, norms ones and zeros, ``layer_scale`` constant). The
    stochastic depth probability grows linearly from 0 at the first block to
    ``stochastic_depth_prob`` at the last.

    Args:
        block_setting: one :class:`CNBlockConfig` per stage.
        stochastic_depth_prob: the last block's probability of dropping its branch (train
            mode). Default: 0.0.
        layer_scale: the initial value of each block's ``layer_scale``. Default: 1e-6.
        num_classes: outputs of the classifier. Default: 1000.
        block: the block class, called as ``block(channels, layer_scale,
            stochastic_depth_prob)``; it is not re-initialised, so a custom block brings
            its own initialisation. Default: None (:class:`CNBlock`).
        norm_layer: the normalization layer class of the stem, the downsampling layers
            and the classifier (NCHW). Default: None, :class:`LayerNorm2d` with eps 1e-6.

    Shape:
        (N, 3, H, W) -> (N, num_classes).

    Example::

        >>> model = convnext_tiny(num_classes=10)
        >>> x = model.example_input(batch_size=2)  # (2, 3, 224, 224) float32
        >>> out, variables = jax.eval_shape(model.init_with_output, jax.random.key(0), x)
        >>> out.shape
        (2, 10)
    """

    block_setting: Sequence[CNBlockConfig]
    stochastic_depth_prob: float = 0.0
    layer_scale: float = 1e-6
    num_classes: int = 1000
    block: Callable[..., Module] | None = None
    norm_layer: Callable[..., Module] | None = None

    def __post_init__(self) -> None:
        setting = self.block_setting
        if not setting:
            raise ValueError("The block_setting should not be empty")
        if not (
            isinstance(setting, Sequence) and all(isinstance(s, CNBlockConfig) for s in setting)
        ):
            raise TypeError("The block_setting should be List[CNBlockConfig]")
        super().__post_init__()

    def setup(self) -> None:
        setting, block = self.block_setting, self.block or CNBlock
        norm = self.norm_layer or functools.partial(LayerNorm2d, eps=1e-6)
        layers = [
            Conv2dNormActivation(
                3,
                setting[0].input_channels,
                kernel_size=4,
                stride=4,
                padding=0,
                norm_layer=norm,
                activation_layer=None,
                bias=True,
                conv_layer=_conv,
            )
        ]
        total, index = sum(cnf.num_layers for cnf in setting), 0
        for cnf in setting:
            stage = []
            for _ in range(cnf.num_layers):
                # as torchvision computes it (one block in all divides by zero there too)
                p = self.stochastic_depth_prob * index / (total - 1.0)
                stage.append(block(cnf.input_channels, self.layer_scale, p))
                index += 1
            layers.append(Sequential(*stage))
            if cnf.out_channels is not None:
                layers.append(
                    Sequential(
                        norm(cnf.input_channels),
                        _conv(cnf.input_channels, cnf.out_channels, kernel_size=2, stride=2),
                    )
                )
        self.features = Sequential(*layers)
        self.avgpool = AdaptiveAvgPool2d(1)
        last = setting[-1]
        channels = last.out_channels if last.out_channels is not None else last.input_channels
        self.classifier = Sequential(
            norm(channels), Flatten(1), _linear(channels, self.num_classes)
        )

    def __call__(self, x: jax.Array) -> jax.Array:
        x = self.features(x)
        x = self.avgpool(x)  # (N, C, 1, 1)
        return self.classifier(x)

    example_input = image_input(224)


def _convnext(
    setting: list[CNBlockConfig],
    stochastic_depth_prob: float,
    weights: Any,
    kwargs: dict[str, Any],
) -> ConvNeXt:
    no_pretrained_weights(weights)
    kwargs = dict(kwargs)
    p = kwargs.pop("stochastic_depth_prob", stochastic_depth_prob)
    return ConvNeXt(setting, stochastic_depth_prob=p, **kwargs)


@register_model
def convnext_tiny(*, weights: Any = None, progress: bool = True, **kwargs: Any) -> ConvNeXt:
    """ConvNeXt-T (torchvision's builder): stages of 3, 3, 9, 3 blocks, 96 to 768
    channels, stochastic depth 0.1.

    Args:
        weights: must be None: jaxnn downloads nothing (convert torchvision's weights
            with ``jaxnn-compat convert`` or ``jaxnn.compat.torch_to_flax``).
        progress: accepted for torchvision's signature; nothing is downloaded.
        **kwargs: ``stochastic_depth_prob`` (the builder's default otherwise) and
            :class:`ConvNeXt`'s other arguments, e.g. ``num_classes=10``.
    """
    setting = [
        CNBlockConfig(96, 192, 3),
        CNBlockConfig(192, 384, 3),
        CNBlockConfig(384, 768, 9),
        CNBlockConfig(768, None, 3),
    ]
    return _convnext(setting, 0.1, weights, kwargs)


@register_model
def convnext_small(*, weights: Any = None, progress: bool = True, **kwargs: Any) -> ConvNeXt:
    """ConvNeXt-S (torchvision's builder): stages of 3, 3, 27, 3 blocks, 96 to 768
    channels, stochastic depth 0.4. Args: as :func:`convnext_tiny`."""
    setting = [
        CNBlockConfig(96, 192, 3),
        CNBlockConfig(192, 384, 3),
        CNBlockConfig(384, 768, 27),
        CNBlockConfig(768, None, 3),
    ]
    return _convnext(setting, 0.4, weights, kwargs)


@register_model
def convnext_base(*, weights: Any = None, progress: bool = True, **kwargs: Any) -> ConvNeXt:
    """ConvNeXt-B (torchvision's builder): stages of 3, 3, 27, 3 blocks, 128 to 1024
    channels, stochastic depth 0.5. Args: as :func:`convnext_tiny`."""
    setting = [
        CNBlockConfig(128, 256, 3),
        CNBlockConfig(256, 512, 3),
        CNBlockConfig(512, 1024, 27),
        CNBlockConfig(1024, None, 3),
    ]
    return _convnext(setting, 0.5, weights, kwargs)


@register_model
def convnext_large(*, weights: Any = None, progress: bool = True, **kwargs: Any) -> ConvNeXt:
    """ConvNeXt-L (torchvision's builder): stages of 3, 3, 27, 3 blocks, 192 to 1536
    channels, stochastic depth 0.5. Args: as :func:`convnext_tiny`."""
    setting = [
        CNBlockConfig(192, 384, 3),
        CNBlockConfig(384, 768, 3),
        CNBlockConfig(768, 1536, 27),
        CNBlockConfig(1536, None, 3),
    ]
    return _convnext(setting, 0.5, weights, kwargs)
