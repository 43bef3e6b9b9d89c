"""jaxnn: torch.nn's surface and numerics on JAX.

``import jaxnn as nn`` gives the layers (Flax linen modules with torch's constructor
signatures, NCHW layouts and numerics) and the losses; ``jaxnn.functional`` is
``torch.nn.functional``; ``jaxnn.init`` is ``torch.nn.init``; ``jaxnn.optim`` is
``torch.optim`` as optax transformations.
"""

from jaxnn import functional, init
from jaxnn.layers import (
    ELU,
    GELU,
    AdaptiveAvgPool2d,
    AdaptiveMaxPool2d,
    AvgPool2d,
    BatchNorm1d,
    BatchNorm2d,
    Conv2d,
    Dropout,
    Flatten,
    Identity,
    LeakyReLU,
    Linear,
    LogSoftmax,
    MaxPool2d,
    Module,
    ReLU,
    Sequential,
    Sigmoid,
    SiLU,
    Softmax,
    Tanh,
    Unflatten,
)

__version__ = "0.1.0.dev0"

__all__ = [
    "ELU",
    "GELU",
    "AdaptiveAvgPool2d",
    "AdaptiveMaxPool2d",
    "AvgPool2d",
    "BatchNorm1d",
    "BatchNorm2d",
    "Conv2d",
    "Dropout",
    "Flatten",
    "Identity",
    "LeakyReLU",
    "Linear",
    "LogSoftmax",
    "MaxPool2d",
    "Module",
    "ReLU",
    "Sequential",
    "SiLU",
    "Sigmoid",
    "Softmax",
    "Tanh",
    "Unflatten",
    "functional",
    "init",
]
