"""Run one example script and store what it prints as its transcript on the examples page.

    python docs/record_example.py examples/train.py --epochs 10
    python docs/record_example.py --tfds-mock 64 examples/mnist_mlp.py --epochs 2

writes docs/examples/NAME.txt: the command line, then stdout and stderr as a terminal
shows them (a progress bar that erases itself leaves nothing behind). The script runs
from the repository root on this checkout's jaxnn. ``--tfds-mock N`` runs it on TFDS's
mock data (N random examples of the right shapes per split, as tests/test_examples.py
does) for a dataset this machine does not have; say so next to the transcript.
"""

from __future__ import annotations

import argparse
import os
import shlex
import subprocess
import sys
import time

from hooks import ROOT, transcript_path  # where the examples page reads transcripts from

# runs argv[1] as __main__ inside TFDS's mock data (the test suite's policy)
_MOCKED = """
import runpy, sys
import tensorflow_datasets as tfds
n, sys.argv = int(sys.argv[1]), sys.argv[2:]
with tfds.testing.mock_data(num_examples=n, policy=tfds.testing.MockPolicy.USE_CODE):
    runpy.run_path(sys.argv[0], run_name="__main__")
"""


def as_shown(raw: str) -> str:
    r"""What a terminal shows for ``raw``: each ``\r`` returns to the line's start and
    what follows overwrites it; trailing blanks and blank last lines are dropped."""
    lines = []
    for line in raw.split("\n"):
        shown = ""
        for part in line.split("\r"):
            shown = part + shown[len(part) :]
        lines.append(shown.rstrip())
    while lines and not lines[-1]:
        lines.pop()
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tfds-mock", type=int, metavar="N", help="run on N mock examples a split")
    p.add_argument("script", help="examples/NAME.py")
    p.add_argument("args", nargs=argparse.REMAINDER, help="the script's flags")
    args = p.parse_args(argv)

    command = [args.script, *args.args]
    if args.tfds_mock is not None:
        command = ["-c", _MOCKED, str(args.tfds_mock), *command]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}  # stdout and stderr in the order written
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    started = time.perf_counter()
    run = subprocess.run(
        [sys.executable, *command],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        check=False,
    )  # bytes: text mode would turn each \r into a new line
    seconds = time.perf_counter() - started
    path = transcript_path(args.script)
    command_line = shlex.join(["python", args.script, *args.args])
    path.write_text(f"$ {command_line}\n" + as_shown(run.stdout.decode()), encoding="utf-8")
    print(f"{path.relative_to(ROOT)}: exit {run.returncode}, {seconds:.1f} s")
    return run.returncode


if __name__ == "__main__":
    sys.exit(main())
