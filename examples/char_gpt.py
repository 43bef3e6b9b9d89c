"""Train a small character-level GPT on a text file, print a sample, and write a .pth
that nanoGPT's GPT (jaxnn.compat.torch_models.GPT) loads.

nanoGPT's shakespeare_char recipe, scaled down for a CPU: characters as tokens, random
windows of the text as batches, AdamW with weight decay on the matrices only. The
default text is scikit-learn's description of the 20 newsgroups dataset (an .rst file
that ships with scikit-learn, so no download is needed).

    python examples/char_gpt.py [--text FILE] [--steps 600] [--out runs/char_gpt.pth]
"""

from __future__ import annotations

import argparse
import functools
import json
import sys
import time
from importlib import resources
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxnn import optim
from jaxnn.models import GPT, GPTConfig
from jaxnn.models.gpt import generate

DEFAULT_TEXT = "sklearn.datasets.descr/twenty_newsgroups.rst"


def read_text(path: str | None) -> str:
    if path is not None:
        return Path(path).read_text(encoding="utf-8")
    package, name = DEFAULT_TEXT.split("/")
    return resources.files(package).joinpath(name).read_text(encoding="utf-8")


def parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--text", help=f"a UTF-8 text file (default: {DEFAULT_TEXT})")
    p.add_argument("--steps", type=int, default=600)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--block-size", type=int, default=64)
    p.add_argument("--n-layer", type=int, default=4)
    p.add_argument("--n-head", type=int, default=4)
    p.add_argument("--n-embd", type=int, default=128)
    p.add_argument("--dropout", type=float, default=0.0)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--eval-every", type=int, default=100)
    p.add_argument("--sample-tokens", type=int, default=300)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="runs/char_gpt.pth", help="the .pth to write")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    text = read_text(args.text)
    chars = sorted(set(text))
    stoi = {c: i for i, c in enumerate(chars)}
    data = np.array([stoi[c] for c in text], np.int32)
    n = int(0.9 * len(data))
    splits = {"train": data[:n], "val": data[n:]}
    if len(splits["val"]) <= args.block_size:
        raise SystemExit(f"the text is too short for --block-size {args.block_size}")
    rng = np.random.default_rng(args.seed)

    def get_batch(split: str) -> tuple[np.ndarray, np.ndarray]:
        d = splits[split]
        i = rng.integers(0, len(d) - args.block_size, args.batch_size)
        x = np.stack([d[j : j + args.block_size] for j in i])
        y = np.stack([d[j + 1 : j + 1 + args.block_size] for j in i])
        return x, y

    config = GPTConfig(
        block_size=args.block_size,
        vocab_size=len(chars),
        n_layer=args.n_layer,
        n_head=args.n_head,
        n_embd=args.n_embd,
        dropout=args.dropout,
        bias=False,
    )
    model = GPT(config)
    variables = jax.jit(model.init)(jax.random.key(args.seed), get_batch("train")[0])
    n_params = model.get_num_params(variables)
    print(f"{len(text):,} characters, vocabulary {len(chars)}, {n_params:,} parameters")

    # nanoGPT's configure_optimizers: decay the matrices, not the biases and norms
    tx = optim.no_decay_on_bias_and_norm(
        optim.AdamW, lr=args.lr, betas=(0.9, 0.99), weight_decay=0.1
    )
    params, opt_state = variables["params"], tx.init(variables["params"])

    def loss_fn(params, x, y, rngs=None):
        return model.apply({**variables, "params": params}, x, y, rngs=rngs)[1]

    @functools.partial(jax.jit, donate_argnums=(0, 1))
    def train_step(params, opt_state, x, y, key):
        loss, grads = jax.value_and_grad(loss_fn)(params, x, y, {"dropout": key})
        updates, opt_state = tx.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, loss

    eval_loss = jax.jit(loss_fn)

    def estimate(split: str, batches: int = 10) -> float:
        return float(np.mean([eval_loss(params, *get_batch(split)) for _ in range(batches)]))

    first = train = estimate("train")
    val = estimate("val")
    print(f"step 0: train loss {train:.4f}, val loss {val:.4f}")
    started, key = time.perf_counter(), jax.random.key(args.seed + 1)
    for step in range(1, args.steps + 1):
        params, opt_state, _ = train_step(
            params, opt_state, *get_batch("train"), jax.random.fold_in(key, step)
        )
        if step % args.eval_every == 0 or step == args.steps:
            train, val = estimate("train"), estimate("val")
            print(f"step {step}: train loss {train:.4f}, val loss {val:.4f}")
    seconds = time.perf_counter() - started
    variables = {**variables, "params": params}

    prompt = jnp.array([[stoi.get("\n", 0)]], jnp.int32)
    out = generate(
        model, variables, prompt, args.sample_tokens, 0.8, 10, key=jax.random.key(args.seed + 2)
    )
    sample = "".join(chars[int(i)] for i in np.asarray(out[0, 1:]))
    print("sample:\n" + sample)

    import torch

    from jaxnn.compat import flax_to_torch, torch_models

    path = Path(args.out)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(flax_to_torch(variables), path)
    twin = torch_models.GPT(torch_models.GPTConfig(**vars(config))).eval()
    twin.load_state_dict(torch.load(path, weights_only=True), strict=True)
    x, y = get_batch("val")
    with torch.no_grad():
        want = twin(torch.from_numpy(x).long(), torch.from_numpy(y).long())[0].numpy()
    error = float(np.abs(np.asarray(model.apply(variables, x, y)[0]) - want).max())
    print(f"wrote {path}; nanoGPT's GPT loads it, logits within {error:.2e} of jaxnn's")
    print(
        json.dumps(
            {
                "first_loss": first,
                "train_loss": train,
                "val_loss": val,
                "steps": args.steps,
                "seconds": round(seconds, 2),
                "sample_chars": len(sample),
                "pth": str(path),
                "torch_max_abs_error": error,
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
