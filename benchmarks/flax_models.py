"""Raw Flax (linen, NHWC) twins of ``jaxnn.models``, written as a Flax user would.

Same architecture and parameter count as the jaxnn model of the same name; inputs are
NHWC (images) or flat features. ``train`` switches BatchNorm to batch statistics and
enables Dropout (which then needs a 'dropout' rng).
"""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp
from flax import linen as nn

__all__ = ["FLAX_MODELS"]


class SimpleCNN(nn.Module):
    """conv5-pool-conv5-pool-fc120-fc84-fc10 on (N, 32, 32, 1)."""

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        pool = lambda y: nn.max_pool(y, (2, 2), (2, 2))  # noqa: E731
        x = pool(nn.relu(nn.Conv(6, (5, 5), padding="VALID")(x)))  # (N, 14, 14, 6)
        x = pool(nn.relu(nn.Conv(16, (5, 5), padding="VALID")(x)))  # (N, 5, 5, 16)
        x = x.reshape(x.shape[0], -1)  # (N, 400)
        x = nn.relu(nn.Dense(120)(x))
        x = nn.relu(nn.Dense(84)(x))
        return nn.Dense(10)(x)


LeNet = SimpleCNN  # the channel count comes from the input


class CIFAR10Net(nn.Module):
    """Three conv5x5 (padding 2) + pool, then fc 1024->64->10, no activations."""

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        for features in (32, 32, 64):
            x = nn.Conv(features, (5, 5), padding=2)(x)
            x = nn.max_pool(x, (2, 2), (2, 2))
        x = x.reshape(x.shape[0], -1)  # (N, 1024)
        return nn.Dense(10)(nn.Dense(64)(x))


class NeuralNetwork(nn.Module):
    """784->512->512->10 MLP with ReLU after every layer."""

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        x = x.reshape(x.shape[0], -1)  # (N, 784)
        for features in (512, 512, 10):
            x = nn.relu(nn.Dense(features)(x))
        return x


class Classifier(nn.Module):
    """Dense followed by softmax."""

    num_classes: int

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        return nn.softmax(nn.Dense(self.num_classes)(x))


class Regressor(nn.Module):
    """One Dense layer."""

    num_outputs: int

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        return nn.Dense(self.num_outputs)(x)


def _bn(train: bool) -> nn.BatchNorm:
    return nn.BatchNorm(use_running_average=not train, momentum=0.9, epsilon=1e-5)


class ResidualBlock(nn.Module):
    """conv3-bn-relu-conv3-bn + (projected) shortcut, relu."""

    features: int
    stride: int = 1

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        s = (self.stride, self.stride)
        out = nn.Conv(self.features, (3, 3), s, padding=1, use_bias=False)(x)
        out = nn.relu(_bn(train)(out))
        out = nn.Conv(self.features, (3, 3), padding=1, use_bias=False)(out)
        out = _bn(train)(out)
        if self.stride != 1 or x.shape[-1] != self.features:
            x = nn.Conv(self.features, (1, 1), s, use_bias=False)(x)
            x = _bn(train)(x)
        return nn.relu(out + x)


class ResNetCIFAR(nn.Module):
    """He et al.'s CIFAR ResNet (ResNet-20 by default)."""

    num_blocks: Sequence[int] = (3, 3, 3)
    widths: Sequence[int] = (16, 32, 64)
    num_classes: int = 10

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        x = nn.Conv(self.widths[0], (3, 3), padding=1, use_bias=False)(x)
        x = nn.relu(_bn(train)(x))
        for i, (blocks, width) in enumerate(zip(self.num_blocks, self.widths)):
            for j in range(blocks):
                x = ResidualBlock(width, 2 if i > 0 and j == 0 else 1)(x, train)
        x = jnp.mean(x, axis=(1, 2))  # (N, C)
        return nn.Dense(self.num_classes)(x)


class ResNet18(nn.Module):
    """ResNet-18: 7x7/2 stem, 3x3/2 max pool, four stages of two basic blocks."""

    num_classes: int = 1000

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        x = nn.Conv(64, (7, 7), (2, 2), padding=3, use_bias=False)(x)
        x = nn.relu(_bn(train)(x))
        x = nn.max_pool(x, (3, 3), (2, 2), padding=((1, 1), (1, 1)))
        for i, width in enumerate((64, 128, 256, 512)):
            x = ResidualBlock(width, 2 if i > 0 else 1)(x, train)
            x = ResidualBlock(width)(x, train)
        x = jnp.mean(x, axis=(1, 2))  # (N, 512)
        return nn.Dense(self.num_classes)(x)


class VGG16(nn.Module):
    """VGG-16 (configuration D) with a 7x7 adaptive average pool before the classifier."""

    num_classes: int = 1000

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        for stage in ((64, 64), (128, 128), (256,) * 3, (512,) * 3, (512,) * 3):
            for features in stage:
                x = nn.relu(nn.Conv(features, (3, 3), padding=1)(x))
            x = nn.max_pool(x, (2, 2), (2, 2))
        n, h, w, c = x.shape
        if (h, w) != (7, 7):  # adaptive pooling; for 1x1 maps (32x32 input) a broadcast
            if h != 1 or w != 1:
                raise ValueError(f"VGG16 twin: adaptive pool supports 1x1 or 7x7 maps, got {h}x{w}")
            x = jnp.broadcast_to(x, (n, 7, 7, c))
        # torch flattens (C, H, W); the twin keeps its own order (same parameter count)
        x = x.reshape(n, -1)  # (N, 25088)
        for _ in range(2):
            x = nn.Dropout(0.5, deterministic=not train)(nn.relu(nn.Dense(4096)(x)))
        return nn.Dense(self.num_classes)(x)


