"""torchvision's own model code, for comparing jaxnn's model zoo with it.

``import torchvision`` loads torchvision's compiled operators (``nms`` and friends), which
fail to register beside a torch build they were not compiled against ("operator
torchvision::nms does not exist"). The model definitions themselves are plain Python on
top of ``torch.nn``: where the normal import fails, :func:`models` imports
``torchvision.models`` from the installed package without running the package's
``__init__`` (and so without the compiled operators, which no classification model uses).
"""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import sys
import types
from typing import Any

__all__ = ["get_model", "models"]


def models() -> types.ModuleType:
    """``torchvision.models``: normally imported, or without torchvision's compiled
    operators where those do not load.

    Raises:
        ModuleNotFoundError: torchvision is not installed.
    """
    try:
        return importlib.import_module("torchvision.models")
    except RuntimeError as e:  # the compiled operators do not match this torch
        if "torchvision::" not in str(e):
            raise
    spec = importlib.util.find_spec("torchvision")
    for name in [n for n in sys.modules if n == "torchvision" or n.startswith("torchvision.")]:
        del sys.modules[name]  # what the failed import left half-initialised
    package = types.ModuleType("torchvision")
    package.__path__ = list(spec.submodule_search_locations)
    package.__spec__ = spec
    package.__file__ = spec.origin
    package.__version__ = importlib.metadata.version("torchvision")
    sys.modules["torchvision"] = package
    return importlib.import_module("torchvision.models")


def get_model(name: str, **kwargs: Any) -> Any:
    """torchvision's ``get_model(name, **kwargs)``: a ``torch.nn.Module`` built by
    torchvision's own code (no pretrained weights).

    Args:
        name: torchvision's builder name, e.g. ``'resnet50'``.
        **kwargs: the builder's arguments, e.g. ``num_classes=10``; ``weights`` is
            torchvision's own (given one, torchvision downloads it).
    """
    return models().get_model(name, **kwargs)
