"""torchvision's Vision Transformers (ViT-B/16, B/32, L/16, L/32, H/14) with its builder
names, arguments and module names."""

from __future__ import annotations

import dataclasses
import functools
import math
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
from flax import linen

from jaxnn import init
from jaxnn.layers import (
    GELU,
    BatchNorm2d,
    Conv2d,
    Dropout,
    LayerNorm,
    Linear,
    Module,
    MultiheadAttention,
    ReLU,
    Sequential,
    Tanh,
)
from jaxnn.models.builders import no_pretrained_weights, register_model
from jaxnn.ops import MLP, Conv2dNormActivation

__all__ = [
    "ConvStemConfig",
    "VisionTransformer",
    "vit_b_16",
    "vit_b_32",
    "vit_h_14",
    "vit_l_16",
    "vit_l_32",
]

LayerFactory = Callable[..., Module]

# torchvision's default norm: LayerNorm with eps 1e-6
_LAYER_NORM = functools.partial(LayerNorm, eps=1e-6)


@dataclasses.dataclass(frozen=True)
class ConvStemConfig:
    """One conv - norm - activation layer of a convolutional stem (Xiao et al., "Early
    convolutions help transformers see better"), torchvision's ``ConvStemConfig`` (a
    NamedTuple there; the same fields, arguments and defaults).

    Args:
        out_channels: channels of the layer's output.
        kernel_size: the convolution's kernel size.
        stride: the convolution's stride.
        norm_layer: the normalization layer class. Default: :class:`~jaxnn.BatchNorm2d`.
        activation_layer: the activation class. Default: :class:`~jaxnn.ReLU`.
    """

    out_channels: int
    kernel_size: int
    stride: int
    norm_layer: LayerFactory = BatchNorm2d
    activation_layer: LayerFactory = ReLU


class MLPBlock(MLP):
    """The transformer's MLP, torchvision's ``MLPBlock``: Linear to ``mlp_dim`` - GELU -
    Dropout - Linear back to ``in_dim`` - Dropout (children "0" to "4"), Linear weights
    Xavier-uniform and biases N(0, 1e-6^2), as torchvision initialises them.

    Args:
        in_dim: features of the input and the output.
        mlp_dim: features of the hidden layer.
        dropout: dropout probability after each Linear layer (train mode).

    Shape:
        (*, in_dim) -> same.

    Example::

        >>> from jaxnn.models.vision_transformer import MLPBlock
        >>> mlp = MLPBlock(32, 64, dropout=0.1)
        >>> x = jax.ShapeDtypeStruct((2, 5, 32), jnp.float32)
        >>> jax.eval_shape(mlp.init_with_output, jax.random.key(0), x)[0].shape
        (2, 5, 32)
    """

    def __init__(
        self,
        in_dim: int | None = None,
        mlp_dim: int | None = None,
        dropout: float = 0.0,
        **kwargs: Any,
    ) -> None:
        if "layers" in kwargs:  # Flax's clone() passes the children already built
            super().__init__(**kwargs)
            return
        linear = functools.partial(
            Linear, weight_init=init.xavier_uniform_(), bias_init=init.normal_(std=1e-6)
        )
        super().__init__(
            in_dim,
            [mlp_dim, in_dim],
            activation_layer=GELU,
            inplace=None,
            dropout=dropout,
            linear_layer=linear,
            **kwargs,
        )


def _dropout(p: float) -> Dropout:
    """torchvision's child ``dropout``, made where it is called: in ``setup`` the name
    ``dropout`` would clash with the field that holds the probability."""
    return Dropout(p, name="dropout")


def _check_sequence(who: str, input: jax.Array) -> None:
    if input.ndim != 3:
        raise ValueError(
            f"{who}: Expected (batch_size, seq_length, hidden_dim) got {tuple(input.shape)}"
        )


