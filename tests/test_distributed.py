"""jaxnn.distributed: the launcher, initialize(), and training as two processes over loopback.

Every run of several processes is a subprocess with a hard timeout; the launched processes
die with their launcher (PR_SET_PDEATHSIG), and the tests check that none is left behind.
"""

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

import jaxnn.distributed as dist
from jaxnn.distributed import launch

ROOT = Path(__file__).resolve().parents[1]
LAUNCH = [sys.executable, "-m", "jaxnn.distributed.launch"]
TIMEOUT = 600  # seconds for one multi-process run; they take 10-40 s on 2 quiet cores


def clean_env(**extra: str) -> dict[str, str]:
    """This environment without a launcher's variables or simulated devices."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("JAXNN_")}
    env.pop("XLA_FLAGS", None)
    return {**env, "JAX_PLATFORMS": "cpu", **extra}


def by_rank(text: str, rank: int) -> list[str]:
    prefix = f"[{rank}] "
    return [line[len(prefix) :] for line in text.splitlines() if line.startswith(prefix)]


def json_lines(text: str, rank: int) -> list[dict]:
    return [json.loads(line) for line in by_rank(text, rank) if line.startswith("{")]


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"  # a zombie has exited


def wait_until(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def children(pid: int) -> list[int]:
    return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


# ----------------------------------------------------------------------------- the launcher

CHILD = textwrap.dedent("""
    import json, os, signal, sys, time
    rank = int(os.environ["JAXNN_PROCESS_ID"])
    mode, out = sys.argv[1], sys.argv[2]
    if mode == "trap":
        def stop(signum, frame):
            print("stopped by", signal.Signals(signum).name, flush=True)
            sys.exit(0)
        signal.signal(signal.SIGTERM, stop)
    keys = ("JAXNN_COORDINATOR_ADDRESS", "JAXNN_NUM_PROCESSES", "JAXNN_PROCESS_ID")
    print(json.dumps({"env": [os.environ[k] for k in keys], "argv": sys.argv[3:]}))
    print("to stderr", rank, file=sys.stderr)
    with open(os.path.join(out, f"pid{rank}.tmp"), "w") as f:
        f.write(str(os.getpid()))
    os.rename(os.path.join(out, f"pid{rank}.tmp"), os.path.join(out, f"pid{rank}"))
    if mode == "report":
        sys.exit(0)
    if mode == "fail" and rank == 1:  # once the others run (and wrote their pids)
        n = int(os.environ["JAXNN_NUM_PROCESSES"])
        while not all(os.path.exists(os.path.join(out, f"pid{r}")) for r in range(n)):
            time.sleep(0.01)
        sys.exit(3)
    time.sleep(120)
