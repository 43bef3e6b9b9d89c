"""jaxnn: torch.nn's surface and numerics on JAX.

``import jaxnn as nn`` gives the layers (Flax linen modules with torch's constructor
signatures, NCHW layouts and numerics) and the losses; ``jaxnn.functional`` is
``torch.nn.functional``; ``jaxnn.init`` is ``torch.nn.init``; ``jaxnn.optim`` is
``torch.optim`` as optax transformations; ``jaxnn.save`` / ``jaxnn.load`` are
``torch.save(model.state_dict())`` / ``torch.load``.
"""

from jaxnn import checkpoint, functional, init, optim
from jaxnn.checkpoint import load, save
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
from jaxnn.losses import (
    BCELoss,
    BCEWithLogitsLoss,
    CrossEntropyLoss,
    HuberLoss,
    KLDivLoss,
    L1Loss,
    MSELoss,
    NLLLoss,
    SmoothL1Loss,
)

__version__ = "0.1.0.dev0"

__all__ = [
    "ELU",
    "GELU",
    "AdaptiveAvgPool2d",
    "AdaptiveMaxPool2d",
    "AvgPool2d",
    "BCELoss",
    "BCEWithLogitsLoss",
    "BatchNorm1d",
    "BatchNorm2d",
    "Conv2d",
    "CrossEntropyLoss",
    "Dropout",
    "Flatten",
    "HuberLoss",
    "Identity",
    "KLDivLoss",
    "L1Loss",
    "LeakyReLU",
    "Linear",
    "LogSoftmax",
    "MSELoss",
    "MaxPool2d",
    "Module",
    "NLLLoss",
    "ReLU",
    "Sequential",
    "SiLU",
    "Sigmoid",
    "SmoothL1Loss",
    "Softmax",
    "Tanh",
    "Unflatten",
    "checkpoint",
    "functional",
    "init",
    "load",
    "optim",
    "save",
]
