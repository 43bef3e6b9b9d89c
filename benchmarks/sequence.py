"""The sequence-model rows (suite ``sequence`` of ``python -m benchmarks``).

* GPT train step: a character GPT (n_layer 4, n_head 4, n_embd 128, block 64, vocabulary
  65) at batch 16, AdamW; jaxnn's GPT, the same network in raw Flax + optax, nanoGPT's
  GPT in torch eager and under torch.compile.
* LSTM train step: the word-language example's RNNModel('LSTM', ntoken 1000, ninp 256,
  nhid 256, nlayers 2) on 35 steps x batch 20, SGD; jaxnn, raw Flax (``nn.RNN`` of
  ``OptimizedLSTMCell``), torch eager and torch.compile.
* GPT generate: tokens/s for one sequence from a 1-token prompt to the block size,
  greedy: jaxnn with and without its KV cache, and nanoGPT's generate (torch eager,
  which recomputes the whole prefix every token).
* Ops: the elementwise work the issue found slow on XLA:CPU -- exact GELU (1024 x 512),
  LayerNorm (1024 x 128), softmax (4096 x 64, GPT's attention rows) -- forward and
  forward + backward, jaxnn's form beside the stock JAX / Flax one and torch eager.

Dropout is 0 everywhere, so the rows time the networks, not random-number generators.
Every contender of a row runs in one process, interleaved (``benchmarks.harness``).
"""

from __future__ import annotations

import functools
from dataclasses import asdict
from typing import Any

import numpy as np

from benchmarks.harness import Contender, measure, ratio

__all__ = ["SIZES", "op_rows", "op_table", "sequence_suite", "sequence_table"]

# full: the sizes; quick: a smoke run of the same code
SIZES = {
    "full": dict(
        gpt=dict(block_size=64, vocab_size=65, n_layer=4, n_head=4, n_embd=128, batch=16),
        lstm=dict(ntoken=1000, ninp=256, nhid=256, nlayers=2, bptt=35, batch=20),
    ),
    "quick": dict(
        gpt=dict(block_size=16, vocab_size=65, n_layer=1, n_head=2, n_embd=32, batch=4),
        lstm=dict(ntoken=100, ninp=32, nhid=32, nlayers=2, bptt=8, batch=4),
    ),
}
LR_ADAMW, LR_SGD = 1e-3, 0.1


def _count(tree: Any) -> int:
    import jax

    return sum(int(np.prod(a.shape)) for a in jax.tree_util.tree_leaves(tree))


def _block(box: dict[str, Any]) -> None:
    import jax

    jax.block_until_ready(box)


def _jax_contender(name, step, state, batch, examples) -> Contender:
    """A jitted ``step(state, *batch) -> (state, loss)`` that donates its state."""
    import jax

    box = {"s": state, "loss": None}
    data = jax.device_put(batch)

    def call() -> None:
        box["s"], box["loss"] = step(box["s"], *data)

    return Contender(name, call, functools.partial(_block, box), examples)


def _optax_step(loss_fn, tx):
    import jax
    import optax

    @functools.partial(jax.jit, donate_argnums=(0,))
    def step(state, x, y):
        params, opt_state = state
        loss, grads = jax.value_and_grad(loss_fn)(params, x, y)
        updates, opt_state = tx.update(grads, opt_state, params)
        return (optax.apply_updates(params, updates), opt_state), loss

    return step


def _torch_contenders(make_model, loss_of, opt, x, y, examples, compile):
    import torch

    torch.manual_seed(0)
    x, y = torch.from_numpy(x).long(), torch.from_numpy(y).long()
    out = []
    for name, compiled in (("torch", False), ("torch_compile", True)):
        if compiled and not compile:
            continue
        model = make_model().train()
        optimizer = opt(model.parameters())
        fwd = torch.compile(model) if compiled else model

        def call(fwd=fwd, optimizer=optimizer) -> None:
            optimizer.zero_grad()
            loss_of(fwd, x, y).backward()
            optimizer.step()

        out.append(Contender(name, call, lambda: None, examples))
        params = sum(p.numel() for p in model.parameters())
    return out, params


