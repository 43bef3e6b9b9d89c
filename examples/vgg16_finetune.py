"""Fine-tuning VGG16 for CIFAR-10's 10 classes, as the documents do in torch with
``vgg16.classifier[6] = nn.Linear(4096, 10)``: load the (pretrained) torch weights,
swap the last classifier layer, check the features still match torch's, then train the
new head with the features frozen.

No torchvision or download here: pass a ``torchvision.models.vgg16(weights=...)``
state_dict saved as .pth with --weights; without it the torch twin's initialisation
stands in (``jaxnn.compat.torch_models.VGG16`` has torchvision's names).

    python examples/vgg16_finetune.py --weights vgg16.pth --data-dir ~/tensorflow_datasets
"""

from __future__ import annotations

import argparse
import json

import jax
import jax.numpy as jnp
import numpy as np
import optax
import torch

import jaxnn as nn
from jaxnn import optim
from jaxnn.compat import torch_models, torch_to_flax
from jaxnn.compat.parity import compare
from jaxnn.data import DataLoader, get_dataset
from jaxnn.data import transforms as T
from jaxnn.introspect import intermediates
from jaxnn.models import VGG16
from jaxnn.train import TrainState, evaluate, fit

MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)  # ImageNet's, as pretrained VGG expects


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--weights", default=None, help="torchvision vgg16 state_dict (.pth)")
    p.add_argument("--data-dir", default=None, help="TFDS data directory with cifar10")
    p.add_argument("--epochs", type=int, default=1, help="0: only the surgery and parity check")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=1e-3)
    args = p.parse_args(argv)
    x = np.random.default_rng(0).standard_normal((1, 3, 32, 32)).astype(np.float32)

    # 1. the pretrained torch model -> jaxnn (strict: every key must fit)
    torch.manual_seed(0)
    torch_vgg = torch_models.VGG16().eval()
    if args.weights:
        torch_vgg.load_state_dict(torch.load(args.weights, map_location="cpu", weights_only=True))
    model = VGG16()
    template = jax.eval_shape(model.init, jax.random.key(0), x)
    variables = torch_to_flax(torch_vgg.state_dict(), template)

    # 2. the new head, torch's `vgg16.classifier[6] = nn.Linear(4096, 10)`: only the new
    #    layer is initialised; every other weight stays the pretrained one
    model = model.clone(classifier=model.classifier.replace(6, nn.Linear(4096, 10)))
    head = nn.Linear(4096, 10).init(jax.random.key(1), jnp.zeros((1, 4096)))["params"]
    classifier = {**variables["params"]["classifier"], "6": head}
    variables = {"params": {**variables["params"], "classifier": classifier}}

    # 3. the features are untouched, and the whole model equals torch's after the same surgery
    features = intermediates(model, variables, x, names=["features"])["features"]
    with torch.no_grad():
        torch_features = torch_vgg.features(torch.from_numpy(x)).numpy()
    err = float(np.max(np.abs(np.asarray(features) - torch_features)))
    print(f"features {features.shape}: max abs error vs torch {err:.3g}")
    torch_vgg.classifier[6] = torch.nn.Linear(4096, 10)
    report = compare(model, variables, torch_vgg, x, load_weights=True)
    print(report)
    if err > 1e-4 or not report.ok:
        return 1
    if args.epochs == 0:
        return 0

    # 4. fine-tune: the classifier learns, the features are frozen (torch's
    #    requires_grad_(False) on model.features)
    optimizer = optim.param_groups(
        optim.SGD(args.lr, momentum=0.9),
        {"frozen": optax.set_to_zero()},
        lambda path, leaf: "frozen" if path[0] == "features" else None,
    )
    tf = T.Compose([T.ToTensor(), T.Normalize(MEAN, STD)])
    train = get_dataset("cifar10", "train", data_dir=args.data_dir, transform=tf)
    test = get_dataset("cifar10", "test", data_dir=args.data_dir, transform=tf)
    train_loader = DataLoader(train, batch_size=args.batch_size, shuffle=True, drop_last=True)
    test_loader = DataLoader(test, batch_size=args.batch_size)
    state = TrainState.create(model, optimizer, x, variables=variables)
    loss_fn = nn.CrossEntropyLoss()
    state, _ = fit(
        model, state, train_loader, loss_fn=loss_fn, optimizer=optimizer, epochs=args.epochs
    )
    frozen = jax.tree_util.tree_all(
        jax.tree_util.tree_map(
            lambda a, b: bool(jnp.array_equal(a, b)),
            state.params["features"],
            variables["params"]["features"],
        )
    )
    print(json.dumps({"features_frozen": frozen, **evaluate(model, state, test_loader, loss_fn)}))
    return 0 if frozen else 1


if __name__ == "__main__":
    raise SystemExit(main())
