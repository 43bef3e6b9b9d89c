"""Fine-tuning VGG16 for CIFAR-10's 10 classes, as the documents do in torch with
``vgg16.classifier[6] = nn.Linear(4096, 10)``: convert the (pretrained) torch weights,
swap the last classifier layer, and check that the features still match torch's.

No torchvision here: ``jaxnn.compat.torch_models.VGG16`` has torchvision's names, so
``torchvision.models.vgg16(weights=...).state_dict()`` would load the same way.

    python examples/vgg16_finetune_head.py [--size 64]
"""

from __future__ import annotations

import argparse

import jax
import jax.numpy as jnp
import numpy as np
import torch

import jaxnn as nn
from jaxnn.compat import torch_models, torch_to_flax
from jaxnn.compat.parity import compare
from jaxnn.introspect import intermediates
from jaxnn.models import VGG16


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--size",
        type=int,
        default=64,
        help="input height and width; 224 is ImageNet's (default: 64)",
    )
    args = parser.parse_args(argv)
    x = np.random.default_rng(0).standard_normal((1, 3, args.size, args.size)).astype(np.float32)

    # 1. the pretrained torch model (here: torchvision's initialisation) -> jaxnn
    torch.manual_seed(0)
    torch_vgg = torch_models.VGG16().eval()
    model = VGG16()
    template = jax.eval_shape(model.init, jax.random.key(0), x)
    variables = torch_to_flax(torch_vgg.state_dict(), template)

    # 2. the new head: torch's `vgg16.classifier[6] = nn.Linear(4096, 10)`. Only the new
    #    layer is initialised; every other weight stays the pretrained one.
    model = model.clone(classifier=model.classifier.replace(6, nn.Linear(4096, 10)))
    head = nn.Linear(4096, 10).init(jax.random.key(1), jnp.zeros((1, 4096)))["params"]
    classifier = {**variables["params"]["classifier"], "6": head}
    variables = {"params": {**variables["params"], "classifier": classifier}}

    # 3. the features are untouched: compare them with the original torch model's
    features = intermediates(model, variables, x, names=["features"])["features"]
    with torch.no_grad():
        torch_features = torch_vgg.features(torch.from_numpy(x)).numpy()
    err = float(np.max(np.abs(np.asarray(features) - torch_features)))
    print(f"features {features.shape}: max abs error vs torch {err:.3g}")

    # 4. the whole fine-tuning model against torch after the same surgery
    torch_vgg.classifier[6] = torch.nn.Linear(4096, 10)
    report = compare(model, variables, torch_vgg, x, load_weights=True)
    print(report)
    return 0 if err <= 1e-4 and report.ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