# ----------------------------------------------------------------------------- GPT


def flax_gpt(block_size, vocab_size, n_layer, n_head, n_embd):
    """The GPT network written directly in linen, as a Flax user would: Dense, LayerNorm
    (eps 1e-5), exact GELU, ``jax.nn.dot_product_attention``, a tied output head."""
    import jax
    import jax.numpy as jnp
    from flax import linen as nn

    class GPT(nn.Module):
        @nn.compact
        def __call__(self, idx):
            b, t = idx.shape
            normal = nn.initializers.normal(0.02)
            wte = nn.Embed(vocab_size, n_embd, embedding_init=normal)
            x = wte(idx) + nn.Embed(block_size, n_embd, embedding_init=normal)(jnp.arange(t))
            for _ in range(n_layer):
                h = nn.LayerNorm(epsilon=1e-5)(x)
                q, k, v = jnp.split(nn.Dense(3 * n_embd)(h), 3, axis=-1)
                q, k, v = (a.reshape(b, t, n_head, -1) for a in (q, k, v))  # (B, T, nh, hs)
                y = jax.nn.dot_product_attention(q, k, v, is_causal=True).reshape(b, t, -1)
                x = x + nn.Dense(n_embd)(y)
                h = nn.LayerNorm(epsilon=1e-5)(x)
                x = x + nn.Dense(n_embd)(nn.gelu(nn.Dense(4 * n_embd)(h), approximate=False))
            return wte.attend(nn.LayerNorm(epsilon=1e-5)(x))

    return GPT()


def gpt_rows(size: dict[str, Any], repeats: int, compile: bool) -> dict[str, Any]:
    """The GPT train-step row and the generate row."""
    import jax
    import jax.numpy as jnp
    import optax
    import torch

    from jaxnn import optim
    from jaxnn.compat import flax_to_torch
    from jaxnn.compat import torch_models as tm
    from jaxnn.models import GPT, GPTConfig
    from jaxnn.models.gpt import generate

    size = dict(size)
    batch = size.pop("batch")
    config = GPTConfig(**size)
    rng = np.random.default_rng(0)
    x = rng.integers(0, config.vocab_size, (batch, config.block_size)).astype(np.int32)
    y = rng.integers(0, config.vocab_size, (batch, config.block_size)).astype(np.int32)

    model = GPT(config)
    variables = jax.jit(model.init)(jax.random.key(0), x)
    tx = optim.AdamW(LR_ADAMW, betas=(0.9, 0.95), weight_decay=0.1)

    def jaxnn_loss(params, x, y):
        return model.apply({**variables, "params": params}, x, y)[1]

    copy = functools.partial(jax.tree_util.tree_map, jnp.copy)
    params = copy(variables["params"])
    jaxnn_c = _jax_contender(
        "jaxnn", _optax_step(jaxnn_loss, tx), (params, tx.init(params)), (x, y), batch
    )

    twin = flax_gpt(**size)
    flax_params = jax.jit(twin.init)(jax.random.key(0), x)

    def flax_loss(params, x, y):
        logits = twin.apply(params, x)
        return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()

    ftx = optax.adamw(LR_ADAMW, b1=0.9, b2=0.95, weight_decay=0.1)
    flax_c = _jax_contender(
        "flax", _optax_step(flax_loss, ftx), (flax_params, ftx.init(flax_params)), (x, y), batch
    )

    def make_torch():
        m = tm.GPT(tm.GPTConfig(**size))
        m.load_state_dict(flax_to_torch(variables))
        return m

    torch_cs, torch_params = _torch_contenders(
        make_torch,
        lambda m, x, y: m(x, y)[1],
        lambda p: torch.optim.AdamW(p, lr=LR_ADAMW, betas=(0.9, 0.95), weight_decay=0.1),
        x,
        y,
        batch,
        compile,
    )
    counts = {"jaxnn": _count(params), "flax": _count(flax_params), "torch": torch_params}
    if len(set(counts.values())) != 1:
        raise AssertionError(f"GPT: parameter counts differ: {counts}")
    train = measure([jaxnn_c, flax_c, *torch_cs], repeats=repeats)

    # generate: one sequence from a 1-token prompt to the block size, greedy
    n_new = config.block_size - 1
    prompt = np.zeros((1, 1), np.int32)
    gen = []
    for name, cached in (("jaxnn_cache", True), ("jaxnn_no_cache", False)):
        box: dict[str, Any] = {}

        def call(cached=cached, box=box) -> None:
            box["out"] = generate(model, variables, prompt, n_new, top_k=1, use_cache=cached)

        gen.append(Contender(name, call, functools.partial(_block, box), n_new))
    eager = make_torch().eval()
    tp = torch.from_numpy(prompt).long()
    gen.append(Contender("torch", lambda: eager.generate(tp, n_new, top_k=1), lambda: None, n_new))
    generated = measure(gen, repeats=repeats)
    return {
        "train": _row("GPT train", batch, counts, train),
        "generate": {
            "row": "GPT generate",
            "tokens": n_new,
            "results": {k: asdict(v) for k, v in generated.items()},
            "ratios": {
                "cache/no_cache": ratio(generated["jaxnn_cache"], generated["jaxnn_no_cache"]),
                "cache/torch": ratio(generated["jaxnn_cache"], generated.get("torch")),
                "no_cache/torch": ratio(generated["jaxnn_no_cache"], generated.get("torch")),
            },
        },
    }


