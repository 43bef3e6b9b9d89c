"""The reference documents' models, with torch's attribute names (torchvision's for
ResNet-18 and VGG16), so ``jaxnn.compat.torch_to_flax`` / ``flax_to_torch`` move their
weights to and from the plain-PyTorch twins in ``jaxnn.compat.torch_models``."""

from jaxnn.models.cifar10 import CIFAR10Net
from jaxnn.models.heads import Classifier, Regressor
from jaxnn.models.lenet import LeNet, SimpleCNN
from jaxnn.models.mlp import NeuralNetwork
from jaxnn.models.resnet import BasicBlock, ResidualBlock, ResNet18, ResNetCIFAR
from jaxnn.models.vgg import VGG16

__all__ = [
    "VGG16",
    "BasicBlock",
    "CIFAR10Net",
    "Classifier",
    "LeNet",
    "NeuralNetwork",
    "Regressor",
    "ResNet18",
    "ResNetCIFAR",
    "ResidualBlock",
    "SimpleCNN",
]
