"""The PyTorch DCGAN example in jaxnn: a Generator and a Discriminator trained against
each other, here on scikit-learn's handwritten digits (no download) resized to 32x32 or
64x64, writing a PNG grid of samples from fixed noise after every epoch.

    python examples/dcgan.py --epochs 25 --out-dir runs/dcgan           # 32x32 digits
    python examples/dcgan.py --image-size 64 --out-dir runs/dcgan64
    python examples/dcgan.py --epochs 30 --out-dir runs/dcgan --resume   # continue

As in the example: weights N(0, 0.02), BatchNorm weights N(1, 0.02) and biases 0;
BCELoss; Adam(lr 2e-4, betas (0.5, 0.999)) for both networks; per batch one
Discriminator step on real (label 1) and generated (label 0) images, then one Generator
step towards label 1. Every epoch is checkpointed in OUT_DIR/checkpoints (--resume
continues bit-identically); the last line printed is a JSON summary.
"""

import argparse
import json
import sys
import time
import zlib
from pathlib import Path
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

import jaxnn as nn
import jaxnn.functional as F
from jaxnn import checkpoint, init, optim
from jaxnn.data import DataLoader
from jaxnn.models import DCGANDiscriminator, DCGANGenerator


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out-dir", default="runs/dcgan", help="PNGs and checkpoints go here")
    p.add_argument("--epochs", type=int, default=25)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--image-size", type=int, choices=(32, 64), default=32)
    p.add_argument("--nz", type=int, default=100, help="size of the latent vector")
    p.add_argument("--ngf", type=int, default=64)
    p.add_argument("--ndf", type=int, default=64)
    p.add_argument("--lr", type=float, default=2e-4)
    p.add_argument("--beta1", type=float, default=0.5)
    p.add_argument("--seed", type=int, default=999)
    p.add_argument("--max-batches", type=int, default=None, help="batches per epoch (a quick run)")
    p.add_argument("--resume", action="store_true", help="continue from OUT_DIR/checkpoints")
    return p.parse_args(argv)


def load_digits(image_size: int) -> np.ndarray:
    """All 1797 digits as (N, 1, image_size, image_size) in [-1, 1], bilinear upsampled."""
    from sklearn.datasets import load_digits

    images = (load_digits().images / 16.0).astype(np.float32)[:, None]  # (N, 1, 8, 8)
    images = F.interpolate(images, size=image_size, mode="bilinear", align_corners=False)
    return np.asarray(images) * 2 - 1


def weights_init(model, variables, example, key):
    """The example's weights_init: convolutions N(0, 0.02), BatchNorm N(1, 0.02) and 0."""
    conv = nn.ConvTranspose2d if isinstance(model, DCGANGenerator) else nn.Conv2d
    rules = {
        conv: {"kernel": init.normal_(0.0, 0.02)},
        nn.BatchNorm2d: {"scale": init.normal_(1.0, 0.02), "bias": init.zeros_()},
    }
    return init.reinitialize(model, variables, rules, example, key=key)


