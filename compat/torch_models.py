"""The jaxnn.models networks written in plain PyTorch: the reference side of every
parity check. Same class names, constructor arguments and attribute names as
``jaxnn.models``, so ``flax_to_torch(variables)`` loads with ``strict=True``.

VGG16 and ResNet18 are written by hand with torchvision's module names and
initialisation (torchvision is not a dependency), so a torchvision state_dict loads
into them, and into the jaxnn models, unchanged. The sequence models -- nanoGPT's GPT and
the word-language example's RNNModel and TransformerModel -- are in
:mod:`~jaxnn.compat.torch_sequence_models`.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from jaxnn.compat.torch_sequence_models import (
    GPT,
    GPTConfig,
    PositionalEncoding,
    RNNModel,
    TransformerModel,
)

__all__ = [
    "GPT",
    "VGG16",
    "BasicBlock",
    "CIFAR10Net",
    "Classifier",
    "DCGANDiscriminator",
    "DCGANGenerator",
    "GPTConfig",
    "LeNet",
    "NeuralNetwork",
    "PositionalEncoding",
    "RNNModel",
    "Regressor",
    "ResNet18",
    "ResNetCIFAR",
    "ResidualBlock",
    "SimpleCNN",
    "TransformerModel",
]


class Classifier(nn.Module):
    """Linear then softmax over dim 1 (jaxnn.models.Classifier).
    Args: as :class:`jaxnn.models.Classifier`.
    """

    def __init__(self, num_inputs: int, num_classes: int) -> None:
        super().__init__()
        self.fc = nn.Linear(num_inputs, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.softmax(self.fc(x), dim=1)


class Regressor(nn.Module):
    """A Linear layer, raw outputs (jaxnn.models.Regressor).
    Args: as :class:`jaxnn.models.Regressor`.
    """

    def __init__(self, num_inputs: int, num_outputs: int) -> None:
        super().__init__()
        self.fc = nn.Linear(num_inputs, num_outputs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(x)


class SimpleCNN(nn.Module):
    """conv-pool-conv-pool-fc-fc-fc on 1x32x32 images (jaxnn.models.SimpleCNN)."""

    in_channels = 1

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(self.in_channels, 6, 5)
        self.pool = nn.MaxPool2d(2, 2)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.fc1 = nn.Linear(16 * 5 * 5, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(F.relu(self.conv1(x)))
        x = self.pool(F.relu(self.conv2(x)))
        x = torch.flatten(x, 1)
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        return self.fc3(x)


class LeNet(SimpleCNN):
    """SimpleCNN on 3x32x32 images (jaxnn.models.LeNet)."""

    in_channels = 3


class CIFAR10Net(nn.Module):
    """The documents' CIFAR-10 Sequential CNN, attribute ``model1`` (jaxnn.models.CIFAR10Net)."""

    def __init__(self) -> None:
        super().__init__()
        self.model1 = nn.Sequential(
            nn.Conv2d(3, 32, 5, padding=2),
            nn.MaxPool2d(2),
            nn.Conv2d(32, 32, 5, padding=2),
            nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 5, padding=2),
            nn.MaxPool2d(2),
            nn.Flatten(),
            nn.Linear(1024, 64),
            nn.Linear(64, 10),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model1(x)


