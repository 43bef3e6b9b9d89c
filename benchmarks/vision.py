"""The vision suite: train steps of vision models in jaxnn beside the same network in
raw Flax + optax (NHWC, Flax's own layers), torch eager and torch.compile, interleaved;
and micro-benchmarks of the convolutions that XLA:CPU runs slowly.

Rows (``ROWS``): each names a jaxnn model, its raw-Flax twin, its torch twin, the input
and what it is trained towards; add a row for another model (a zoo model: ``target=
"label"`` with cross-entropy) and the suite runs it like the others.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from benchmarks.harness import Contender, measure, ratio

__all__ = ["MICRO", "ROWS", "VisionRow", "micro_suite", "vision_suite", "vision_table"]


@dataclass(frozen=True)
class VisionRow:
    """One benchmarked train step.

    Attributes:
        name: the row's name.
        batch: examples per step.
        input_shape: one example's input, NCHW (the Flax twin gets NHWC).
        jaxnn: builds the jaxnn model. flax: the raw Flax twin (NHWC, ``train`` flag).
        torch: the torch twin.
        target: "image" (MSE towards a random image batch of ``target_shape``) or
            "label" (cross-entropy over ``target_shape[0]`` classes).
        optimizer: "adam" with ``lr`` / ``betas`` (the three frameworks' own Adam).
    """

    name: str
    batch: int
    input_shape: tuple[int, ...]
    jaxnn: Callable[[], Any]
    flax: Callable[[], Any]
    torch: Callable[[], Any]
    target: str
    target_shape: tuple[int, ...]
    lr: float = 2e-4
    betas: tuple[float, float] = (0.5, 0.999)
    kwargs: dict[str, Any] = field(default_factory=dict)


def _dcgan_generator_row(batch: int, image_size: int, ngf: int, nz: int = 100) -> VisionRow:
    def jaxnn_model():
        from jaxnn.models import DCGANGenerator

        return DCGANGenerator(nz, ngf, 3, image_size)

    def flax_model():
        from benchmarks.flax_models import DCGANGenerator

        return DCGANGenerator(ngf=ngf, nc=3, image_size=image_size)

    def torch_model():
        from jaxnn.compat.torch_models import DCGANGenerator

        return DCGANGenerator(nz, ngf, 3, image_size)

    return VisionRow(
        f"DCGAN generator {image_size}x{image_size} ngf={ngf}",
        batch,
        (nz, 1, 1),
        jaxnn_model,
        flax_model,
        torch_model,
        "image",
        (3, image_size, image_size),
    )


def _zoo_row(name: str, flax_name: str, batch: int, size: int, classes: int = 10) -> VisionRow:
    """A torchvision classification model by builder name: jaxnn's, torchvision's own
    (the torch twin) and the raw Flax twin ``benchmarks.flax_models.<flax_name>``."""

    def jaxnn_model():
        from jaxnn.models import get_model

        return get_model(name, num_classes=classes)

    def flax_model():
        from benchmarks import flax_models

        return getattr(flax_models, flax_name)(num_classes=classes)

    def torch_model():
        from jaxnn.compat.torchvision_models import get_model

        return get_model(name, num_classes=classes)

    return VisionRow(
        f"{name} {size}x{size}",
        batch,
        (3, size, size),
        jaxnn_model,
        flax_model,
        torch_model,
        "label",
        (classes,),
        lr=1e-3,
        betas=(0.9, 0.999),
    )


ROWS: dict[str, Callable[[bool], VisionRow]] = {
    # the PyTorch DCGAN example's generator; quick: a tiny one to smoke-test the suite
    "dcgan_generator": lambda quick: (
        _dcgan_generator_row(2, 32, 8) if quick else _dcgan_generator_row(16, 64, 64)
    ),
    # torchvision's zoo: bottlenecks, and depthwise convolutions (slow on XLA:CPU)
    "resnet50": lambda quick: _zoo_row("resnet50", "ResNet50", *((2, 32) if quick else (16, 64))),
    "mobilenet_v2": lambda quick: _zoo_row(
        "mobilenet_v2", "MobileNetV2", *((2, 32) if quick else (16, 64))
    ),
}


def _data(row: VisionRow) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((row.batch, *row.input_shape), dtype=np.float32)
    if row.target == "image":
        return x, rng.uniform(-1, 1, (row.batch, *row.target_shape)).astype(np.float32)
    return x, rng.integers(0, row.target_shape[0], row.batch).astype(np.int32)


def _jaxnn(row: VisionRow) -> Contender:
    import jax

    import jaxnn as nn
    from jaxnn import optim
    from jaxnn.train import TrainState, init_metrics, make_train_step

    model, opt = row.jaxnn(), optim.Adam(row.lr, betas=row.betas)
    loss = nn.MSELoss() if row.target == "image" else nn.CrossEntropyLoss()
    task = "regression" if row.target == "image" else "classification"
    x, y = _data(row)
    step = make_train_step(model, loss, opt, task=task)
    box = {"s": TrainState.create(model, opt, x, seed=0), "m": init_metrics()}
    data = jax.device_put((x, y))

    def call() -> None:
        box["s"], box["m"] = step(box["s"], box["m"], data)

    return Contender("jaxnn", call, lambda: jax.block_until_ready(box), row.batch)


def _nhwc(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(np.moveaxis(a, 1, -1)) if a.ndim == 4 else a


def _flax(row: VisionRow) -> Contender:
    import jax
    import jax.numpy as jnp
    import optax

    model, tx = row.flax(), optax.adam(row.lr, b1=row.betas[0], b2=row.betas[1])
    x, y = (_nhwc(a) for a in _data(row))
    key = jax.random.key(0)
    variables = model.init(key, x, train=False)
    state = (variables["params"], variables.get("batch_stats", {}))
    state = (*state, tx.init(state[0]), jnp.zeros((), jnp.int32))

    def loss_fn(out, y):
        if row.target == "image":
            return jnp.mean(jnp.square(out - y))
        return optax.softmax_cross_entropy_with_integer_labels(out, y).mean()

    @functools.partial(jax.jit, donate_argnums=(0, 1))
    def step(state, loss_sum, batch):
        params, stats, opt_state, n = state

        def compute(p):
            out, upd = model.apply(
                {"params": p, "batch_stats": stats},
                batch[0],
                train=True,
                mutable=["batch_stats"],
                rngs={"dropout": jax.random.fold_in(key, n)},  # a fresh key per step
            )
            return loss_fn(out, batch[1]), upd.get("batch_stats", {})

        (loss, stats), grads = jax.value_and_grad(compute, has_aux=True)(params)
        updates, opt_state = tx.update(grads, opt_state, params)
        # the running loss a Flax user's loop keeps (jaxnn's step keeps its metrics too)
        params = optax.apply_updates(params, updates)
        return (params, stats, opt_state, n + 1), loss_sum + loss

    box = {"s": state, "l": jnp.zeros(())}
    data = jax.device_put((x, y))

    def call() -> None:
        box["s"], box["l"] = step(box["s"], box["l"], data)

    return Contender("flax", call, lambda: jax.block_until_ready(box), row.batch)


def _torch(row: VisionRow, compiled: bool) -> Contender:
    import torch

    torch.manual_seed(0)
    model = row.torch().train()
    opt = torch.optim.Adam(model.parameters(), lr=row.lr, betas=row.betas)
    crit = torch.nn.MSELoss() if row.target == "image" else torch.nn.CrossEntropyLoss()
    x, y = (torch.from_numpy(a) for a in _data(row))
    if row.target == "label":
        y = y.long()
    forward = torch.compile(model) if compiled else model

    def call() -> None:
        opt.zero_grad()
        crit(forward(x), y).backward()
        opt.step()

    return Contender("torch_compile" if compiled else "torch", call, lambda: None, row.batch)


def _params(tree_or_module: Any) -> int:
    import jax

    return sum(int(np.prod(a.shape)) for a in jax.tree_util.tree_leaves(tree_or_module))


RATIOS = {
    "jaxnn/flax": ("jaxnn", "flax"),
    "jaxnn/torch": ("jaxnn", "torch"),
    "jaxnn/torch_compile": ("jaxnn", "torch_compile"),
}


def vision_suite(repeats: int, compile: bool, quick: bool = False) -> dict[str, Any]:
    """Every row of ROWS (train steps), then the micro-benchmarks."""
    rows = []
    for name, make in ROWS.items():
        row = make(quick)
        contenders = [_jaxnn(row), _flax(row), _torch(row, False)]
        if compile:
            contenders.append(_torch(row, True))
        results = measure(contenders, repeats=repeats)
        rows.append(
            {
                "row": name,
                "name": row.name,
                "batch": row.batch,
                "train": {k: asdict(v) for k, v in results.items()},
                "ratios": {
                    k: ratio(results.get(a), results.get(b)) for k, (a, b) in RATIOS.items()
                },
            }
        )
        print(f"vision {row.name}: done", file=sys.stderr, flush=True)
    return {"rows": rows, "micro": micro_suite(repeats, quick)}


# ----------------------------------------------------------------------------- micro


@dataclass(frozen=True)
class Micro:
    """One convolution, forward and backward (input and weight gradients), batch N."""

    name: str
    x: tuple[int, ...]  # NCHW
    w: tuple[int, ...]  # torch layout
    kwargs: dict[str, Any]
    transposed: bool


MICRO = [
    # the DCGAN generator's stride-2 layers at batch 16
    Micro(
        "conv_transpose2d 512->256, 4x4->8x8",
        (16, 512, 4, 4),
        (512, 256, 4, 4),
        dict(stride=2, padding=1),
        True,
    ),
    Micro(
        "conv_transpose2d 128->64, 16x16->32x32",
        (16, 128, 16, 16),
        (128, 64, 4, 4),
        dict(stride=2, padding=1),
        True,
    ),
    # MobileNetV2's depthwise 3x3 at 56x56 (batch 8)
    Micro(
        "depthwise conv2d 3x3, 144 ch, 56x56",
        (8, 144, 56, 56),
        (144, 1, 3, 3),
        dict(stride=1, padding=1, groups=144),
        False,
    ),
]


def _micro_contenders(m: Micro, quick: bool) -> list[Contender]:
    import jax
    import jax.numpy as jnp
    import torch
    from jax import lax

    import jaxnn.functional as F

    x_shape, w_shape = m.x, m.w
    if quick:  # smoke-test sizes
        x_shape = (1, min(m.x[1], 8), *(min(s, 8) for s in m.x[2:]))
        w_shape = (x_shape[1], 1 if m.kwargs.get("groups") else min(m.w[1], 8), *m.w[2:])
        kwargs = {**m.kwargs, **({"groups": x_shape[1]} if m.kwargs.get("groups") else {})}
    else:
        kwargs = m.kwargs
    rng = np.random.default_rng(0)
    x = rng.standard_normal(x_shape, dtype=np.float32)
    w = rng.standard_normal(w_shape, dtype=np.float32)
    jaxnn_op = F.conv_transpose2d if m.transposed else F.conv2d

    def grad_of(op):
        return jax.jit(jax.grad(lambda x, w: jnp.sum(op(x, w) ** 2), argnums=(0, 1)))

    variants = {"jaxnn": grad_of(lambda x, w: jaxnn_op(x, w, **kwargs))}
    if m.transposed:
        s, p = kwargs["stride"], kwargs["padding"]
        k = w_shape[2]

        def dilated(x, w):  # XLA's textbook form: an input-dilated convolution
            return lax.conv_general_dilated(
                x,
                jnp.flip(w, (2, 3)),
                (1, 1),
                [(k - 1 - p, k - 1 - p)] * 2,
                lhs_dilation=(s, s),
                dimension_numbers=("NCHW", "IOHW", "NCHW"),
            )

        variants["xla_input_dilated"] = grad_of(dilated)
    out = []
    for name, f in variants.items():
        box = {}

        def call(f=f, box=box) -> None:
            box["g"] = f(x, w)

        out.append(Contender(name, call, lambda box=box: jax.block_until_ready(box), x_shape[0]))
    xt = torch.from_numpy(x).requires_grad_()
    wt = torch.from_numpy(w).requires_grad_()
    torch_op = torch.nn.functional.conv_transpose2d if m.transposed else torch.nn.functional.conv2d

    def torch_call() -> None:
        xt.grad = wt.grad = None
        (torch_op(xt, wt, **kwargs) ** 2).sum().backward()

    out.append(Contender("torch", torch_call, lambda: None, x_shape[0]))
    return out


def micro_suite(repeats: int, quick: bool = False) -> list[dict[str, Any]]:
    """Forward + backward of single convolutions: jaxnn, XLA's input-dilated form of a
    transposed convolution, and torch eager, interleaved."""
    rows = []
    for m in MICRO:
        results = measure(_micro_contenders(m, quick), repeats=repeats, budget_s=1.0)
        rows.append(
            {
                "name": m.name,
                "ms": {
                    k: (
                        None
                        if r.examples_per_s is None
                        else 1e3 * (m.x[0] if not quick else 1) / r.examples_per_s
                    )
                    for k, r in results.items()
                },
                "errors": {k: r.error for k, r in results.items() if r.error},
            }
        )
    return rows


def _fmt(v: float | None) -> str:
    return "n/a" if v is None else f"{v:,.2f}"


def vision_table(res: dict[str, Any]) -> str:
    """Markdown: train-step throughputs and ratios, then micro-benchmark milliseconds."""
    head = (
        "| model | batch | jaxnn | flax | torch | torch.compile "
        "| jaxnn/flax | jaxnn/torch | jaxnn/compile |"
    )
    lines = [head, "|" + "---|" * 9]
    for r in res["rows"]:
        t, q = r["train"], r["ratios"]

        def eps(k: str, t: dict[str, Any] = t) -> str:
            v = (t.get(k) or {}).get("examples_per_s")
            return "-" if v is None else f"{v:,.1f}"

        lines.append(
            f"| {r['name']} | {r['batch']} | {eps('jaxnn')} | {eps('flax')} | {eps('torch')} "
            f"| {eps('torch_compile')} | {_fmt(q['jaxnn/flax'])} | {_fmt(q['jaxnn/torch'])} "
            f"| {_fmt(q['jaxnn/torch_compile'])} |"
        )
    lines += [
        "",
        "| forward + backward, ms | jaxnn | XLA input-dilated | torch |",
        "|---|---|---|---|",
    ]
    for m in res["micro"]:
        ms = m["ms"]
        lines.append(
            f"| {m['name']} | {_fmt(ms.get('jaxnn'))} | {_fmt(ms.get('xla_input_dilated'))} "
            f"| {_fmt(ms.get('torch'))} |"
        )
    return "\n".join(lines)
