"""jaxnn: torch.nn's surface and numerics on JAX.

``import jaxnn as nn`` gives the layers (Flax linen modules with torch's constructor
signatures, NCHW layouts and numerics) and the losses; ``jaxnn.functional`` is
``torch.nn.functional``; ``jaxnn.init`` is ``torch.nn.init``; ``jaxnn.optim`` is
``torch.optim`` as optax transformations; ``jaxnn.save`` / ``jaxnn.load`` are
``torch.save(model.state_dict())`` / ``torch.load``.
"""

import importlib
from typing import TYPE_CHECKING

# The public names are imported when first used (PEP 562), so that a tool needing one part
# -- ``jaxnn-compat convert`` needs jaxnn.checkpoint, not the layers, Flax or optax -- does
# not pay for importing the rest. ``import jaxnn as nn; nn.Linear`` works as before.
_SUBMODULES = ("checkpoint", "functional", "init", "optim")
_LAZY = {
    "load": "jaxnn.checkpoint",
    "save": "jaxnn.checkpoint",
    **dict.fromkeys(
        (
            "ELU GELU AdaptiveAvgPool2d AdaptiveMaxPool2d AvgPool2d BatchNorm1d BatchNorm2d "
            "Conv2d Dropout Flatten Identity LeakyReLU Linear LogSoftmax MaxPool2d Module ReLU "
            "Sequential Sigmoid SiLU Softmax Tanh Unflatten"
        ).split(),
        "jaxnn.layers",
    ),
    **dict.fromkeys(
        (
            "BCELoss BCEWithLogitsLoss CrossEntropyLoss HuberLoss KLDivLoss L1Loss MSELoss "
            "NLLLoss SmoothL1Loss"
        ).split(),
        "jaxnn.losses",
    ),
}

if TYPE_CHECKING:
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


def __getattr__(name: str):
    if name in _SUBMODULES:
        return importlib.import_module(f"jaxnn.{name}")
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'jaxnn' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
