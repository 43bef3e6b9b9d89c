"""The MNIST quick-start: NeuralNetwork (flatten + linear_relu_stack) trained with SGD.

python examples/mnist_mlp.py --data-dir ~/tensorflow_datasets   # after `tfds build mnist`
"""

import argparse
import json
import sys

import jaxnn as nn
from jaxnn import optim
from jaxnn.data import DataLoader, get_dataset
from jaxnn.models import NeuralNetwork
from jaxnn.train import TrainState, evaluate, fit


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data-dir", default=None)
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=1e-3)
    args = p.parse_args(argv)

    train_data = get_dataset("mnist", "train", data_dir=args.data_dir)  # (1, 28, 28) in [0, 1]
    test_data = get_dataset("mnist", "test", data_dir=args.data_dir)
    train_loader = DataLoader(train_data, batch_size=args.batch_size, shuffle=True, drop_last=True)
    test_loader = DataLoader(test_data, batch_size=args.batch_size)

    model = NeuralNetwork()  # Flatten turns (N, 1, 28, 28) into (N, 784) as in torch
    loss_fn, optimizer = nn.CrossEntropyLoss(), optim.SGD(lr=args.lr)
    x0, _ = next(iter(train_loader))
    state = TrainState.create(model, optimizer, x0)
    state, _ = fit(
        model,
        state,
        train_loader,
        loss_fn=loss_fn,
        optimizer=optimizer,
        epochs=args.epochs,
        val_loader=test_loader,
    )
    print(json.dumps(evaluate(model, state, test_loader, loss_fn)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
