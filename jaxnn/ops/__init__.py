"""torchvision.ops' building blocks with torchvision's arguments, defaults and child
names, so torchvision state_dicts line up: ``from jaxnn import ops``;
``ops.Conv2dNormActivation(3, 16, stride=2)`` has children "0", "1", "2"."""

from jaxnn.ops.misc import (
    MLP,
    Conv2dNormActivation,
    FrozenBatchNorm2d,
    Permute,
    SqueezeExcitation,
)
from jaxnn.ops.stochastic_depth import StochasticDepth, stochastic_depth

__all__ = [
    "MLP",
    "Conv2dNormActivation",
    "FrozenBatchNorm2d",
    "Permute",
    "SqueezeExcitation",
    "StochasticDepth",
    "stochastic_depth",
]