""")


@pytest.fixture
def child(tmp_path):
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    return script


def pids(tmp_path, n):
    wait_until(lambda: all((tmp_path / f"pid{r}").exists() for r in range(n)), 60, "the pids")
    return [int((tmp_path / f"pid{r}").read_text()) for r in range(n)]


def test_launcher_environment_arguments_and_prefixes(child, tmp_path, capsys):
    argv = ["--nproc", "3", str(child), "report", str(tmp_path), "--epochs", "2", "-x"]
    assert launch.main(argv) == 0
    out, err = capsys.readouterr()
    addresses = set()
    for rank in range(3):
        (line,) = json_lines(out, rank)
        address, num, index = line["env"]
        assert (num, index, line["argv"]) == ("3", str(rank), ["--epochs", "2", "-x"])
        addresses.add(address)
        assert by_rank(err, rank) == [f"to stderr {rank}"]
    (address,) = addresses  # one coordinator for all, on loopback
    assert address.startswith("127.0.0.1:") and int(address.split(":")[1]) > 0


def test_a_failed_process_stops_the_others(child, tmp_path, capsys):
    started = time.monotonic()
    assert launch.main(["--nproc", "3", str(child), "fail", str(tmp_path)]) == 3
    assert time.monotonic() - started < 30  # not the 120 s the others would sleep
    assert "process 1 exited with code 3; stopping the others" in capsys.readouterr().err
    assert not any(alive(pid) for pid in pids(tmp_path, 3))


def test_signals_reach_every_process(child, tmp_path):
    proc = subprocess.Popen(
        [*LAUNCH, "--nproc", "2", str(child), "trap", str(tmp_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        pids(tmp_path, 2)
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 128 + signal.SIGTERM
    for rank in range(2):
        assert by_rank(out, rank)[-1] == "stopped by SIGTERM"


def test_processes_die_with_a_killed_launcher(child, tmp_path):
    proc = subprocess.Popen(
        [*LAUNCH, "--nproc", "2", str(child), "sleep", str(tmp_path)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        running = pids(tmp_path, 2)
    finally:
        proc.kill()  # SIGKILL: the launcher cannot pass anything on
        proc.wait(timeout=60)
    wait_until(lambda: not any(alive(pid) for pid in running), 30, "the orphans to die")


def test_module_mode_and_bad_arguments(capsys):
    import jax

    jax.devices()  # JAX's threads are running: launching must not fork into Python code
    assert launch.main(["--nproc", "2", "-m", "platform"]) == 0
    out = capsys.readouterr().out
    assert by_rank(out, 0) == by_rank(out, 1) and len(by_rank(out, 0)) == 1
    with pytest.raises(SystemExit):
        launch.main(["--nproc", "0", "train.py"])
    assert "--nproc must be >= 1, got 0" in capsys.readouterr().err
    with pytest.raises(ValueError, match="--nproc must be >= 1, got -1"):
        launch.launch([sys.executable, "-c", "pass"], -1)


def test_a_command_that_cannot_run_exits_127(capsys):
    assert launch.launch(["jaxnn-no-such-program", "--flag"], 2) == 127
    err = capsys.readouterr().err
    assert "cannot run 'jaxnn-no-such-program': No such file or directory" in err


# ----------------------------------------------------------------------------- initialize


@pytest.mark.parametrize(
    ("env", "error", "match"),
    [
        (
            {"NUM": "2", "ID": "1"},
            ConnectionError,
            r"jaxnn.distributed.initialize \(process 1 of 2\): cannot reach the coordinator "
            r"at 127.0.0.1:\d+ within 0.5 s",
        ),
        ({"ID": "1"}, ValueError, "ADDRESS is set but JAXNN_NUM_PROCESSES is not; start the"),
        ({"NUM": "2", "ID": "2"}, ValueError, "need 0 <= JAXNN_PROCESS_ID < JAXNN_NUM_PROCESSES"),
        ({"NUM": "two", "ID": "0"}, ValueError, "JAXNN_NUM_PROCESSES='two' and JAXNN_PROCESS_ID"),
        ({"NUM": "2", "ID": "1", "ADDRESS": "127.0.0.1"}, ValueError, "'127.0.0.1' is not host"),
    ],
    ids=["unreachable", "incomplete", "out-of-range", "not-a-number", "no-port"],
)
def test_initialize_errors(monkeypatch, env, error, match):
    # each raises before jax.distributed is touched, so it runs in this process
    names = {"NUM": dist.NUM_PROCESSES, "ID": dist.PROCESS_ID}
    monkeypatch.setenv(
        dist.COORDINATOR_ADDRESS, env.pop("ADDRESS", f"127.0.0.1:{launch.free_port()}")
    )
    monkeypatch.delenv(dist.NUM_PROCESSES, raising=False)
    for key, value in env.items():
        monkeypatch.setenv(names[key], value)
    with pytest.raises(error, match=match):
        dist.initialize(timeout=0.5)


def test_initialize_refuses_a_used_port(monkeypatch):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        monkeypatch.setenv(dist.COORDINATOR_ADDRESS, f"127.0.0.1:{port}")
        monkeypatch.setenv(dist.NUM_PROCESSES, "2")
        monkeypatch.setenv(dist.PROCESS_ID, "0")
        with pytest.raises(OSError, match=f"cannot start the coordinator on 127.0.0.1:{port}"):
            dist.initialize(timeout=0.5)


JOIN = textwrap.dedent("""
    import jax, numpy as np
    import jaxnn.distributed
    n = jaxnn.distributed.initialize(timeout=120)
    from jax.experimental import multihost_utils
    ranks = multihost_utils.process_allgather(np.array([jax.process_index()]))
    print(n, jax.distributed.is_initialized(), np.ravel(ranks).tolist())
