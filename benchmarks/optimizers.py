"""Optimizer steps per second: jaxnn's torch-exact optimizers against torch.optim and
optax's nearest alias, and one LBFGS ``step`` against torch's.

    python -m benchmarks.optimizers            # ResNet-18-sized parameters (11.7M)
    python -m benchmarks.optimizers --quick    # a small parameter tree, seconds

One update applies the optimizer to fixed gradients (jaxnn: ``tx.update`` and
``optax.apply_updates`` in one jitted, donated step; torch: ``optimizer.step()`` with
``.grad`` set). The work is elementwise over every parameter, so these numbers measure
how each framework runs a few dozen elementwise passes over memory.
"""

from __future__ import annotations

import argparse
import json
import sys

import numpy as np

from benchmarks.harness import Contender, measure, ratio

# parameter shapes of torchvision's resnet18 (conv kernels, BatchNorm affines, the head)
RESNET18 = (
    [(64, 3, 7, 7), (64,), (64,)]
    + [
        shape
        for cin, cout in [(64, 64), (64, 128), (128, 256), (256, 512)]
        for shape in [(cout, cin, 3, 3), (cout,), (cout,), (cout, cout, 3, 3), (cout,), (cout,)] * 2
    ]
    + [(1000, 512), (1000,)]
)
QUICK = [(64, 32, 3, 3), (64,), (256, 64), (10, 256), (10,)]

# name: (jaxnn / torch keyword arguments, optax's alias or None)
CASES = {
    "Adadelta": (dict(lr=1.0), "adadelta"),
    "Adamax": (dict(lr=2e-3), "adamax"),
    "NAdam": (dict(lr=2e-3), "nadam"),
    "RAdam": (dict(lr=1e-3), "radam"),
    "Rprop": (dict(lr=1e-2), None),
    "ASGD": (dict(lr=1e-2), None),
}


def _jax_contender(name: str, tx, params, grads) -> Contender:
    import jax
    import optax

    state = {"params": params, "opt": tx.init(params)}

    def step(params, opt_state, grads):
        updates, opt_state = tx.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state

    step = jax.jit(step, donate_argnums=(0, 1))

    def call() -> None:
        state["params"], state["opt"] = step(state["params"], state["opt"], grads)

    return Contender(name, call, lambda: jax.block_until_ready(state["params"]), 1)


def optimizer_suite(shapes: list[tuple[int, ...]], repeats: int) -> list[dict]:
    import jax.numpy as jnp
    import optax
    import torch

    from jaxnn import optim

    rng = np.random.default_rng(0)
    arrays = [rng.normal(size=s).astype(np.float32) for s in shapes]
    grads_np = [rng.normal(size=s).astype(np.float32) for s in shapes]
    rows = []

    def as_jax(tree: list[np.ndarray]) -> list:
        return [jnp.asarray(a) for a in tree]  # a fresh copy: the steps donate their inputs

    for name, (kwargs, alias) in CASES.items():
        tx = getattr(optim, name)(**kwargs)
        contenders = [_jax_contender("jaxnn", tx, as_jax(arrays), as_jax(grads_np))]
        if alias is not None:
            tx = getattr(optax, alias)(kwargs["lr"])
            contenders.append(_jax_contender("optax", tx, as_jax(arrays), as_jax(grads_np)))
        params = [torch.tensor(a, requires_grad=True) for a in arrays]
        for p, g in zip(params, grads_np, strict=True):
            p.grad = torch.tensor(g)
        torch_opt = getattr(torch.optim, name)(params, **kwargs)
        contenders.append(Contender("torch", torch_opt.step, lambda: None, 1))
        results = measure(contenders, repeats=repeats)
        rows.append(
            {
                "optimizer": name,
                "steps_per_s": {k: r.examples_per_s for k, r in results.items()},
                "jaxnn/torch": ratio(results["jaxnn"], results["torch"]),
                "jaxnn/optax": ratio(results["jaxnn"], results.get("optax")),
            }
        )
    return rows


def lbfgs_suite(repeats: int, n: int = 256, d: int = 64) -> dict:
    """One step(closure) of 20 iterations with the strong-Wolfe line search, logistic
    regression on (n, d) data."""
    import jax
    import jax.numpy as jnp
    import torch

    from jaxnn import optim

    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, d)).astype(np.float32)
    y = (rng.uniform(size=n) > 0.5).astype(np.float32)

    def loss_fn(w, x, y):
        z = x @ w
        return jnp.mean(jnp.maximum(z, 0) + jnp.log1p(jnp.exp(-jnp.abs(z))) - y * z)

    opt = optim.LBFGS(line_search_fn="strong_wolfe")
    start = jnp.zeros(d)
    box = {}

    def jax_call() -> None:
        # from the same start each time: the same iterations every call
        box["w"], _, _ = opt.step(loss_fn, start, opt.init(start), x, y)

    w = torch.zeros(d, requires_grad=True)
    xt, yt = torch.tensor(x), torch.tensor(y)

    def torch_call() -> None:
        with torch.no_grad():
            w.zero_()
        torch_opt = torch.optim.LBFGS([w], line_search_fn="strong_wolfe")

        def closure():
            torch_opt.zero_grad()
            z = xt @ w
            loss = torch.mean(z.clamp(min=0) + torch.log1p(torch.exp(-z.abs())) - yt * z)
            loss.backward()
            return loss

        torch_opt.step(closure)

    results = measure(
        [
            Contender("jaxnn", jax_call, lambda: jax.block_until_ready(box["w"]), 1),
            Contender("torch", torch_call, lambda: None, 1),
        ],
        repeats=repeats,
    )
    return {
        "steps_per_s": {k: r.examples_per_s for k, r in results.items()},
        "first_call_s": {k: r.first_call_s for k, r in results.items()},
        "jaxnn/torch": ratio(results["jaxnn"], results["torch"]),
    }


def _fmt(v: float | None) -> str:
    return "-" if v is None else f"{v:.2f}" if v < 100 else f"{v:.0f}"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="a small parameter tree, 2 repeats")
    args = p.parse_args(argv)
    shapes = QUICK if args.quick else RESNET18
    repeats = 2 if args.quick else 5
    rows = optimizer_suite(shapes, repeats)
    lbfgs = lbfgs_suite(repeats)
    count = sum(int(np.prod(s)) for s in shapes)
    print(f"optimizer steps/s on {count:,} float32 parameters (>1: jaxnn faster)\n")
    print("| optimizer | jaxnn | optax | torch | jaxnn/torch | jaxnn/optax |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        s = r["steps_per_s"]
        cells = [s.get("jaxnn"), s.get("optax"), s.get("torch"), r["jaxnn/torch"], r["jaxnn/optax"]]
        print(f"| {r['optimizer']} | " + " | ".join(_fmt(c) for c in cells) + " |")
    s = lbfgs["steps_per_s"]
    print(
        f"\nLBFGS step (20 iterations, strong Wolfe): jaxnn {_fmt(s['jaxnn'])}/s, torch "
        f"{_fmt(s['torch'])}/s, jaxnn/torch {_fmt(lbfgs['jaxnn/torch'])}; first call "
        f"(compilation) {lbfgs['first_call_s']['jaxnn']:.2f} s"
    )
    print(json.dumps({"parameters": count, "optimizers": rows, "lbfgs": lbfgs}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
