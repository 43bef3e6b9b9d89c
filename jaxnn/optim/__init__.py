"""torch.optim as optax transformations: ``from jaxnn import optim; optim.SGD(0.1)``.

The optimizer catalogue is :mod:`jaxnn.optim.optimizers` (each torch optimizer a chain
of small transforms); ``LBFGS``, which evaluates the loss itself, is
:mod:`jaxnn.optim.lbfgs`. :mod:`jaxnn.lr_scheduler`'s schedulers are importable from
here too (``optim.StepLR``), and ``jaxnn.optim.swa_utils`` is torch.optim.swa_utils'
twin (AveragedModel, SWALR, update_bn), imported when first used.
"""

from __future__ import annotations

import importlib
from typing import Any

from jaxnn.optim import lbfgs, optimizers
from jaxnn.optim.lbfgs import *  # noqa: F403
from jaxnn.optim.optimizers import *  # noqa: F403

__all__ = [*optimizers.__all__, *lbfgs.__all__]


def __getattr__(name: str) -> Any:
    # swa_utils needs Flax (update_bn runs the model); the optimizers need only optax
    if name == "swa_utils":
        return importlib.import_module("jaxnn.optim.swa_utils")
    raise AttributeError(f"module 'jaxnn.optim' has no attribute {name!r}")