""")


def test_initialize_alone_and_under_slurm():
    """Without the launcher: one process does nothing; under SLURM (its variables set by
    hand here) jax's own cluster detection joins the processes."""
    alone = subprocess.run(
        [sys.executable, "-c", JOIN], env=clean_env(), capture_output=True, text=True, timeout=120
    )
    assert alone.returncode == 0, alone.stderr[-3000:]
    assert alone.stdout.split() == ["1", "False", "[0]"]
    port = launch.free_port()
    slurm = {"SLURM_JOB_ID": "7", "SLURM_STEP_NODELIST": "127.0.0.1", "SLURM_NTASKS": "2"}
    slurm |= {
        "JAX_COORDINATOR_PORT": str(port),
        "JAX_COORDINATOR_BIND_ADDRESS": f"127.0.0.1:{port}",
    }
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", JOIN],
            env=clean_env(**slurm, SLURM_PROCID=str(rank), SLURM_LOCALID=str(rank)),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for rank in range(2)
    ]
    try:
        outputs = [p.communicate(timeout=TIMEOUT) for p in procs]
    finally:
        for p in procs:
            p.kill()
    for p, (out, err) in zip(procs, outputs):
        assert p.returncode == 0, err[-3000:]
        assert out.splitlines()[-1] == "2 True [0, 1]"  # after gloo's lines


# ----------------------------------------------------------------------------- two processes

