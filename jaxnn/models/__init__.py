"""The reference documents' models, with torch's attribute names (torchvision's for
ResNet-18 and VGG16), so ``jaxnn.compat.torch_to_flax`` / ``flax_to_torch`` move their
weights to and from the plain-PyTorch twins in ``jaxnn.compat.torch_models``.

Every model has ``example_input(batch_size=1)``, the shape and dtype of an input batch,
and is found by name with :func:`get_model` / :func:`list_models`, as in torchvision.
"""

from __future__ import annotations

from typing import Any

from flax import linen

from jaxnn.models.cifar10 import CIFAR10Net
from jaxnn.models.gpt import GPT, GPTConfig
from jaxnn.models.heads import Classifier, Regressor
from jaxnn.models.lenet import LeNet, SimpleCNN
from jaxnn.models.mlp import NeuralNetwork
from jaxnn.models.resnet import BasicBlock, ResidualBlock, ResNet18, ResNetCIFAR
from jaxnn.models.vgg import VGG16
from jaxnn.models.word_language import RNNModel, TransformerModel

__all__ = [
    "GPT",
    "VGG16",
    "BasicBlock",
    "CIFAR10Net",
    "Classifier",
    "GPTConfig",
    "LeNet",
    "NeuralNetwork",
    "RNNModel",
    "Regressor",
    "ResNet18",
    "ResNetCIFAR",
    "ResidualBlock",
    "SimpleCNN",
    "TransformerModel",
    "get_model",
    "list_models",
]


def _registry() -> dict[str, Any]:
    """Model name -> builder (a Module class or a function returning a module); a
    configuration class such as GPTConfig is not a model."""
    return {
        name: value
        for name in __all__
        if name not in ("get_model", "list_models")
        and not (isinstance(value := globals()[name], type) and not issubclass(value, linen.Module))
    }


def list_models() -> list[str]:
    """The names :func:`get_model` accepts, sorted (torchvision's ``list_models``)."""
    return sorted(_registry())


def get_model(name: str, **kwargs: Any) -> linen.Module:
    """The model ``name`` built with ``kwargs`` (torchvision's ``get_model``), e.g.
    ``get_model("LeNet")`` or ``get_model("Classifier", num_inputs=4, num_classes=3)``.

    Raises:
        ValueError: an unknown name (the message lists the known ones).
        TypeError: arguments the model does not take.
    """
    builders = _registry()
    if name not in builders:
        raise ValueError(f"unknown model {name!r}; known: {', '.join(sorted(builders))}")
    return builders[name](**kwargs)