def write_png(path: Path, images: np.ndarray, nrow: int = 8, padding: int = 2) -> None:
    """A grid of (N, C, H, W) images in [-1, 1] as an 8-bit PNG (grey or RGB), as
    torchvision's save_image(normalize=True) lays it out; numpy and zlib only."""
    n, c, h, w = images.shape
    rows = -(-n // nrow)
    grid = np.full((c, rows * (h + padding) + padding, nrow * (w + padding) + padding), -1.0)
    for i, image in enumerate(images):
        y, x = padding + (i // nrow) * (h + padding), padding + (i % nrow) * (w + padding)
        grid[:, y : y + h, x : x + w] = image
    pixels = np.clip((grid + 1) * 127.5 + 0.5, 0, 255).astype(np.uint8)
    pixels = pixels[0] if c == 1 else pixels.transpose(1, 2, 0)  # (H, W) or (H, W, 3)
    raw = b"".join(b"\x00" + row.tobytes() for row in pixels)  # filter type 0 per row

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return len(data).to_bytes(4, "big") + body + zlib.crc32(body).to_bytes(4, "big")

    color = 0 if c == 1 else 2
    header = pixels.shape[1].to_bytes(4, "big") + pixels.shape[0].to_bytes(4, "big")
    header += bytes([8, color, 0, 0, 0])
    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
    png += chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")
    path.write_bytes(png)


class GANState(NamedTuple):
    generator: dict[str, Any]  # {"params", "batch_stats"}
    discriminator: dict[str, Any]
    g_opt: Any
    d_opt: Any
    step: jax.Array


def make_train_step(netG, netD, optG, optD, nz: int, seed: int):
    criterion = nn.BCELoss()

    def train(model, variables, x):
        return model.apply(variables, x, mutable=["batch_stats"])

    @jax.jit
    def step(state: GANState, real: jax.Array):
        b = real.shape[0]
        noise = jax.random.normal(
            jax.random.fold_in(jax.random.key(seed), state.step), (b, nz, 1, 1)
        )
        ones, zeros = jnp.ones(b), jnp.zeros(b)

        # (1) Discriminator: maximize log(D(x)) + log(1 - D(G(z)))
        def g_forward(params):
            fake, upd = train(netG, {**state.generator, "params": params}, noise)
            return fake, upd["batch_stats"]

        fake, g_vjp, g_stats = jax.vjp(g_forward, state.generator["params"], has_aux=True)

        def d_loss(params):
            stats = state.discriminator["batch_stats"]
            out_real, upd = train(netD, {"params": params, "batch_stats": stats}, real)
            out_fake, upd = train(netD, {"params": params, **upd}, jax.lax.stop_gradient(fake))
            loss = criterion(out_real.reshape(-1), ones) + criterion(out_fake.reshape(-1), zeros)
            return loss, (upd["batch_stats"], out_real.mean(), out_fake.mean())

        (err_d, (d_stats, d_x, d_g_z1)), grads = jax.value_and_grad(d_loss, has_aux=True)(
            state.discriminator["params"]
        )
        updates, d_opt = optD.update(grads, state.d_opt, state.discriminator["params"])
        d_params = optax.apply_updates(state.discriminator["params"], updates)

        # (2) Generator: maximize log(D(G(z))), through the updated Discriminator
        def g_loss(fake):
            out, upd = train(netD, {"params": d_params, "batch_stats": d_stats}, fake)
            return criterion(out.reshape(-1), ones), (upd["batch_stats"], out.mean())

        (err_g, (d_stats, d_g_z2)), dfake = jax.value_and_grad(g_loss, has_aux=True)(fake)
        (g_grads,) = g_vjp(dfake)
        updates, g_opt = optG.update(g_grads, state.g_opt, state.generator["params"])
        g_params = optax.apply_updates(state.generator["params"], updates)
        new = GANState(
            {"params": g_params, "batch_stats": g_stats},
            {"params": d_params, "batch_stats": d_stats},
            g_opt,
            d_opt,
            state.step + 1,
        )
        return new, {
            "loss_d": err_d,
            "loss_g": err_g,
            "d_x": d_x,
            "d_g_z1": d_g_z1,
            "d_g_z2": d_g_z2,
        }

    return step


def main(argv=None) -> int:
    args = parse_args(argv)
    started = time.perf_counter()
    out_dir = Path(args.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    images = load_digits(args.image_size)
    loader = DataLoader(
        images, batch_size=args.batch_size, shuffle=True, drop_last=True, seed=args.seed
    )

    netG = DCGANGenerator(args.nz, args.ngf, 1, args.image_size)
    netD = DCGANDiscriminator(1, args.ndf, args.image_size)
    key_g, key_d, key_wg, key_wd = jax.random.split(jax.random.key(args.seed), 4)
    z, x = jnp.zeros((2, args.nz, 1, 1)), jnp.zeros((2, 1, args.image_size, args.image_size))
    g_vars = weights_init(netG, netG.init(key_g, z), z, key_wg)
    d_vars = weights_init(netD, netD.init(key_d, x), x, key_wd)
    optG = optim.Adam(args.lr, betas=(args.beta1, 0.999))
    optD = optim.Adam(args.lr, betas=(args.beta1, 0.999))
    state = GANState(
        g_vars,
        d_vars,
        optG.init(g_vars["params"]),
        optD.init(d_vars["params"]),
        jnp.zeros((), jnp.int32),
    )
    fixed_noise = jax.random.normal(jax.random.key(args.seed + 1), (64, args.nz, 1, 1))

    ckpt = checkpoint.CheckpointManager(out_dir / "checkpoints")
    start_epoch = 0
    if args.resume and ckpt.latest_epoch() is not None:
        state, meta = ckpt.restore(state)
        start_epoch = meta["epoch"]
    step = make_train_step(netG, netD, optG, optD, args.nz, args.seed)
    metrics = {}
    for epoch in range(start_epoch, args.epochs):
        loader.set_epoch(epoch)
        sums, count = {}, 0
        for i, real in enumerate(loader):
            if args.max_batches is not None and i >= args.max_batches:
                break
            state, m = step(state, real)
            sums = {k: sums.get(k, 0.0) + v for k, v in m.items()}
            count += 1
        metrics = {k: round(float(v) / count, 6) for k, v in sums.items()}
        print(
            f"[{epoch + 1}/{args.epochs}] " + " ".join(f"{k} {v:.4f}" for k, v in metrics.items())
        )
        # samples from fixed noise, with batch statistics as the example draws them
        fake, _ = netG.apply(state.generator, fixed_noise, mutable=["batch_stats"])
        write_png(out_dir / f"fake_samples_epoch_{epoch + 1:03d}.png", np.asarray(fake))
        ckpt.save(epoch + 1, state, metrics=metrics)
    ckpt.close()
    result = {
        "start_epoch": start_epoch,
        "epochs": args.epochs,
        "steps": int(state.step),
        **metrics,
        "seconds": round(time.perf_counter() - started, 3),
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