AGREE = textwrap.dedent("""
    import json, sys
    import jax, numpy as np
    import jaxnn.distributed

    processes = jaxnn.distributed.initialize(timeout=120)
    import jaxnn as nn
    from jaxnn import optim
    from jaxnn.checkpoint import CheckpointManager
    from jaxnn.data import DataLoader
    from jaxnn.losses import CrossEntropyLoss
    from jaxnn.train import DataParallel, FullyShardedDataParallel, TrainState, fit

    rank = jax.process_index()
    out = {"processes": processes, "devices": jax.device_count()}

    def error(fn):
        try:
            fn()
        except ValueError as e:
            return str(e)

    class Net(nn.Module):  # no bias before BatchNorm: its gradient is 0, Adam amplifies noise
        def setup(self):
            self.fc1 = nn.Linear(8, 64, bias=False)
            self.bn = nn.BatchNorm1d(64)
            self.fc2 = nn.Linear(64, 4)

        def __call__(self, x):
            return self.fc2(nn.functional.relu(self.bn(self.fc1(x))))

    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 8)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int32) + 2 * (x[:, 1] > 0).astype(np.int32)
    tx = optim.Adam(1e-2)
    dp = DataParallel()
    out["shape"] = error(lambda: dp.place(TrainState.create(nn.Linear(8, 3 + 2 * rank), tx, x)))
    out["values"] = error(lambda: dp.place(TrainState.create(Net(), tx, x, seed=rank)))
    make_other = lambda: TrainState.create(nn.Linear(8, 3 + rank), tx, x)
    out["create"] = error(lambda: dp.create(make_other))
    out["per_process"] = error(lambda: dp.shard_batch(np.ones((3, 8))))
    out["whole"] = error(lambda: dp.shard_batch(np.ones((6, 8)), per_process=False))
    swapped = DataLoader((x, y), batch_size=16, drop_last=True, num_shards=2, shard_index=1 - rank)
    out["loader"] = error(lambda: dp.loader_is_per_process(swapped))

    def train(parallel):
        # each process feeds its shard of every batch; the reference (parallel None) runs
        # on this process's first device alone, on whole batches
        loader = DataLoader((x, y), batch_size=16, shuffle=True, drop_last=True,
                            num_shards=processes if parallel else 1,
                            shard_index=rank if parallel else 0)
        state = TrainState.create(Net(), tx, x[:16], seed=0)
        state, hist = fit(Net(), state, loader, loss_fn=CrossEntropyLoss(), optimizer=tx,
                          epochs=2, parallel=parallel, progress=False,
                          val_loader=DataLoader((x, y), batch_size=16))
        host = parallel.to_host(state.params) if parallel else jax.device_get(state.params)
        return state, hist, jax.tree_util.tree_leaves(host)

    _, ref_hist, ref = train(None)
    for name, parallel in (("dp", DataParallel()), ("fsdp", FullyShardedDataParallel(min_size=64))):
        state, hist, params = train(parallel)
        out[name] = {
            "param_error": max(float(np.max(np.abs(a - b))) for a, b in zip(params, ref)),
            "loss_error": max(abs(h[k] - r[k]) for h, r in zip(hist, ref_hist)
                              for k in ("train_loss", "val_loss")),
            "spec": str(state.params["fc1"]["kernel"].sharding.spec),
        }
    # one checkpoint of the sharded state, both managers (latest, best) saving each epoch
    ckpt = CheckpointManager(sys.argv[1], max_to_keep=2)
    for epoch in range(1, 4):
        ckpt.save(epoch, state, metrics={"val_loss": 1.0 / epoch}, best_metric="val_loss")
    restored, meta = ckpt.restore(parallel.place(TrainState.create(Net(), tx, x[:16])))
    back = jax.tree_util.tree_leaves(parallel.to_host(restored.params))
    out["restored"] = {
        "epoch": meta["epoch"],
        "best": ckpt.best_epoch(),
        "exact": all(np.array_equal(a, b) for a, b in zip(back, params)),
        "spec": str(restored.params["fc1"]["kernel"].sharding.spec),
    }
    ckpt.close()
    # built in place over both processes: what place() builds from every process's copy
    born = parallel.create(lambda: TrainState.create(Net(), tx, x[:16], seed=5))
    placed = parallel.place(TrainState.create(Net(), tx, x[:16], seed=5))
    out["created"] = all(np.array_equal(a, b) for a, b in zip(
        jax.tree_util.tree_leaves(parallel.to_host(born)),
        jax.tree_util.tree_leaves(parallel.to_host(placed))))
    print(json.dumps(out))
""")