class DCGANGenerator(nn.Module):
    """The PyTorch DCGAN example's generator in Flax (NHWC): ConvTranspose 4x4 layers with
    BatchNorm and ReLU, Tanh at the end; z is (N, 1, 1, nz)."""

    ngf: int = 64
    nc: int = 3
    image_size: int = 64

    @nn.compact
    def __call__(self, z: jax.Array, train: bool = False) -> jax.Array:
        stages = 4 if self.image_size == 64 else 3
        width = self.ngf * 2 ** (stages - 1)
        # torch's ConvTranspose2d(k=4, s, p) pads the dilated input by k - 1 - p per side
        x = nn.ConvTranspose(width, (4, 4), (1, 1), padding=3, use_bias=False)(z)  # (N, 4, 4, C)
        x = nn.relu(_bn(train)(x))
        for _ in range(stages - 1):
            width //= 2
            x = nn.ConvTranspose(width, (4, 4), (2, 2), padding=2, use_bias=False)(x)
            x = nn.relu(_bn(train)(x))
        x = nn.ConvTranspose(self.nc, (4, 4), (2, 2), padding=2, use_bias=False)(x)
        return jnp.tanh(x)  # (N, image_size, image_size, nc)


class Bottleneck(nn.Module):
    """ResNet v1.5's bottleneck: conv1x1 - bn - relu - conv3x3 (strided) - bn - relu -
    conv1x1 (4x planes) - bn, plus the (projected) shortcut, relu."""

    planes: int
    stride: int = 1

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        s = (self.stride, self.stride)
        out = nn.relu(_bn(train)(nn.Conv(self.planes, (1, 1), use_bias=False)(x)))
        out = nn.Conv(self.planes, (3, 3), s, padding=1, use_bias=False)(out)
        out = nn.relu(_bn(train)(out))
        out = _bn(train)(nn.Conv(4 * self.planes, (1, 1), use_bias=False)(out))
        if self.stride != 1 or x.shape[-1] != 4 * self.planes:
            x = _bn(train)(nn.Conv(4 * self.planes, (1, 1), s, use_bias=False)(x))
        return nn.relu(out + x)


class ResNet50(nn.Module):
    """ResNet-50: 7x7/2 stem, 3x3/2 max pool, stages of (3, 4, 6, 3) bottlenecks."""

    num_classes: int = 1000

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        x = nn.Conv(64, (7, 7), (2, 2), padding=3, use_bias=False)(x)
        x = nn.relu(_bn(train)(x))
        x = nn.max_pool(x, (3, 3), (2, 2), padding=((1, 1), (1, 1)))
        for i, (planes, blocks) in enumerate(zip((64, 128, 256, 512), (3, 4, 6, 3))):
            for j in range(blocks):
                x = Bottleneck(planes, 2 if i > 0 and j == 0 else 1)(x, train)
        x = jnp.mean(x, axis=(1, 2))  # (N, 2048)
        return nn.Dense(self.num_classes)(x)


class InvertedResidual(nn.Module):
    """MobileNet V2's block: conv1x1 expansion (unless ``expand`` is 1) - bn - relu6 -
    depthwise conv3x3 - bn - relu6 - conv1x1 - bn, plus the input where shapes allow."""

    features: int
    stride: int
    expand: int

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        hidden = x.shape[-1] * self.expand
        y = x
        if self.expand != 1:
            y = nn.relu6(_bn(train)(nn.Conv(hidden, (1, 1), use_bias=False)(y)))
        s = (self.stride, self.stride)
        y = nn.Conv(hidden, (3, 3), s, padding=1, feature_group_count=hidden, use_bias=False)(y)
        y = nn.relu6(_bn(train)(y))
        y = _bn(train)(nn.Conv(self.features, (1, 1), use_bias=False)(y))
        return x + y if self.stride == 1 and x.shape[-1] == self.features else y


class MobileNetV2(nn.Module):
    """MobileNet V2: conv3x3/2, 17 inverted residual blocks, conv1x1 to 1280, global
    average pool, dropout 0.2, Dense."""

    num_classes: int = 1000

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        x = nn.Conv(32, (3, 3), (2, 2), padding=1, use_bias=False)(x)
        x = nn.relu6(_bn(train)(x))
        setting = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2))
        setting += ((6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1))
        for t, c, n, s in setting:
            for i in range(n):
                x = InvertedResidual(c, s if i == 0 else 1, t)(x, train)
        x = nn.relu6(_bn(train)(nn.Conv(1280, (1, 1), use_bias=False)(x)))
        x = jnp.mean(x, axis=(1, 2))  # (N, 1280)
        x = nn.Dropout(0.2, deterministic=not train)(x)
        return nn.Dense(self.num_classes)(x)


FLAX_MODELS: dict[str, type[nn.Module]] = {
    "SimpleCNN": SimpleCNN,
    "LeNet": LeNet,
    "CIFAR10Net": CIFAR10Net,
    "NeuralNetwork": NeuralNetwork,
    "Classifier": Classifier,
    "Regressor": Regressor,
    "ResNetCIFAR": ResNetCIFAR,
    "ResNet18": ResNet18,
    "VGG16": VGG16,
    "DCGANGenerator": DCGANGenerator,
}
