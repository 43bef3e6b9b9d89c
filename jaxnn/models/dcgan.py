"""The PyTorch DCGAN example's Generator and Discriminator (Radford et al.), with its
attribute names (``main.0.weight`` ...), so its state_dicts load both ways."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxnn.layers import (
    BatchNorm2d,
    Conv2d,
    ConvTranspose2d,
    LeakyReLU,
    Module,
    ReLU,
    Sequential,
    Sigmoid,
    Tanh,
)
from jaxnn.models.builders import register_model

__all__ = ["DCGANDiscriminator", "DCGANGenerator"]


def _stages(image_size: int, who: str) -> int:
    """Stride-2 stages between 4x4 and the image: 4 for 64x64 (the example's), 3 for 32x32."""
    if image_size not in (32, 64):
        raise ValueError(f"{who}: image_size must be 32 or 64, got {image_size}")
    return 4 if image_size == 64 else 3


@register_model
class DCGANGenerator(Module):
    """z (N, nz, 1, 1) -> image (N, nc, image_size, image_size) in [-1, 1]: transposed
    convolutions 4x4 with BatchNorm and ReLU, Tanh at the end; the PyTorch DCGAN
    example's ``Generator``, whose layers are ``main``.

    Args:
        nz: size of the latent vector. Default: 100.
        ngf: feature maps of the last hidden layer (the first has ngf * 8 at 64x64,
            ngf * 4 at 32x32). Default: 64.
        nc: channels of the image. Default: 3.
        image_size: 64 (the example's five layers) or 32 (one stride-2 stage fewer).

    The example initialises the weights with its ``weights_init`` (convolutions
    N(0, 0.02), BatchNorm weights N(1, 0.02) and biases 0); see examples/dcgan.py.
    """

    nz: int = 100
    ngf: int = 64
    nc: int = 3
    image_size: int = 64

    def setup(self) -> None:
        stages = _stages(self.image_size, type(self).__name__)
        width = self.ngf * 2 ** (stages - 1)
        layers = [
            ConvTranspose2d(self.nz, width, 4, 1, 0, bias=False),
            BatchNorm2d(width),
            ReLU(True),
        ]
        for _ in range(stages - 1):  # 4 -> 8 -> ... -> image_size / 2
            layers += [
                ConvTranspose2d(width, width // 2, 4, 2, 1, bias=False),
                BatchNorm2d(width // 2),
                ReLU(True),
            ]
            width //= 2
        self.main = Sequential(
            *layers, ConvTranspose2d(width, self.nc, 4, 2, 1, bias=False), Tanh()
        )

    def __call__(self, input: jax.Array) -> jax.Array:
        return self.main(input)

    def example_input(self, batch_size: int = 1) -> jax.ShapeDtypeStruct:
        """The shape and dtype of a latent batch (for init, conversion and export)."""
        return jax.ShapeDtypeStruct((batch_size, self.nz, 1, 1), jnp.float32)


@register_model
class DCGANDiscriminator(Module):
    """image (N, nc, image_size, image_size) -> probability (N, 1, 1, 1) that it is real:
    strided 4x4 convolutions with BatchNorm and LeakyReLU(0.2), Sigmoid at the end; the
    PyTorch DCGAN example's ``Discriminator``, whose layers are ``main``.

    Args:
        nc: channels of the image. Default: 3.
        ndf: feature maps of the first layer. Default: 64.
        image_size: 64 (the example's five layers) or 32 (one stride-2 stage fewer).
    """

    nc: int = 3
    ndf: int = 64
    image_size: int = 64

    def setup(self) -> None:
        stages = _stages(self.image_size, type(self).__name__)
        width = self.ndf
        layers = [Conv2d(self.nc, width, 4, 2, 1, bias=False), LeakyReLU(0.2, inplace=True)]
        for _ in range(stages - 1):
            layers += [
                Conv2d(width, width * 2, 4, 2, 1, bias=False),
                BatchNorm2d(width * 2),
                LeakyReLU(0.2, inplace=True),
            ]
            width *= 2
        self.main = Sequential(*layers, Conv2d(width, 1, 4, 1, 0, bias=False), Sigmoid())

    def __call__(self, input: jax.Array) -> jax.Array:
        return self.main(input)

    def example_input(self, batch_size: int = 1) -> jax.ShapeDtypeStruct:
        """The shape and dtype of an image batch."""
        return jax.ShapeDtypeStruct(
            (batch_size, self.nc, self.image_size, self.image_size), jnp.float32
        )
