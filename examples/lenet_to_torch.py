"""Build LeNet in jaxnn, hand its weights to the PyTorch twin, and check both compute
the same thing -- in both directions.

    python examples/lenet_to_torch.py [--batch-size 8] [--atol 1e-5]
"""

import argparse
import sys

import jax
import numpy as np
import torch

from jaxnn.compat import flax_to_torch, torch_models, torch_to_flax
from jaxnn.models import LeNet


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--atol", type=float, default=1e-5)
    args = parser.parse_args()

    x = np.random.default_rng(0).standard_normal((args.batch_size, 3, 32, 32), np.float32)
    model = LeNet()
    variables = model.init(jax.random.key(0), x)

    # jaxnn -> PyTorch
    torch_model = torch_models.LeNet().eval()
    torch_model.load_state_dict(flax_to_torch(variables), strict=True)
    with torch.no_grad():
        expected = torch_model(torch.from_numpy(x)).numpy()
    err_to_torch = float(np.abs(np.asarray(model.apply(variables, x)) - expected).max())

    # PyTorch (fresh torch init) -> jaxnn
    torch.manual_seed(0)
    fresh = torch_models.LeNet().eval()
    with torch.no_grad():
        expected = fresh(torch.from_numpy(x)).numpy()
    converted = torch_to_flax(fresh.state_dict(), variables)
    err_from_torch = float(np.abs(np.asarray(model.apply(converted, x)) - expected).max())

    n_params = sum(p.size for p in jax.tree_util.tree_leaves(variables["params"]))
    print(f"LeNet: {n_params} parameters, input {x.shape}")
    print(f"jaxnn -> torch: max abs error {err_to_torch:.3e}")
    print(f"torch -> jaxnn: max abs error {err_from_torch:.3e}")
    ok = max(err_to_torch, err_from_torch) <= args.atol
    print(f"parity {'OK' if ok else 'FAILED'} (atol {args.atol})")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
