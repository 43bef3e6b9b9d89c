"""Regression with the documents' Regressor (one Linear layer) on scikit-learn's diabetes
data (442 patients, 10 standardized features), trained with MSELoss and Adam.

    python examples/regressor_diabetes.py
"""

import argparse
import json
import sys

import numpy as np

import jaxnn as nn
from jaxnn import optim
from jaxnn.data import DataLoader, diabetes
from jaxnn.models import Regressor
from jaxnn.train import TrainState, evaluate, fit


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=100)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=0.05)
    args = p.parse_args(argv)

    train_data = diabetes("train", standardize_targets=True)
    test_data = diabetes("test", standardize_targets=True)
    train_loader = DataLoader(train_data, batch_size=args.batch_size, shuffle=True, drop_last=True)
    test_loader = DataLoader(test_data, batch_size=len(test_data))

    model = Regressor(num_inputs=10, num_outputs=1)
    loss_fn, optimizer = nn.MSELoss(), optim.Adam(lr=args.lr)
    x0, _ = next(iter(train_loader))
    state = TrainState.create(model, optimizer, x0)
    state, _ = fit(
        model,
        state,
        train_loader,
        loss_fn=loss_fn,
        optimizer=optimizer,
        epochs=args.epochs,
        task="regression",
        progress=False,
    )
    test = evaluate(model, state, test_loader, loss_fn, task="regression")
    # the same error in the dataset's units (targets were standardized for training)
    test["rmse_original_units"] = float(
        np.sqrt(test["mse"]) * float(np.asarray(train_data.stats["y_std"]).ravel()[0])
    )
    print(json.dumps(test))
    return 0


if __name__ == "__main__":
    sys.exit(main())
