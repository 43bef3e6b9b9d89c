"""CIFAR-10 with the documents' networks: the Sequential CNN (CIFAR10Net), LeNet, or the
small ResNet built from ResidualBlock, with torchvision-style augmentation.

    python examples/cifar10.py --model CIFAR10Net --data-dir ~/tensorflow_datasets
    python examples/cifar10.py --model ResNetCIFAR --epochs 30 --tensorboard runs/resnet
"""

import argparse
import json
import sys

import jaxnn as nn
from jaxnn import models, optim
from jaxnn.data import DataLoader, get_dataset
from jaxnn.data import transforms as T
from jaxnn.train import SummaryWriter, TrainState, evaluate, fit

MEAN, STD = (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)

# (optimizer settings, whether to use a cosine schedule): CIFAR10Net and LeNet as the
# tutorials train them, the ResNet as ResNets usually are
RECIPES = {
    "CIFAR10Net": dict(lr=0.01, momentum=0.0, weight_decay=0.0, cosine=False),
    "LeNet": dict(lr=0.001, momentum=0.9, weight_decay=0.0, cosine=False),
    "ResNetCIFAR": dict(lr=0.1, momentum=0.9, weight_decay=5e-4, cosine=True),
}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", choices=sorted(RECIPES), default="CIFAR10Net")
    p.add_argument("--data-dir", default=None)
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--steps-per-call", type=int, default=1)
    p.add_argument(
        "--precision",
        choices=("fp32", "bf16"),
        default="fp32",
        help="bf16: mixed precision (bfloat16 compute, float32 weights); for accelerators",
    )
    p.add_argument("--tensorboard", default=None)
    args = p.parse_args(argv)
    recipe = RECIPES[args.model]

    augment = T.Compose(
        [
            T.ToTensor(),
            T.RandomCrop(32, padding=4),
            T.RandomHorizontalFlip(),
            T.Normalize(MEAN, STD),
        ]
    )
    plain = T.Compose([T.ToTensor(), T.Normalize(MEAN, STD)])
    train_data = get_dataset("cifar10", "train", data_dir=args.data_dir, transform=augment)
    test_data = get_dataset("cifar10", "test", data_dir=args.data_dir, transform=plain)
    train_loader = DataLoader(train_data, batch_size=args.batch_size, shuffle=True, drop_last=True)
    test_loader = DataLoader(test_data, batch_size=args.batch_size)

    model = getattr(models, args.model)()
    lr = recipe["lr"]
    if recipe["cosine"]:  # torch steps it per epoch; steps_per_epoch maps that onto steps
        lr = optim.CosineAnnealingLR(lr, T_max=args.epochs, steps_per_epoch=len(train_loader))
    optimizer = optim.SGD(lr, momentum=recipe["momentum"], weight_decay=recipe["weight_decay"])
    loss_fn = nn.CrossEntropyLoss()
    x0, _ = next(iter(train_loader))
    state = TrainState.create(model, optimizer, x0)
    writer = SummaryWriter(args.tensorboard) if args.tensorboard else None
    state, _ = fit(
        model,
        state,
        train_loader,
        loss_fn=loss_fn,
        optimizer=optimizer,
        epochs=args.epochs,
        val_loader=test_loader,
        writer=writer,
        steps_per_call=args.steps_per_call,
        precision=args.precision,
    )
    test = evaluate(model, state, test_loader, loss_fn, precision=args.precision)
    print(json.dumps({"model": args.model, **test}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