class EncoderBlock(Module):
    """A pre-norm transformer encoder layer, torchvision's ``EncoderBlock``:
    x + dropout(self_attention(ln_1(x))), then that plus mlp(ln_2(that)).

    Args:
        num_heads: attention heads.
        hidden_dim: features of the tokens.
        mlp_dim: features of the MLP's hidden layer.
        dropout: dropout probability after the attention and in the MLP (train mode).
        attention_dropout: dropout probability on the attention weights (train mode).
        norm_layer: the normalization layer class. Default: :class:`~jaxnn.LayerNorm`
            with eps 1e-6.

    Children ``ln_1``, ``self_attention`` (:class:`~jaxnn.MultiheadAttention`,
    batch_first, torch's ``in_proj_weight`` / ``out_proj``), ``dropout``, ``ln_2`` and
    ``mlp`` (:class:`MLPBlock`), as torchvision's.

    Shape:
        (N, S, hidden_dim) -> same.

    Example::

        >>> from jaxnn.models.vision_transformer import EncoderBlock
        >>> block = EncoderBlock(2, 32, 64, dropout=0.0, attention_dropout=0.0)
        >>> x = jax.ShapeDtypeStruct((2, 5, 32), jnp.float32)
        >>> jax.eval_shape(block.init_with_output, jax.random.key(0), x)[0].shape
        (2, 5, 32)
    """

    num_heads: int
    hidden_dim: int
    mlp_dim: int
    dropout: float
    attention_dropout: float
    norm_layer: LayerFactory = _LAYER_NORM

    def setup(self) -> None:
        self.ln_1 = self.norm_layer(self.hidden_dim)
        self.self_attention = MultiheadAttention(
            self.hidden_dim, self.num_heads, dropout=self.attention_dropout, batch_first=True
        )
        self.ln_2 = self.norm_layer(self.hidden_dim)
        self.mlp = MLPBlock(self.hidden_dim, self.mlp_dim, self.dropout)

    @linen.compact
    def __call__(self, input: jax.Array) -> jax.Array:
        _check_sequence(type(self).__name__, input)
        x = self.ln_1(input)
        x, _ = self.self_attention(x, x, x, need_weights=False)
        x = _dropout(self.dropout)(x) + input
        return x + self.mlp(self.ln_2(x))


class Encoder(Module):
    """The transformer encoder, torchvision's ``Encoder``: adds the learned
    ``pos_embedding`` (1, seq_length, hidden_dim) (an ``nn.Parameter`` in torchvision,
    N(0, 0.02^2); torch's name and layout here), then dropout, the ``layers``
    (``encoder_layer_0``, ... :class:`EncoderBlock`) and a final norm ``ln``.

    Args:
        seq_length: tokens per sequence (the class token included).
        num_layers: encoder blocks.
        num_heads: attention heads.
        hidden_dim: features of the tokens.
        mlp_dim: features of the MLPs' hidden layers.
        dropout: dropout probability (train mode).
        attention_dropout: dropout probability on the attention weights (train mode).
        norm_layer: the normalization layer class. Default: :class:`~jaxnn.LayerNorm`
            with eps 1e-6.

    Shape:
        (N, seq_length, hidden_dim) -> same.

    Example::

        >>> from jaxnn.models.vision_transformer import Encoder
        >>> encoder = Encoder(5, 2, 2, 32, 64, dropout=0.0, attention_dropout=0.0)
        >>> x = jax.ShapeDtypeStruct((2, 5, 32), jnp.float32)
        >>> out, variables = jax.eval_shape(encoder.init_with_output, jax.random.key(0), x)
        >>> out.shape, variables["params"]["pos_embedding"].shape
        ((2, 5, 32), (1, 5, 32))
    """

    seq_length: int
    num_layers: int
    num_heads: int
    hidden_dim: int
    mlp_dim: int
    dropout: float
    attention_dropout: float
    norm_layer: LayerFactory = _LAYER_NORM

    def setup(self) -> None:
        shape = (1, self.seq_length, self.hidden_dim)
        self.pos_embedding = self.param("pos_embedding", init.normal_(std=0.02), shape)
        args = (self.num_heads, self.hidden_dim, self.mlp_dim, self.dropout)
        self.layers = Sequential(
            OrderedDict(
                (f"encoder_layer_{i}", EncoderBlock(*args, self.attention_dropout, self.norm_layer))
                for i in range(self.num_layers)
            )
        )
        self.ln = self.norm_layer(self.hidden_dim)

    @linen.compact
    def __call__(self, input: jax.Array) -> jax.Array:
        _check_sequence(type(self).__name__, input)
        input = input + self.pos_embedding
        return self.ln(self.layers(_dropout(self.dropout)(input)))


