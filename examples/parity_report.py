"""Per-layer parity between jaxnn's LeNet and its PyTorch twin, then the same check
with one torch layer deliberately perturbed: the report names it as the first layer
that diverges.

    python examples/parity_report.py [--perturb conv2.weight] [--delta 1e-3]
"""

from __future__ import annotations

import argparse

import jax
import numpy as np
import torch

from jaxnn.compat import torch_models, torch_to_flax
from jaxnn.compat.parity import compare
from jaxnn.models import LeNet


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--perturb",
        default="conv2.weight",
        help="torch parameter to perturb (default: conv2.weight)",
    )
    parser.add_argument(
        "--delta", type=float, default=1e-3, help="added to every element of it (default: 1e-3)"
    )
    args = parser.parse_args(argv)

    torch.manual_seed(0)
    torch_model = torch_models.LeNet().eval()
    model = LeNet()
    x = np.random.default_rng(0).standard_normal((4, 3, 32, 32)).astype(np.float32)

    # the torch twin's weights, moved into jaxnn variables
    template = jax.eval_shape(model.init, jax.random.key(0), x)
    variables = torch_to_flax(torch_model.state_dict(), template)

    report = compare(model, variables, torch_model, x)
    print(report, end="\n\n")

    with torch.no_grad():
        torch_model.get_parameter(args.perturb).add_(args.delta)
    broken = compare(model, variables, torch_model, x)
    print(broken)
    print(
        f"\nfirst divergence: {broken.first_divergence} "
        f"(perturbed: {args.perturb.rsplit('.', 1)[0]})"
    )
    return 0 if report.ok and not broken.ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