@pytest.mark.slow
def test_two_processes_train_like_one_device_or_say_why_not(tmp_path):
    """2 processes x 2 simulated devices: clear errors when the processes disagree, and
    DataParallel / FullyShardedDataParallel training equal to one device's."""
    script = tmp_path / "agree.py"
    script.write_text(AGREE)
    env = clean_env(XLA_FLAGS="--xla_force_host_platform_device_count=2")
    proc = subprocess.run(
        [*LAUNCH, "--nproc", "2", str(script), str(tmp_path / "ckpt")],
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    (out,) = json_lines(proc.stdout, 0)
    (other,) = json_lines(proc.stdout, 1)
    assert other.pop("loader").startswith("DataParallel: a DataLoader with num_shards=2, shard_i")
    assert other == {k: v for k, v in out.items() if k != "loader"}  # both saw the same
    assert out["processes"] == 2 and out["devices"] == 4
    assert out["shape"] == (
        "DataParallel: the processes disagree about the model: process 1 has params/bias (5,) "
        "float32, process 0 has params/bias (3,) float32; every process must build the same "
        "model with the same arguments"
    )
    assert out["values"].startswith(
        "DataParallel: the processes disagree about the model's values: params/fc1/kernel "
        "(and 3 more) differs between process 0 and process 1; create the state with the same seed"
    )
    assert out["create"].startswith(
        "DataParallel: the processes disagree about the model: process 1 has params/bias (4,) "
        "float32, process 0 has params/bias (3,) float32"
    )
    assert out["created"] is True
    assert out["per_process"] == (
        "DataParallel: batch size 6 (3 on each of 2 processes) is not divisible by the number "
        "of devices (4); choose a multiple of 4"
    )
    assert out["whole"].startswith("DataParallel: batch size 6 is not divisible by the number")
    assert "num_shards=2, shard_index=1 in process 0 of 2; pass num_shards=" in out["loader"]
    for name, spec in (("dp", "P()"), ("fsdp", "P(None, 'data')")):
        assert out[name]["param_error"] <= 1e-5 and out[name]["loss_error"] <= 1e-5, out[name]
        assert out[name]["spec"] == spec
    assert out["restored"] == {"epoch": 3, "best": 3, "exact": True, "spec": "P(None, 'data')"}
    # one checkpoint: each process wrote only its own part
    state_dir = tmp_path / "ckpt" / "latest" / "3" / "state"
    assert sorted(p.name for p in state_dir.glob("ocdbt.process_*")) == [
        "ocdbt.process_0",
        "ocdbt.process_1",
    ]


@pytest.mark.slow
def test_train_example_as_two_processes_equals_two_devices_and_resumes_after_a_kill(tmp_path):
    """examples/train.py under the launcher: killed after its first checkpoint, resumed, it
    ends where the uninterrupted run on 2 simulated devices in one process ends."""
    from jaxnn import checkpoint

    args = ["--epochs", "3", "--no-progress"]
    one = subprocess.run(
        [
            sys.executable,
            str(ROOT / "examples" / "train.py"),
            *args,
            "--checkpoint-dir",
            str(tmp_path / "one"),
        ],
        env=clean_env(XLA_FLAGS="--xla_force_host_platform_device_count=2"),
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    assert one.returncode == 0, one.stderr[-3000:]
    expected = json.loads(one.stdout.strip().splitlines()[-1])
    assert (expected["devices"], expected["processes"]) == (2, 1)

    two = tmp_path / "two"
    command = [*LAUNCH, "--nproc", "2", str(ROOT / "examples" / "train.py"), *args]
    command += ["--checkpoint-dir", str(two)]
    killed = subprocess.Popen(
        command, env=clean_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        wait_until(
            lambda: (two / "train" / "latest" / "1").is_dir(), TIMEOUT, "epoch 1's checkpoint"
        )
        workers = children(killed.pid)
        os.kill(workers[-1], signal.SIGKILL)  # a process crashes mid-run
        _, err = killed.communicate(timeout=TIMEOUT)
    finally:
        killed.kill()
    assert killed.returncode == 128 + signal.SIGKILL
    assert b"was killed by SIGKILL; stopping the others" in err
    assert not any(alive(pid) for pid in workers)

    resumed = subprocess.run(
        [*command, "--resume"], env=clean_env(), capture_output=True, text=True, timeout=TIMEOUT
    )
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
    (result,) = json_lines(resumed.stdout, 0)  # metrics printed once, by process 0
    assert json_lines(resumed.stdout, 1) == []
    assert result["processes"] == 2 and result["devices"] == 2
    assert 1 <= result["start_epoch"] < 3 and result["steps"] == expected["steps"]
    assert abs(result["test_loss"] - expected["test_loss"]) <= 1e-5
    assert result["test_accuracy"] == expected["test_accuracy"]
    got, want = checkpoint.load(two / "model"), checkpoint.load(tmp_path / "one" / "model")
    flat_got, flat_want = leaves(got), leaves(want)
    assert flat_got.keys() == flat_want.keys()
    for key, value in flat_want.items():
        np.testing.assert_allclose(flat_got[key], value, atol=1e-5, rtol=0, err_msg=key)


def leaves(tree, prefix=""):
    out = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            out.update(leaves(value, f"{prefix}{key}/"))
        else:
            out[prefix + key] = np.asarray(value)
    return out