# ----------------------------------------------------------------------------- LSTM


def flax_lstm_lm(ntoken, ninp, nhid, nlayers):
    """Embedding, ``nlayers`` of ``nn.RNN(nn.OptimizedLSTMCell)``, a Dense decoder, as a
    Flax user writes the word-language LSTM (batch-major inside, as nn.RNN wants)."""
    import jax.numpy as jnp
    from flax import linen as nn

    class LSTMLM(nn.Module):
        @nn.compact
        def __call__(self, tokens):  # (T, B)
            h = nn.Embed(ntoken, ninp)(jnp.swapaxes(tokens, 0, 1))  # (B, T, ninp)
            for _ in range(nlayers):
                h = nn.RNN(nn.OptimizedLSTMCell(nhid))(h)
            return jnp.swapaxes(nn.Dense(ntoken)(h), 0, 1)  # (T, B, ntoken)

    return LSTMLM()


def lstm_row(size: dict[str, Any], repeats: int, compile: bool) -> dict[str, Any]:
    import jax
    import jax.numpy as jnp
    import optax
    import torch

    import jaxnn.functional as F
    from jaxnn import optim
    from jaxnn.compat import flax_to_torch
    from jaxnn.compat import torch_models as tm
    from jaxnn.models import RNNModel

    size = dict(size)
    bptt, batch = size.pop("bptt"), size.pop("batch")
    rng = np.random.default_rng(0)
    x = rng.integers(0, size["ntoken"], (bptt, batch)).astype(np.int32)
    y = rng.integers(0, size["ntoken"], (bptt, batch)).astype(np.int32)
    args = ("LSTM", size["ntoken"], size["ninp"], size["nhid"], size["nlayers"], 0.0)

    model = RNNModel(*args)
    variables = jax.jit(model.init)(jax.random.key(0), x)
    tx = optim.SGD(LR_SGD)

    def jaxnn_loss(params, x, y):
        log_probs = model.apply({"params": params}, x)[0]
        return F.nll_loss(log_probs, y.reshape(-1))

    params = jax.tree_util.tree_map(jnp.copy, variables["params"])
    jaxnn_c = _jax_contender(
        "jaxnn", _optax_step(jaxnn_loss, tx), (params, tx.init(params)), (x, y), batch
    )

    twin = flax_lstm_lm(**size)
    flax_params = jax.jit(twin.init)(jax.random.key(0), x)

    def flax_loss(params, x, y):
        logits = twin.apply(params, x)
        return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()

    ftx = optax.sgd(LR_SGD)
    flax_c = _jax_contender(
        "flax", _optax_step(flax_loss, ftx), (flax_params, ftx.init(flax_params)), (x, y), batch
    )

    def make_torch():
        m = tm.RNNModel(*args)
        m.load_state_dict(flax_to_torch(variables))
        return m

    torch_cs, torch_params = _torch_contenders(
        make_torch,
        lambda m, x, y: torch.nn.functional.nll_loss(m(x)[0], y.reshape(-1)),
        lambda p: torch.optim.SGD(p, lr=LR_SGD),
        x,
        y,
        batch,
        compile,
    )
    # Flax's LSTM cell has one bias per gate where torch has two (input and hidden)
    counts = {"jaxnn": _count(params), "flax": _count(flax_params), "torch": torch_params}
    if counts["jaxnn"] != counts["torch"]:
        raise AssertionError(f"LSTM: parameter counts differ: {counts}")
    train = measure([jaxnn_c, flax_c, *torch_cs], repeats=repeats)
    return _row("LSTM train", batch, counts, train)