class VisionTransformer(Module):
    """torchvision's ``VisionTransformer`` (Dosovitskiy et al., "An image is worth 16x16
    words"): ``conv_proj`` cuts the image into patches (a conv patch_size/patch_size, or
    a convolutional stem ending in a 1x1 ``conv_last``), the learned ``class_token``
    (1, 1, hidden_dim) is put before the patch tokens, ``encoder`` runs the
    :class:`Encoder` and ``heads`` (``head``, or ``pre_logits`` - Tanh ``act`` -
    ``head``) classifies the class token. ``class_token`` and ``encoder.pos_embedding``
    are ``nn.Parameter``\\ s in torchvision: torch's names and layouts here.

    torchvision's initialisation: ``class_token`` zeros; the patch conv's weight
    N(0, 1 / fan_in) truncated to [-2, 2] (a stem's ``conv_last``: N(0, 2 / hidden_dim)),
    zero bias; ``pre_logits`` N(0, 1 / hidden_dim) truncated, zero bias; ``head`` zeros;
    the attention and MLPs as :class:`EncoderBlock` and :class:`MLPBlock`.

    Args:
        image_size: height and width of the input images (a multiple of patch_size).
        patch_size: height and width of a patch.
        num_layers: encoder blocks.
        num_heads: attention heads.
        hidden_dim: features of the tokens.
        mlp_dim: features of the MLPs' hidden layers.
        dropout: dropout probability (train mode). Default: 0.0.
        attention_dropout: dropout probability on the attention weights (train mode).
            Default: 0.0.
        num_classes: outputs of the classifier. Default: 1000.
        representation_size: features of the ``pre_logits`` layer; None for none.
            Default: None.
        norm_layer: the normalization layer class. Default: :class:`~jaxnn.LayerNorm`
            with eps 1e-6.
        conv_stem_configs: one :class:`ConvStemConfig` per stem layer, in place of the
            patch conv (their strides multiply to patch_size). Default: None.

    Shape:
        (N, 3, image_size, image_size) -> (N, num_classes).

    Example::

        >>> model = vit_b_16(num_classes=10)
        >>> x = model.example_input(batch_size=2)  # (2, 3, 224, 224) float32
        >>> out, variables = jax.eval_shape(model.init_with_output, jax.random.key(0), x)
        >>> out.shape, variables["params"]["class_token"].shape
        ((2, 10), (1, 1, 768))
    """

    image_size: int
    patch_size: int
    num_layers: int
    num_heads: int
    hidden_dim: int
    mlp_dim: int
    dropout: float = 0.0
    attention_dropout: float = 0.0
    num_classes: int = 1000
    representation_size: int | None = None
    norm_layer: LayerFactory = _LAYER_NORM
    conv_stem_configs: Sequence[ConvStemConfig] | None = None

    def __post_init__(self) -> None:
        if self.image_size % self.patch_size != 0:
            raise ValueError("Input shape indivisible by patch size!")
        super().__post_init__()

    @property
    def seq_length(self) -> int:
        """Tokens per image: the patches and the class token."""
        return (self.image_size // self.patch_size) ** 2 + 1

    def setup(self) -> None:
        hidden = self.hidden_dim
        if self.conv_stem_configs is not None:
            stem, channels = OrderedDict(), 3
            for i, cnf in enumerate(self.conv_stem_configs):
                stem[f"conv_bn_relu_{i}"] = Conv2dNormActivation(
                    channels,
                    cnf.out_channels,
                    kernel_size=cnf.kernel_size,
                    stride=cnf.stride,
                    norm_layer=cnf.norm_layer,
                    activation_layer=cnf.activation_layer,
                )
                channels = cnf.out_channels
            stem["conv_last"] = Conv2d(
                channels,
                hidden,
                kernel_size=1,
                weight_init=init.normal_(0.0, math.sqrt(2.0 / hidden)),
                bias_init=init.zeros_(),
            )
            self.conv_proj = Sequential(stem)
        else:
            fan_in = 3 * self.patch_size**2
            self.conv_proj = Conv2d(
                3,
                hidden,
                kernel_size=self.patch_size,
                stride=self.patch_size,
                weight_init=init.trunc_normal_(std=math.sqrt(1 / fan_in)),
                bias_init=init.zeros_(),
            )
        self.class_token = self.param("class_token", init.zeros_(), (1, 1, hidden))
        self.encoder = Encoder(
            self.seq_length,
            self.num_layers,
            self.num_heads,
            hidden,
            self.mlp_dim,
            self.dropout,
            self.attention_dropout,
            self.norm_layer,
        )
        zeros = dict(weight_init=init.zeros_(), bias_init=init.zeros_())
        if self.representation_size is None:
            heads = OrderedDict(head=Linear(hidden, self.num_classes, **zeros))
        else:
            size = self.representation_size
            heads = OrderedDict(
                pre_logits=Linear(
                    hidden,
                    size,
                    weight_init=init.trunc_normal_(std=math.sqrt(1 / hidden)),
                    bias_init=init.zeros_(),
                ),
                act=Tanh(),
                head=Linear(size, self.num_classes, **zeros),
            )
        self.heads = Sequential(heads)

    def _process_input(self, x: jax.Array) -> jax.Array:
        """(N, 3, H, W) images -> (N, (H / p) * (W / p), hidden_dim) patch tokens."""
        if x.ndim != 4:
            raise ValueError(
                f"VisionTransformer: expected (N, C, H, W) images, got shape {tuple(x.shape)}"
            )
        n, _, h, w = x.shape
        for what, size in (("height", h), ("width", w)):
            if size != self.image_size:
                raise ValueError(f"Wrong image {what}! Expected {self.image_size} but got {size}!")
        p = self.patch_size
        x = self.conv_proj(x)  # (N, hidden_dim, H / p, W / p)
        x = x.reshape(n, self.hidden_dim, (h // p) * (w // p))  # (N, hidden_dim, S - 1)
        return jnp.transpose(x, (0, 2, 1))  # (N, S - 1, hidden_dim)

    def __call__(self, x: jax.Array) -> jax.Array:
        x = self._process_input(x)
        n = x.shape[0]
        cls = jnp.broadcast_to(self.class_token, (n, 1, self.hidden_dim)).astype(x.dtype)
        x = self.encoder(jnp.concatenate([cls, x], axis=1))  # (N, S, hidden_dim)
        return self.heads(x[:, 0])  # the class token's features

    @linen.nowrap
    def example_input(self, batch_size: int = 1) -> jax.ShapeDtypeStruct:
        """The shape and dtype of an input batch: (batch_size, 3, image_size,
        image_size) float32."""
        return jax.ShapeDtypeStruct((batch_size, 3, self.image_size, self.image_size), jnp.float32)


def _vision_transformer(
    patch_size: int,
    num_layers: int,
    num_heads: int,
    hidden_dim: int,
    mlp_dim: int,
    weights: Any,
    kwargs: dict[str, Any],
) -> VisionTransformer:
    no_pretrained_weights(weights)
    kwargs = dict(kwargs)
    image_size = kwargs.pop("image_size", 224)
    return VisionTransformer(
        image_size=image_size,
        patch_size=patch_size,
        num_layers=num_layers,
        num_heads=num_heads,
        hidden_dim=hidden_dim,
        mlp_dim=mlp_dim,
        **kwargs,
    )


@register_model
def vit_b_16(*, weights: Any = None, progress: bool = True, **kwargs: Any) -> VisionTransformer:
    """ViT-B/16 (torchvision's builder): 16x16 patches, 12 layers, 12 heads, hidden 768,
    MLP 3072.

    Args:
        weights: must be None: jaxnn downloads nothing (convert torchvision's weights
            with ``jaxnn-compat convert`` or ``jaxnn.compat.torch_to_flax``).
        progress: accepted for torchvision's signature; nothing is downloaded.
        **kwargs: ``image_size`` (default 224) and :class:`VisionTransformer`'s other
            arguments but the sizes the builder fixes, e.g. ``num_classes=10``.
    """
    return _vision_transformer(16, 12, 12, 768, 3072, weights, kwargs)


@register_model
def vit_b_32(*, weights: Any = None, progress: bool = True, **kwargs: Any) -> VisionTransformer:
    """ViT-B/32 (torchvision's builder): 32x32 patches, 12 layers, 12 heads, hidden 768,
    MLP 3072.
    Args: as :func:`vit_b_16`."""
    return _vision_transformer(32, 12, 12, 768, 3072, weights, kwargs)


@register_model
def vit_l_16(*, weights: Any = None, progress: bool = True, **kwargs: Any) -> VisionTransformer:
    """ViT-L/16 (torchvision's builder): 16x16 patches, 24 layers, 16 heads, hidden 1024,
    MLP 4096.
    Args: as :func:`vit_b_16`."""
    return _vision_transformer(16, 24, 16, 1024, 4096, weights, kwargs)


@register_model
def vit_l_32(*, weights: Any = None, progress: bool = True, **kwargs: Any) -> VisionTransformer:
    """ViT-L/32 (torchvision's builder): 32x32 patches, 24 layers, 16 heads, hidden 1024,
    MLP 4096.
    Args: as :func:`vit_b_16`."""
    return _vision_transformer(32, 24, 16, 1024, 4096, weights, kwargs)


@register_model
def vit_h_14(*, weights: Any = None, progress: bool = True, **kwargs: Any) -> VisionTransformer:
    """ViT-H/14 (torchvision's builder): 14x14 patches, 32 layers, 16 heads, hidden 1280,
    MLP 5120.
    Args: as :func:`vit_b_16`."""
    return _vision_transformer(14, 32, 16, 1280, 5120, weights, kwargs)
