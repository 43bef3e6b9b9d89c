"""``python -m jaxnn.distributed.launch --nproc N SCRIPT [ARGS]``: torchrun for one machine.

Starts N Python processes running ``SCRIPT ARGS`` (or ``-m MODULE ARGS``), each with
:data:`~jaxnn.distributed.COORDINATOR_ADDRESS` (127.0.0.1 and a free port),
:data:`~jaxnn.distributed.NUM_PROCESSES` and :data:`~jaxnn.distributed.PROCESS_ID` in its
environment, for :func:`jaxnn.distributed.initialize` to read. Every line a process prints
is shown with its index in front (``[1] epoch 1/5 ...``). SIGINT, SIGTERM and SIGHUP are
passed on to every process. When a process fails, the others are stopped (SIGTERM, then
SIGKILL after a grace period) and the launcher exits with the failed process's code;
processes also die with the launcher if it is killed. Also installed as ``jaxnn-launch``.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from typing import IO

from jaxnn.distributed import COORDINATOR_ADDRESS, NUM_PROCESSES, PROCESS_ID

__all__ = ["free_port", "launch", "main"]

HOST = "127.0.0.1"
GRACE_S = 5.0  # between asking a process to stop (SIGTERM) and killing it
_FORWARDED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def free_port(host: str = HOST) -> int:
    """A TCP port on ``host`` that nothing listens on now.

    Args:
        host: the address to bind. Default: ``'127.0.0.1'``.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


# Run in each child before the command, in a fresh interpreter that then exec()s the
# command: Linux's PR_SET_PDEATHSIG makes the child get SIGKILL when the launcher dies,
# however it dies, and survives the exec. Doing this in a ``preexec_fn`` instead would run
# Python between fork and exec, which is unsafe when the launching process has threads
# (JAX's, when launch() is called from a program that uses JAX).
_DIE_WITH_PARENT = """\
import ctypes, os, signal, sys
ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGKILL))  # PR_SET_PDEATHSIG
if os.getppid() != int(sys.argv[1]):  # the launcher died before prctl took effect
    os._exit(1)
try:
    os.execvp(sys.argv[2], sys.argv[2:])
except OSError as e:
    sys.stderr.write(f"jaxnn.distributed.launch: cannot run {sys.argv[2]!r}: {e.strerror}\\n")
    os._exit(127)
"""


def _with_parent_death(command: Sequence[str]) -> list[str]:
    """``command``, run so that it dies with this process (on Linux; elsewhere as is)."""
    if not sys.platform.startswith("linux"):
        return list(command)
    return [sys.executable, "-I", "-S", "-c", _DIE_WITH_PARENT, str(os.getpid()), *command]


def _stream(source: IO[bytes], sink: IO[str], prefix: str, lock: threading.Lock) -> None:
    """Copy ``source`` to ``sink`` line by line, each line after ``prefix``; when ``sink``
    is closed (``... | head``), keep reading so that the process never blocks on a full pipe."""
    for raw in iter(source.readline, b""):
        line = raw.decode("utf-8", errors="replace")
        with lock:
            try:
                sink.write(prefix + line if line.endswith("\n") else prefix + line + "\n")
                sink.flush()
            except (OSError, ValueError):
                pass
    source.close()


def _describe(returncode: int) -> str:
    if returncode < 0:
        return f"was killed by {signal.Signals(-returncode).name}"
    return f"exited with code {returncode}"


def _exit_code(returncode: int) -> int:
    """A shell's exit status for a child's return code (128 + N for death by signal N)."""
    return 128 - returncode if returncode < 0 else returncode


