"""Train a jaxnn model on a dataset, the way the torch tutorials do, compiled with XLA.

    python examples/train.py                                  # SimpleCNN on digits, 5 epochs
    python examples/train.py --model LeNet --dataset cifar10 --epochs 10 --optimizer sgd --lr 0.01
    python examples/train.py --model Regressor --dataset diabetes --epochs 50 --lr 0.05
    python examples/train.py --optimizer adadelta --lr 1.0 --scheduler steplr  # torch MNIST recipe
    python examples/train.py --checkpoint-dir runs/digits --resume   # continue where it stopped
    python -m jaxnn.distributed.launch --nproc 2 examples/train.py   # as 2 processes

The last line printed is one JSON object with the test metrics and run facts. With
--checkpoint-dir, every epoch is checkpointed (TrainState, for --resume) and the final
weights are saved to DIR/model, which `jaxnn-compat convert` turns into a .pth file.
Under the launcher every process reads its shard of each batch and process 0 prints.
"""

import argparse
import json
import sys
import time
from pathlib import Path

import jax

import jaxnn as nn
from jaxnn import checkpoint, distributed, models, optim
from jaxnn.data import DataLoader, get_dataset
from jaxnn.train import (
    DataParallel,
    FullyShardedDataParallel,
    SummaryWriter,
    TrainState,
    evaluate,
    fit,
)

REGRESSION = {"diabetes"}


def _decay(a) -> dict:
    """--weight-decay when given, else each optimizer keeps torch's default (AdamW: 1e-2)."""
    return {} if a.weight_decay is None else {"weight_decay": a.weight_decay}