class NeuralNetwork(nn.Module):
    """The MNIST MLP: ``flatten`` + ``linear_relu_stack`` (jaxnn.models.NeuralNetwork)."""

    def __init__(self) -> None:
        super().__init__()
        self.flatten = nn.Flatten()
        self.linear_relu_stack = nn.Sequential(
            nn.Linear(28 * 28, 512),
            nn.ReLU(),
            nn.Linear(512, 512),
            nn.ReLU(),
            nn.Linear(512, 10),
            nn.ReLU(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear_relu_stack(self.flatten(x))


class ResidualBlock(nn.Module):
    """conv-bn-relu-conv-bn + ``shortcut``, then relu (jaxnn.models.ResidualBlock).
    Args: as :class:`jaxnn.models.ResidualBlock`.
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.shortcut = nn.Sequential()
        if stride != 1 or in_channels != out_channels:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride, bias=False),
                nn.BatchNorm2d(out_channels),
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class ResNetCIFAR(nn.Module):
    """3x3 stem, stages ``layer1``.. of ResidualBlocks, pool, ``fc`` (jaxnn.models.ResNetCIFAR).
    Args: as :class:`jaxnn.models.ResNetCIFAR`.
    """

    def __init__(
        self,
        num_blocks: Sequence[int] = (3, 3, 3),
        widths: Sequence[int] = (16, 32, 64),
        num_classes: int = 10,
    ) -> None:
        super().__init__()
        self.num_stages = len(num_blocks)
        self.conv1 = nn.Conv2d(3, widths[0], 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(widths[0])
        in_channels = widths[0]
        for i, (blocks, width) in enumerate(zip(num_blocks, widths, strict=True)):
            stage = []
            for stride in [1 if i == 0 else 2] + [1] * (blocks - 1):
                stage.append(ResidualBlock(in_channels, width, stride))
                in_channels = width
            self.add_module(f"layer{i + 1}", nn.Sequential(*stage))
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(in_channels, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.bn1(self.conv1(x)))
        for i in range(self.num_stages):
            x = getattr(self, f"layer{i + 1}")(x)
        return self.fc(torch.flatten(self.avgpool(x), 1))


class BasicBlock(nn.Module):
    """torchvision's ResNet BasicBlock (jaxnn.models.BasicBlock, without the arguments
    torchvision's block accepts only at their defaults).

    Args:
        inplanes: channels of the input.
        planes: channels of the output.
        stride: stride of ``conv1``. Default: 1.
        downsample: module applied to ``x`` on the skip path when the shape changes.
            Default: None (the identity).
    """

    def __init__(
        self, inplanes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None
    ) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        identity = x if self.downsample is None else self.downsample(x)
        return self.relu(out + identity)


def _init_like_torchvision(model: nn.Module) -> None:
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


class ResNet18(nn.Module):
    """torchvision's resnet18, names and initialisation (jaxnn.models.ResNet18).

    Args:
        num_classes: outputs of ``fc``. Default: 1000.
    """

    def __init__(self, num_classes: int = 1000) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        self.layer1 = self._stage(64, 64, 1)
        self.layer2 = self._stage(64, 128, 2)
        self.layer3 = self._stage(128, 256, 2)
        self.layer4 = self._stage(256, 512, 2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(512, num_classes)
        _init_like_torchvision(self)

    @staticmethod
    def _stage(inplanes: int, planes: int, stride: int) -> nn.Sequential:
        downsample = None
        if stride != 1 or inplanes != planes:
            downsample = nn.Sequential(
                nn.Conv2d(inplanes, planes, 1, stride, bias=False), nn.BatchNorm2d(planes)
            )
        return nn.Sequential(
            BasicBlock(inplanes, planes, stride, downsample), BasicBlock(planes, planes)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


_VGG16_STAGES = ((64, 64), (128, 128), (256, 256, 256), (512, 512, 512), (512, 512, 512))


class VGG16(nn.Module):
    """torchvision's vgg16, names and initialisation (jaxnn.models.VGG16).
    Args: as :class:`jaxnn.models.VGG16` (``classifier`` a torch module here).
    """

    def __init__(
        self, num_classes: int = 1000, dropout: float = 0.5, classifier: nn.Module | None = None
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        in_channels = 3
        for stage in _VGG16_STAGES:
            for out_channels in stage:
                layers += [
                    nn.Conv2d(in_channels, out_channels, 3, padding=1),
                    nn.ReLU(inplace=True),
                ]
                in_channels = out_channels
            layers.append(nn.MaxPool2d(2, 2))
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d((7, 7))
        _init_like_torchvision(self.features)
        if classifier is None:
            classifier = nn.Sequential(
                nn.Linear(512 * 7 * 7, 4096),
                nn.ReLU(True),
                nn.Dropout(dropout),
                nn.Linear(4096, 4096),
                nn.ReLU(True),
                nn.Dropout(dropout),
                nn.Linear(4096, num_classes),
            )
            for m in classifier.modules():
                if isinstance(m, nn.Linear):
                    nn.init.normal_(m.weight, 0, 0.01)
                    nn.init.zeros_(m.bias)
        self.classifier = classifier

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.flatten(self.avgpool(self.features(x)), 1)
        return self.classifier(x)


class DCGANGenerator(nn.Module):
    """The PyTorch DCGAN example's Generator, with its sizes as arguments
    (jaxnn.models.DCGANGenerator); image_size 32 drops one stride-2 stage.
    Args: as :class:`jaxnn.models.DCGANGenerator`.
    """

    def __init__(self, nz: int = 100, ngf: int = 64, nc: int = 3, image_size: int = 64) -> None:
        super().__init__()
        stages = 4 if image_size == 64 else 3
        width = ngf * 2 ** (stages - 1)
        layers = [
            nn.ConvTranspose2d(nz, width, 4, 1, 0, bias=False),
            nn.BatchNorm2d(width),
            nn.ReLU(True),
        ]
        for _ in range(stages - 1):
            layers += [
                nn.ConvTranspose2d(width, width // 2, 4, 2, 1, bias=False),
                nn.BatchNorm2d(width // 2),
                nn.ReLU(True),
            ]
            width //= 2
        layers += [nn.ConvTranspose2d(width, nc, 4, 2, 1, bias=False), nn.Tanh()]
        self.main = nn.Sequential(*layers)

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        return self.main(input)


class DCGANDiscriminator(nn.Module):
    """The PyTorch DCGAN example's Discriminator (jaxnn.models.DCGANDiscriminator).
    Args: as :class:`jaxnn.models.DCGANDiscriminator`.
    """

    def __init__(self, nc: int = 3, ndf: int = 64, image_size: int = 64) -> None:
        super().__init__()
        stages = 4 if image_size == 64 else 3
        width = ndf
        layers = [nn.Conv2d(nc, width, 4, 2, 1, bias=False), nn.LeakyReLU(0.2, inplace=True)]
        for _ in range(stages - 1):
            layers += [
                nn.Conv2d(width, width * 2, 4, 2, 1, bias=False),
                nn.BatchNorm2d(width * 2),
                nn.LeakyReLU(0.2, inplace=True),
            ]
            width *= 2
        layers += [nn.Conv2d(width, 1, 4, 1, 0, bias=False), nn.Sigmoid()]
        self.main = nn.Sequential(*layers)

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        return self.main(input)