def launch(
    command: Sequence[str], nproc: int, *, port: int | None = None, grace: float = GRACE_S
) -> int:
    """Run ``command`` as ``nproc`` processes of one run and wait for all of them.

    Args:
        command: the program and its arguments, e.g. ``[sys.executable, "train.py"]``.
        nproc: how many processes.
        port: the coordinator's port on 127.0.0.1. Default: a free one.
        grace: seconds a process has to exit after SIGTERM before it is killed.

    Returns:
        0 when every process exits with 0; else the first failed process's exit code
        (128 + N for a process killed by signal N), or 128 + N when the launcher itself
        received signal N.
    """
    if nproc < 1:
        raise ValueError(f"jaxnn.distributed.launch: --nproc must be >= 1, got {nproc}")
    address = f"{HOST}:{port or free_port()}"
    procs: list[subprocess.Popen] = []
    for rank in range(nproc):
        env = {
            **os.environ,
            COORDINATOR_ADDRESS: address,
            NUM_PROCESSES: str(nproc),
            PROCESS_ID: str(rank),
            "PYTHONUNBUFFERED": "1",  # lines reach the launcher as they are printed
        }
        procs.append(
            subprocess.Popen(
                _with_parent_death(command),
                env=env,
                stdin=None if rank == 0 else subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                start_new_session=True,  # a signal reaches a process once, from the launcher
            )
        )
    lock = threading.Lock()
    readers = [
        threading.Thread(target=_stream, args=(pipe, sink, f"[{rank}] ", lock), daemon=True)
        for rank, p in enumerate(procs)
        for pipe, sink in ((p.stdout, sys.stdout), (p.stderr, sys.stderr))
    ]
    for reader in readers:
        reader.start()

    state = {"signal": None, "kill_at": None}

    def signal_all(sig: int) -> None:
        for p in procs:
            if p.poll() is None:
                try:
                    os.killpg(p.pid, sig)
                except ProcessLookupError:
                    pass

    def stop(sig: int) -> None:
        signal_all(sig)
        if state["kill_at"] is None:
            state["kill_at"] = time.monotonic() + grace

    def on_signal(signum: int, _frame: object) -> None:
        first = state["signal"] is None
        state["signal"] = signum
        stop(signum if first else signal.SIGKILL)  # a second Ctrl-C kills at once

    handlers = {}
    if threading.current_thread() is threading.main_thread():
        handlers = {sig: signal.signal(sig, on_signal) for sig in _FORWARDED}
    failed: tuple[int, int] | None = None
    try:
        while [p for p in procs if p.poll() is None]:  # a list: poll every process
            if failed is None and state["signal"] is None:
                failed = next(
                    ((r, p.returncode) for r, p in enumerate(procs) if p.returncode), None
                )
                if failed is not None:
                    rank, code = failed
                    with lock:
                        print(
                            f"jaxnn.distributed.launch: process {rank} {_describe(code)}; "
                            "stopping the others",
                            file=sys.stderr,
                            flush=True,
                        )
                    stop(signal.SIGTERM)
            if state["kill_at"] is not None and time.monotonic() > state["kill_at"]:
                signal_all(signal.SIGKILL)
            time.sleep(0.05)
    finally:
        signal_all(signal.SIGKILL)  # only if the launcher itself is failing
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
        for reader in readers:
            reader.join(timeout=5)
    if state["signal"] is not None:
        return 128 + state["signal"]
    if failed is None:
        failed = next(((r, p.returncode) for r, p in enumerate(procs) if p.returncode), None)
    return 0 if failed is None else _exit_code(failed[1])


def main(argv: list[str] | None = None) -> int:
    """The command line: ``jaxnn-launch --nproc N [--port P] [-m] SCRIPT [ARGS ...]``;
    returns :func:`launch`'s exit code.

    Args:
        argv: the arguments after the program name. Default: None (``sys.argv[1:]``).
    """
    p = argparse.ArgumentParser(
        prog="python -m jaxnn.distributed.launch",
        description="Run a script as N processes of one JAX run on this machine (torchrun's "
        "counterpart); the script calls jaxnn.distributed.initialize().",
    )
    p.add_argument("--nproc", "--nproc-per-node", type=int, required=True, help="processes")
    p.add_argument("--port", type=int, default=None, help="coordinator port (default: free)")
    p.add_argument("-m", "--module", action="store_true", help="SCRIPT is a module (python -m)")
    p.add_argument("script", help="the Python script (or module with -m) to run")
    p.add_argument("args", nargs=argparse.REMAINDER, help="its arguments")
    args = p.parse_args(argv)
    if args.nproc < 1:
        p.error(f"--nproc must be >= 1, got {args.nproc}")
    command = [sys.executable, *(["-m"] if args.module else []), args.script, *args.args]
    return launch(command, args.nproc, port=args.port)


if __name__ == "__main__":
    sys.exit(main())