# (arguments, lr: a float or a schedule) -> optimizer
OPTIMIZERS = {
    "sgd": lambda a, lr: optim.SGD(lr, momentum=a.momentum, **_decay(a)),
    "adam": lambda a, lr: optim.Adam(lr, **_decay(a)),
    "adamw": lambda a, lr: optim.AdamW(lr, **_decay(a)),
    "rmsprop": lambda a, lr: optim.RMSprop(lr, momentum=a.momentum, **_decay(a)),
    "adagrad": lambda a, lr: optim.Adagrad(lr, **_decay(a)),
    "adadelta": lambda a, lr: optim.Adadelta(lr, **_decay(a)),
}


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="SimpleCNN", help="a class in jaxnn.models")
    p.add_argument("--model-kwargs", default="{}", help="JSON constructor arguments")
    p.add_argument(
        "--dataset",
        default="digits",
        help="digits, diabetes (built in) or mnist, fashion_mnist, cifar10 (TFDS)",
    )
    p.add_argument("--data-dir", default=None, help="TFDS data directory")
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--optimizer", choices=sorted(OPTIMIZERS), default="adam")
    p.add_argument("--momentum", type=float, default=0.9, help="sgd / rmsprop momentum")
    p.add_argument(
        "--weight-decay", type=float, default=None, help="default: the optimizer's own (torch's)"
    )
    p.add_argument(
        "--scheduler",
        choices=("none", "steplr"),
        default="none",
        help="steplr: multiply the lr by --gamma after every epoch (torch's StepLR(step_size=1))",
    )
    p.add_argument("--gamma", type=float, default=0.7, help="StepLR's decay per epoch")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--checkpoint-dir", default=None)
    p.add_argument("--resume", action="store_true", help="continue from --checkpoint-dir")
    p.add_argument("--tensorboard", default=None, help="TensorBoard log directory")
    p.add_argument("--steps-per-call", type=int, default=1, help="fuse K train steps per dispatch")
    p.add_argument(
        "--precision",
        choices=("fp32", "bf16"),
        default="fp32",
        help="bf16: mixed precision (bfloat16 compute, float32 weights); for accelerators",
    )
    p.add_argument(
        "--fsdp",
        action="store_true",
        help="shard parameters and optimizer state over the devices (FullyShardedDataParallel)",
    )
    p.add_argument("--no-progress", action="store_true")
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    started = time.perf_counter()
    if args.resume and not args.checkpoint_dir:
        sys.exit("train.py: error: --resume needs --checkpoint-dir")
    task = "regression" if args.dataset in REGRESSION else "classification"

    data_kwargs = {"data_dir": args.data_dir} if args.data_dir else {}
    train_set = get_dataset(args.dataset, "train", **data_kwargs)
    test_set = get_dataset(args.dataset, "test", **data_kwargs)
    if args.fsdp:
        parallel = FullyShardedDataParallel()
    else:
        parallel = DataParallel() if jax.device_count() > 1 else None
    main_process = jax.process_index() == 0
    train_loader = DataLoader(  # each process reads its own shard of every batch
        train_set,
        batch_size=args.batch_size,
        shuffle=True,
        drop_last=True,
        seed=args.seed,
        num_shards=jax.process_count(),
        shard_index=jax.process_index(),
    )
    test_loader = DataLoader(test_set, batch_size=args.batch_size)

    x0, _ = next(iter(DataLoader(train_set, batch_size=args.batch_size)))
    kwargs = json.loads(args.model_kwargs)
    if args.model in ("Classifier", "Regressor") and "num_inputs" not in kwargs:
        kwargs["num_inputs"] = int(x0.shape[1])
        kwargs.setdefault(
            "num_outputs" if task == "regression" else "num_classes",
            1 if task == "regression" else 10,
        )
    model = getattr(models, args.model)(**kwargs)
    loss_fn = nn.MSELoss() if task == "regression" else nn.CrossEntropyLoss()
    lr = args.lr
    if args.scheduler == "steplr":
        lr = optim.StepLR(args.lr, 1, args.gamma, steps_per_epoch=len(train_loader))
    optimizer = OPTIMIZERS[args.optimizer](args, lr)
    state = TrainState.create(model, optimizer, x0, seed=args.seed)
    if parallel is not None:  # before a restore, so each device reads only its part
        state = parallel.place(state)

    ckpt, start_epoch = None, 0
    if args.checkpoint_dir:
        ckpt = checkpoint.CheckpointManager(Path(args.checkpoint_dir) / "train")
        if args.resume and ckpt.latest_epoch() is not None:
            try:  # the newest intact epoch: a damaged one is logged and skipped
                state, meta = ckpt.restore(state)
            except checkpoint.DamagedCheckpointError as e:
                sys.exit(f"train.py: error: {e}")
            start_epoch = meta["epoch"]
    writer = SummaryWriter(args.tensorboard) if args.tensorboard and main_process else None

    best = "val_mse" if task == "regression" else "val_accuracy"
    state, _ = fit(
        model,
        state,
        train_loader,
        loss_fn=loss_fn,
        optimizer=optimizer,
        epochs=args.epochs,
        val_loader=test_loader,
        task=task,
        start_epoch=start_epoch,
        steps_per_call=args.steps_per_call,
        parallel=parallel,
        checkpoints=ckpt,
        best_metric=best if ckpt else None,
        writer=writer,
        progress=not args.no_progress,
        precision=args.precision,
    )
    test = evaluate(
        model, state, test_loader, loss_fn, task=task, precision=args.precision, parallel=parallel
    )
    if writer is not None:
        writer.close()
    if ckpt is not None:
        variables = parallel.to_host(state.variables) if parallel else state.variables
        if main_process:
            checkpoint.save(
                jax.device_get(variables),
                Path(args.checkpoint_dir) / "model",
                force=True,
                metadata={"model": args.model, "model_kwargs": kwargs},
            )
        ckpt.close()

    result = {f"test_{k}": v for k, v in test.items() if k != "count"}
    result.update(
        model=args.model,
        dataset=args.dataset,
        start_epoch=start_epoch,
        epochs=args.epochs,
        steps=int(state.step),
        devices=jax.device_count(),
        processes=jax.process_count(),
        seconds=round(time.perf_counter() - started, 3),
    )
    if parallel is not None:
        result.update(state_bytes(parallel, state))
    if main_process:
        print(json.dumps(result))
    return 0


def state_bytes(parallel, state) -> dict[str, int]:
    """Bytes of the parameters and of the optimizer state: in all, and on the fullest
    device (from the arrays' shardings); printed on process 0."""
    out = {}
    for name, tree in (("param", state.params), ("optimizer", state.opt_state)):
        total = sum(a.nbytes for a in jax.tree_util.tree_leaves(tree))
        most = max(parallel.bytes_per_device(tree).values())
        out[f"{name}_bytes"], out[f"{name}_bytes_per_device"] = total, most
        if jax.process_index() == 0:
            print(
                f"{name} bytes: {total:,} in all, {most:,} on the fullest device "
                f"({most / total:.1%}, {parallel.size} devices)"
            )
    return out


if __name__ == "__main__":
    distributed.initialize()  # joins the other processes under the launcher; else nothing
    sys.exit(main())
