"""The reference documents' models, with torch's attribute names (torchvision's for
ResNet-18 and VGG16), so ``jaxnn.compat.torch_to_flax`` / ``flax_to_torch`` move their
weights to and from the plain-PyTorch twins in ``jaxnn.compat.torch_models``.

torchvision's classification models are here too, under torchvision's builder names
(``resnet50()``, ``vgg16_bn(num_classes=10)``, ...) with its arguments, module names and
initialisation, so torchvision state_dicts load as they are (tested against torchvision's
own code). Every model has ``example_input(batch_size=1)``, the shape and dtype of an
input batch, and is found by name with :func:`get_model` / :func:`list_models`, as in
torchvision.
"""

from __future__ import annotations

import importlib
from typing import Any

from flax import linen

from jaxnn.models import builders
from jaxnn.models.alexnet import *  # noqa: F403
from jaxnn.models.cifar10 import *  # noqa: F403
from jaxnn.models.convnext import *  # noqa: F403
from jaxnn.models.dcgan import *  # noqa: F403
from jaxnn.models.densenet import *  # noqa: F403
from jaxnn.models.efficientnet import *  # noqa: F403
from jaxnn.models.gpt import *  # noqa: F403
from jaxnn.models.heads import *  # noqa: F403
from jaxnn.models.lenet import *  # noqa: F403
from jaxnn.models.mlp import *  # noqa: F403
from jaxnn.models.mobilenetv2 import *  # noqa: F403
from jaxnn.models.mobilenetv3 import *  # noqa: F403
from jaxnn.models.regnet import *  # noqa: F403
from jaxnn.models.residual import *  # noqa: F403
from jaxnn.models.resnet import *  # noqa: F403
from jaxnn.models.shufflenet import *  # noqa: F403
from jaxnn.models.squeezenet import *  # noqa: F403
from jaxnn.models.vgg import *  # noqa: F403
from jaxnn.models.vision_transformer import *  # noqa: F403
from jaxnn.models.word_language import *  # noqa: F403

# one file per model family; each lists its public names (classes and torchvision's
# builder names) in its __all__
FAMILIES = tuple(
    importlib.import_module(f"jaxnn.models.{family}")
    for family in (
        "alexnet",
        "cifar10",
        "convnext",
        "dcgan",
        "densenet",
        "efficientnet",
        "gpt",
        "heads",
        "lenet",
        "mlp",
        "mobilenetv2",
        "mobilenetv3",
        "regnet",
        "residual",
        "resnet",
        "shufflenet",
        "squeezenet",
        "vgg",
        "vision_transformer",
        "word_language",
    )
)

__all__ = [
    *sorted(name for family in FAMILIES for name in family.__all__),
    "get_model",
    "list_models",
]


def list_models() -> list[str]:
    """The names :func:`get_model` accepts, sorted (torchvision's ``list_models``): the
    documents' model classes and torchvision's builder names."""
    return sorted(builders.MODELS)


def get_model(name: str, **kwargs: Any) -> linen.Module:
    """The model ``name`` built with ``kwargs`` (torchvision's ``get_model``), e.g.
    ``get_model("LeNet")`` or ``get_model("Classifier", num_inputs=4, num_classes=3)``.

    Args:
        name: a name :func:`list_models` lists: a model class or a torchvision builder.
        **kwargs: the class's or builder's arguments.

    Raises:
        ValueError: an unknown name (the message lists the known ones).
        TypeError: arguments the model does not take.
    """
    if name not in builders.MODELS:
        raise ValueError(f"unknown model {name!r}; known: {', '.join(list_models())}")
    return builders.MODELS[name](**kwargs)
