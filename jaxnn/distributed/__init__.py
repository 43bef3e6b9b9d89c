"""More than one process: ``torch.distributed``'s start-up for JAX.

A script that may run as several processes calls :func:`initialize` before any other JAX
work::

    import jaxnn.distributed
    jaxnn.distributed.initialize()      # no-op (returns 1) when started as one process
    parallel = jaxnn.train.DataParallel()   # every device of every process

and is started by the launcher (:mod:`jaxnn.distributed.launch`, torchrun's counterpart)::

    python -m jaxnn.distributed.launch --nproc 2 train.py --epochs 5

The launcher gives each process three environment variables: :data:`COORDINATOR_ADDRESS`
(``host:port`` of process 0's coordinator), :data:`NUM_PROCESSES` and :data:`PROCESS_ID`.
On several machines, set the same three on each by hand (the address of machine 0, reachable
from the others) or run under a cluster manager that ``jax.distributed.initialize()`` detects
by itself (SLURM, Open MPI, TPU pods, Kubernetes).
"""

from __future__ import annotations

import os
import socket
import time

__all__ = ["COORDINATOR_ADDRESS", "NUM_PROCESSES", "PROCESS_ID", "initialize"]

COORDINATOR_ADDRESS = "JAXNN_COORDINATOR_ADDRESS"
"""Environment variable: ``host:port`` where process 0 runs the coordinator."""
NUM_PROCESSES = "JAXNN_NUM_PROCESSES"
"""Environment variable: how many processes take part."""
PROCESS_ID = "JAXNN_PROCESS_ID"
"""Environment variable: this process's index, 0 to ``NUM_PROCESSES - 1``."""

_LOOPBACK = ("127.0.0.1", "localhost", "::1", "[::1]")
# what jax.distributed.initialize raises when it finds neither arguments nor a cluster
_NO_CLUSTER = "coordinator_address should be defined"


def initialize(*, timeout: float = 300.0) -> int:
    """Join this process to the others of its run; ``torch.distributed.init_process_group``.

    Reads the launcher's environment (:data:`COORDINATOR_ADDRESS`, :data:`NUM_PROCESSES`,
    :data:`PROCESS_ID`). Without it, calls ``jax.distributed.initialize()``, which detects
    SLURM, Open MPI, TPU pods and Kubernetes by itself; when it finds none of them either,
    the process runs alone and nothing is done. On CPU the processes' collectives go over
    gloo. Call it once, before any other JAX work; a second call returns at once.

    Args:
        timeout: seconds to wait for the coordinator (and, on process 0, for the others to
            join). Default: 300.

    Returns:
        the number of processes (``jax.process_count()``).

    Raises:
        ConnectionError: the coordinator did not answer within ``timeout`` (process 0 is
            not running, or the address is wrong or unreachable from this machine).
        OSError: on process 0, the coordinator's port is already in use.
        ValueError: the launcher's environment is incomplete or inconsistent.

    Example, at the top of a training script, before anything else uses JAX::

        n = jaxnn.distributed.initialize()  # 1 when not launched with several processes
        loader = DataLoader(data, batch_size=64, shuffle=True, drop_last=True,
                            num_shards=n, shard_index=jax.process_index())
    """
    import jax

    if jax.distributed.is_initialized():
        return jax.process_count()
    if jax.config.jax_cpu_collectives_implementation in (None, "none"):
        jax.config.update("jax_cpu_collectives_implementation", "gloo")  # older jax: off
    if COORDINATOR_ADDRESS not in os.environ:
        try:
            jax.distributed.initialize(initialization_timeout=int(timeout))
        except ValueError as e:
            if _NO_CLUSTER not in str(e):
                raise
            return 1  # no launcher, no cluster: one process
        return jax.process_count()

    address, num_processes, process_id = _from_environment()
    host, port = _split(address)
    where = f"jaxnn.distributed.initialize (process {process_id} of {num_processes})"
    if process_id == 0:
        _check_port_free(host, port, where)
    else:
        _wait_for(host, port, timeout, where)
    jax.distributed.initialize(
        coordinator_address=address,
        num_processes=num_processes,
        process_id=process_id,
        initialization_timeout=int(timeout),
        # a local run listens on loopback only; a multi-machine one on every interface
        coordinator_bind_address=address if host in _LOOPBACK else None,
    )
    return jax.process_count()


def _from_environment() -> tuple[str, int, int]:
    missing = [name for name in (NUM_PROCESSES, PROCESS_ID) if name not in os.environ]
    if missing:
        raise ValueError(
            f"jaxnn.distributed.initialize: {COORDINATOR_ADDRESS} is set but {', '.join(missing)} "
            "is not; start the processes with python -m jaxnn.distributed.launch, or set all three"
        )
    try:
        num_processes, process_id = int(os.environ[NUM_PROCESSES]), int(os.environ[PROCESS_ID])
    except ValueError:
        raise ValueError(
            f"jaxnn.distributed.initialize: {NUM_PROCESSES}={os.environ[NUM_PROCESSES]!r} and "
            f"{PROCESS_ID}={os.environ[PROCESS_ID]!r} must be integers"
        ) from None
    if not 0 <= process_id < num_processes:
        raise ValueError(
            f"jaxnn.distributed.initialize: need 0 <= {PROCESS_ID} < {NUM_PROCESSES}, got "
            f"{process_id} and {num_processes}"
        )
    return os.environ[COORDINATOR_ADDRESS], num_processes, process_id


def _split(address: str) -> tuple[str, int]:
    host, sep, port = address.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise ValueError(
            f"jaxnn.distributed.initialize: {COORDINATOR_ADDRESS}={address!r} is not host:port"
        )
    return host, int(port)


def _check_port_free(host: str, port: int, where: str) -> None:
    """Fail with a clear error where the coordinator would otherwise crash the process
    (jax's gRPC server cannot bind a used port and aborts)."""
    family = socket.AF_INET6 if ":" in host.strip("[]") else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host.strip("[]"), port))
        except OSError as e:
            raise OSError(
                e.errno,
                f"{where}: cannot start the coordinator on {host}:{port}: {e.strerror}; "
                "choose another port (the launcher picks a free one unless given --port)",
            ) from None


def _wait_for(host: str, port: int, timeout: float, where: str) -> None:
    """Wait until the coordinator accepts connections: jax's own client aborts the whole
    process when it cannot connect, this raises instead."""
    deadline = time.monotonic() + timeout
    last: OSError | None = None
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host.strip("[]"), port), timeout=1.0):
                return
        except OSError as e:
            last = e
            time.sleep(0.1)
    raise ConnectionError(
        f"{where}: cannot reach the coordinator at {host}:{port} within {timeout:g} s "
        f"({(last.strerror or str(last)) if last else 'timed out'}); is process 0 running, and is "
        f"{COORDINATOR_ADDRESS} an address of its machine reachable from this one?"
    )