# ----------------------------------------------------------------------------- ops


def op_rows(repeats: int, quick: bool = False) -> list[dict[str, Any]]:
    """Per op: microseconds per call of each formulation, forward and value-and-grad."""
    import jax
    import jax.numpy as jnp
    import torch
    from flax import linen

    import jaxnn.functional as F

    rng = np.random.default_rng(0)
    scale = 8 if quick else 1

    def arrays(shape):
        shape = (shape[0] // scale, shape[1])
        return rng.standard_normal(shape).astype(np.float32), rng.standard_normal(shape).astype(
            np.float32
        )

    def jax_pair(name, fn, x, r):
        fwd = jax.jit(fn)
        both = jax.jit(jax.value_and_grad(lambda x: jnp.sum(fn(x) * r)))
        x = jax.device_put(x)
        return [
            Contender(f"{name} fwd", lambda: fwd(x).block_until_ready(), lambda: None, 1),
            Contender(f"{name} f+b", lambda: jax.block_until_ready(both(x)), lambda: None, 1),
        ]

    def torch_pair(fn, x, r):
        xt, rt = torch.from_numpy(x), torch.from_numpy(r)
        xg = xt.clone().requires_grad_()

        def both() -> None:
            xg.grad = None
            (fn(xg) * rt).sum().backward()

        with_grad = Contender("torch f+b", both, lambda: None, 1)
        return [Contender("torch fwd", lambda: fn(xt), lambda: None, 1), with_grad]

    w128, b128 = jnp.ones(128), jnp.zeros(128)
    ln = linen.LayerNorm(epsilon=1e-5)
    ln_vars = {"params": {"scale": w128, "bias": b128}}
    specs = [
        (
            "exact GELU",
            (1024, 512),
            [("jaxnn", F.gelu), ("jax.nn.gelu", lambda x: jax.nn.gelu(x, approximate=False))],
            torch.nn.functional.gelu,
        ),
        (
            "LayerNorm",
            (1024, 128),
            [
                ("jaxnn", lambda x: F.layer_norm(x, 128, w128, b128)),
                ("flax", lambda x: ln.apply(ln_vars, x)),
            ],
            lambda x: torch.nn.functional.layer_norm(x, (128,)),
        ),
        (
            "softmax",
            (4096, 64),
            [("jaxnn", lambda x: F.softmax(x, dim=-1))],
            lambda x: torch.softmax(x, dim=-1),
        ),
    ]
    rows = []
    for name, shape, forms, torch_fn in specs:
        x, r = arrays(shape)
        contenders = [c for form, fn in forms for c in jax_pair(form, fn, x, r)]
        contenders += torch_pair(torch_fn, x, r)
        results = measure(contenders, repeats=repeats, block_s=0.05, budget_s=0.5)
        us = {
            k: None if v.examples_per_s is None else 1e6 / v.examples_per_s
            for k, v in results.items()
        }
        rows.append({"op": name, "shape": [shape[0] // scale, shape[1]], "us": us})
    return rows


def op_table(rows: list[dict[str, Any]]) -> str:
    lines = ["| op | shape | formulation | fwd us | fwd + bwd us |", "|---|---|---|---|---|"]
    for row in rows:
        forms = sorted({k.rsplit(" ", 1)[0] for k in row["us"]})
        for form in forms:
            lines.append(
                f"| {row['op']} | {tuple(row['shape'])} | {form} "
                f"| {_ms(row['us'].get(f'{form} fwd'))} | {_ms(row['us'].get(f'{form} f+b'))} |"
            )
    return "\n".join(lines)


# ----------------------------------------------------------------------------- rows


def _row(name: str, batch: int, counts: dict[str, int], results: dict[str, Any]) -> dict:
    ms = {
        k: None if r.examples_per_s is None else 1000 * batch / r.examples_per_s
        for k, r in results.items()
    }
    return {
        "row": name,
        "batch": batch,
        "params": counts,
        "results": {k: asdict(v) for k, v in results.items()},
        "ms_per_step": ms,
        "ratios": {
            "jaxnn/flax": ratio(results.get("jaxnn"), results.get("flax")),
            "jaxnn/torch": ratio(results.get("jaxnn"), results.get("torch")),
            "jaxnn/torch_compile": ratio(results.get("jaxnn"), results.get("torch_compile")),
        },
    }


def sequence_suite(repeats: int, compile: bool, quick: bool = False) -> dict[str, Any]:
    """The GPT train, GPT generate and LSTM train rows (``quick``: tiny sizes)."""
    import sys

    size = SIZES["quick" if quick else "full"]
    gpt = gpt_rows(size["gpt"], repeats, compile)
    print(_line(gpt["train"]), file=sys.stderr, flush=True)
    lstm = lstm_row(size["lstm"], repeats, compile)
    print(_line(lstm), file=sys.stderr, flush=True)
    ops = op_rows(repeats, quick)
    return {"sizes": size, "rows": [gpt["train"], lstm], "generate": gpt["generate"], "ops": ops}


def _line(row: dict[str, Any]) -> str:
    return f"{row['row']}: " + ", ".join(
        f"{k} {'n/a' if v is None else f'{v:.2f}'}" for k, v in row["ratios"].items()
    )


def _ms(v: float | None) -> str:
    return "-" if v is None else f"{v:.2f}"


def _r(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.2f}"


def sequence_table(res: dict[str, Any]) -> str:
    """Markdown: ms per train step and ratios (> 1: jaxnn faster); generate tokens/s."""
    lines = [
        "| row | batch | jaxnn ms | flax ms | torch ms | torch.compile ms | jaxnn/flax "
        "| jaxnn/torch | jaxnn/compile |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in res["rows"]:
        m, q = r["ms_per_step"], r["ratios"]
        lines.append(
            f"| {r['row']} | {r['batch']} | {_ms(m.get('jaxnn'))} | {_ms(m.get('flax'))} "
            f"| {_ms(m.get('torch'))} | {_ms(m.get('torch_compile'))} | {_r(q['jaxnn/flax'])} "
            f"| {_r(q['jaxnn/torch'])} | {_r(q['jaxnn/torch_compile'])} |"
        )
    g = res["generate"]
    rate = {k: v["examples_per_s"] for k, v in g["results"].items()}
    lines += [
        "",
        f"GPT generate, {g['tokens']} new tokens, batch 1, greedy (tokens/s):",
        "",
        "| jaxnn, KV cache | jaxnn, no cache | torch eager (nanoGPT) | cache/no cache "
        "| cache/torch |",
        "|---|---|---|---|---|",
        f"| {_r(rate.get('jaxnn_cache'))} | {_r(rate.get('jaxnn_no_cache'))} "
        f"| {_r(rate.get('torch'))} | {_r(g['ratios']['cache/no_cache'])} "
        f"| {_r(g['ratios']['cache/torch'])} |",
    ]
    lines += ["", "Ops (microseconds per call):", "", op_table(res["ops"])]
    errors = [
        f"- {r['row']} {k}: {v['error']}"
        for r in res["rows"]
        for k, v in r["results"].items()
        if v.get("error")
    ]
    return "\n".join(lines + (["", "Failures:", *errors] if errors else []))
