"""torch.nn's layers as Flax linen modules (NCHW, torch's numerics)."""

from jaxnn.layers.activation import (
    ELU,
    GELU,
    LeakyReLU,
    LogSoftmax,
    ReLU,
    Sigmoid,
    SiLU,
    Softmax,
    Tanh,
)
from jaxnn.layers.batchnorm import BatchNorm1d, BatchNorm2d
from jaxnn.layers.container import Sequential
from jaxnn.layers.conv import Conv2d
from jaxnn.layers.dropout import Dropout
from jaxnn.layers.flatten import Flatten, Unflatten
from jaxnn.layers.linear import Identity, Linear
from jaxnn.layers.module import Module
from jaxnn.layers.pooling import AdaptiveAvgPool2d, AdaptiveMaxPool2d, AvgPool2d, MaxPool2d

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
]
