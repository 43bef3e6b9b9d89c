"""jaxnn: torch.nn's surface and numerics on JAX.

``import jaxnn as nn`` gives the layers (Flax linen modules with torch's constructor
signatures, NCHW layouts and numerics) and the loss classes; ``jaxnn.functional`` is
``torch.nn.functional``; ``jaxnn.init`` is ``torch.nn.init``; ``jaxnn.optim`` is
``torch.optim`` as optax transformations and ``jaxnn.lr_scheduler`` its schedulers;
``jaxnn.utils`` is ``torch.nn.utils`` (gradient clipping);
``jaxnn.ops`` is torchvision.ops' building blocks;
``jaxnn.save`` / ``jaxnn.load`` are ``torch.save(model.state_dict(), f)`` /
``torch.load(f)``.

Public names are listed once, in the ``__all__`` of the module that defines them:
``nn.X`` is every name of ``jaxnn.layers`` and every class of ``jaxnn.losses``. They are
imported when first used (PEP 562), so a tool that needs one part -- ``jaxnn-compat
inspect`` needs jaxnn.checkpoint, not Flax or optax -- does not pay for the rest.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from jaxnn import (  # noqa: F401
        checkpoint,
        functional,
        init,
        lr_scheduler,
        ops,
        optim,
        state_dict,
        utils,
    )
    from jaxnn.checkpoint import load, save  # noqa: F401
    from jaxnn.layers import *  # noqa: F403
    from jaxnn.losses import *  # noqa: F403

__version__ = "0.1.0.dev0"

_SUBMODULES = (
    "checkpoint",
    "functional",
    "init",
    "lr_scheduler",
    "ops",
    "optim",
    "state_dict",
    "utils",
)
_FROM_CHECKPOINT = ("load", "save")


def _namespace() -> dict[str, Any]:
    """nn.X: every public name of jaxnn.layers and every class of jaxnn.losses."""
    layers = importlib.import_module("jaxnn.layers")
    losses = importlib.import_module("jaxnn.losses")
    names = {name: getattr(layers, name) for name in layers.__all__}
    for name in losses.__all__:
        value = getattr(losses, name)
        if isinstance(value, type):
            names[name] = value
    return names


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        return importlib.import_module(f"jaxnn.{name}")
    if name in _FROM_CHECKPOINT:
        value = getattr(importlib.import_module("jaxnn.checkpoint"), name)
    elif name == "__all__":
        value = sorted([*_namespace(), *_SUBMODULES, *_FROM_CHECKPOINT])
    else:
        namespace = _namespace()
        if name not in namespace:
            raise AttributeError(f"module 'jaxnn' has no attribute {name!r}")
        value = namespace[name]
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__getattr__("__all__")))
