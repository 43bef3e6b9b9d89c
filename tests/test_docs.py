"""The documentation site: it builds in strict mode (a broken reference or a missing page
fails), and every module with public names has a reference page that lists them."""

from __future__ import annotations

import importlib
import pathlib
import re
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"


def _documented_modules() -> set[str]:
    pattern = re.compile(r"^<!-- api: ([\w.]+)", re.M)
    return {m for page in DOCS.rglob("*.md") for m in pattern.findall(page.read_text())}


def test_every_public_module_has_a_reference_page():
    from jaxnn import layers

    wanted = {family.__name__ for family in layers.FAMILIES} | {
        "jaxnn.losses",
        "jaxnn.functional",
        "jaxnn.init",
        "jaxnn.optim",
        "jaxnn.lr_scheduler",
        "jaxnn.models",
        "jaxnn.ops",
        "jaxnn.train",
        "jaxnn.steps",
        "jaxnn.distributed",
        "jaxnn.utils",
        "jaxnn.metrics",
        "jaxnn.parallel",
        "jaxnn.tensorboard",
        "jaxnn.data",
        "jaxnn.checkpoint",
        "jaxnn.state_dict",
        "jaxnn.introspect",
        "jaxnn.onnx",
        "jaxnn.compat",
    }
    wanted |= {
        f"jaxnn.compat.{path.stem}"
        for path in (ROOT / "compat").glob("*.py")
        if not path.stem.startswith("_")
        and path.stem not in ("cli", "torch_models", "torch_sequence_models")
    }
    assert wanted - _documented_modules() == set()
    for module in _documented_modules():
        assert importlib.import_module(module).__all__, module


def test_every_example_script_is_on_the_examples_page():
    page = (DOCS / "examples.md").read_text()
    listed = set(re.findall(r"^<!-- example: ([\w.]+) -->$", page, re.M))
    assert listed == {path.name for path in (ROOT / "examples").glob("*.py")}


@pytest.mark.slow
def test_site_builds_in_strict_mode(tmp_path):
    link = ROOT / "jaxnn" / "compat"
    linked_before = link.is_symlink()
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    assert link.is_symlink() == linked_before  # the build's link to compat/ is gone again
    reference = (tmp_path / "api" / "convolution" / "index.html").read_text()
    assert 'id="jaxnn.layers.conv.Conv2d"' in reference
    cli = (tmp_path / "cli" / "index.html").read_text()
    assert "jaxnn-compat export" in cli and "--model-kwargs" in cli


# What every docstring example may assume, as a reader of the reference does (the site's
# index says so); anything else an example uses, it defines or imports itself.
def _doctest_namespace() -> dict:
    import jax
    import jax.numpy as jnp
    import numpy as np
    import optax

    import jaxnn
    import jaxnn.functional as F
    from jaxnn import lr_scheduler, optim

    return {
        "jax": jax,
        "jnp": jnp,
        "np": np,
        "optax": optax,
        "jaxnn": jaxnn,
        "nn": jaxnn,
        "F": F,
        "optim": optim,
        "lr_scheduler": lr_scheduler,
    }


def _public_modules() -> list[str]:
    import pkgutil

    import jaxnn
    import jaxnn.compat

    names = ["jaxnn"]
    for package, prefix in ((jaxnn, "jaxnn."), (jaxnn.compat, "jaxnn.compat.")):
        for info in pkgutil.walk_packages(package.__path__, prefix):
            parts = info.name.split(".")[1:]
            if not any(p.startswith("_") for p in parts) and parts[-1] != "__main__":
                names.append(info.name)
    return names


@pytest.mark.parametrize("module_name", _public_modules())
def test_docstring_examples_run(module_name, tmp_path, monkeypatch):
    """Every ``>>>`` example in the module's docstrings runs and prints what it shows."""
    import doctest

    monkeypatch.chdir(tmp_path)  # an example that writes a file writes it here
    module = importlib.import_module(module_name)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    report: list[str] = []
    for test in doctest.DocTestFinder().find(module):
        if not test.examples or not test.name.startswith(module_name):
            continue  # names imported from elsewhere are tested where they are defined
        test.globs = {**vars(module), **_doctest_namespace()}
        runner.run(test, out=report.append)
    assert runner.failures == 0, "".join(report)
