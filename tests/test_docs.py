"""The documentation site: it builds in strict mode (a broken reference or a missing page
fails), every module with public names has a reference page that lists them, every
docstring example runs, and every public name and each of its arguments is documented."""

from __future__ import annotations

import ast
import dataclasses
import importlib
import importlib.util
import inspect
import pathlib
import re
import shlex
import shutil
import subprocess
import sys
from typing import Any, NamedTuple

import pytest
from flax import linen

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


def _docs_module(name: str):
    """A helper script under docs/ (hooks.py, plot_curves.py), imported from its file."""
    spec = importlib.util.spec_from_file_location(f"docs_{name}", DOCS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(DOCS))  # record_example.py imports hooks as a sibling
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(DOCS))
    return module


_FLAG = re.compile(r"(?<![\w-])--?[A-Za-z][\w-]*")


def test_every_example_has_a_recorded_run_with_flags_it_still_takes():
    """Each script's transcript starts with the command it ran, and every flag in that
    command is one the script's --help lists: a renamed flag fails here instead of
    leaving a transcript nobody can reproduce."""
    hooks = _docs_module("hooks")
    scripts = {path.name for path in (ROOT / "examples").glob("*.py")}
    page = (DOCS / "examples.md").read_text()
    assert set(re.findall(r"^<!-- output: ([\w.]+) -->$", page, re.M)) == scripts
    for script in sorted(scripts):
        first, *output = hooks.transcript_path(script).read_text(encoding="utf-8").splitlines()
        dollar, python, path, *argv = shlex.split(first)
        assert (dollar, python, path) == ("$", "python", f"examples/{script}"), first
        assert any(line.strip() for line in output), f"{script}: nothing recorded"
        listed = set(_FLAG.findall(hooks.example_help(script)[1]))
        used = {arg.split("=")[0] for arg in argv if _FLAG.fullmatch(arg.split("=")[0])}
        assert used - listed == set(), f"{script}: --help does not list {used - listed}"


def test_examples_page_pictures_exist_and_the_curves_are_the_recorded_run():
    page = (DOCS / "examples.md").read_text()
    images = re.findall(r"!\[[^\]]+\]\(([^)\s]+)\)", page)
    assert {"examples/train_curves.svg", "examples/dcgan_samples.png"} <= set(images)
    for image in images:
        assert (DOCS / image).is_file(), image
    grid = (DOCS / "examples" / "dcgan_samples.png").read_bytes()
    assert grid.startswith(b"\x89PNG\r\n\x1a\n") and len(grid) < 200_000
    # the committed SVG is what docs/plot_curves.py draws from train.py's transcript
    plot = _docs_module("plot_curves")
    transcript = (DOCS / "examples" / "train.txt").read_text(encoding="utf-8")
    assert [r["epoch"] for r in plot.epochs(transcript)] == list(range(1, 11))
    svg = (DOCS / "examples" / "train_curves.svg").read_text(encoding="utf-8")
    assert svg == plot.curves_svg(transcript)


def test_record_example_keeps_what_a_terminal_shows():
    record = _docs_module("record_example")
    drawn = "epoch 1/2:  50%|#    | 1/2"
    bar = f"\r{drawn}\r{' ' * len(drawn)}\r"  # tqdm draws, then clears with blanks
    raw = f"start\n{bar}epoch 1/2: loss 0.5\n\rdone  \n\n\n"
    assert record.as_shown(raw) == "start\nepoch 1/2: loss 0.5\ndone\n"
    assert record.as_shown("table\n\nsecond\n") == "table\n\nsecond\n"  # blank lines kept


def test_examples_page_builds_with_transcripts_and_pictures(tmp_path):
    """The examples page alone, built strictly with the site's hooks and Markdown
    extensions: its HTML holds every transcript and both pictures."""
    import html

    import yaml

    hooks = _docs_module("hooks")
    docs = tmp_path / "docs"
    shutil.copytree(DOCS / "examples", docs / "examples")
    shutil.copy(DOCS / "examples.md", docs / "examples.md")
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text())
    config.update(
        docs_dir=str(docs),
        site_dir=str(tmp_path / "site"),
        nav=[{"Examples": "examples.md"}],
        plugins=["search"],
        hooks=[str(DOCS / "hooks.py")],
    )
    config.pop("exclude_docs")
    (tmp_path / "mkdocs.yml").write_text(yaml.safe_dump(config))
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(tmp_path / "mkdocs.yml")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    built = (tmp_path / "site" / "examples" / "index.html").read_text(encoding="utf-8")
    text = html.unescape(re.sub(r"<[^>]+>", "", built))
    for script in sorted(path.name for path in (ROOT / "examples").glob("*.py")):
        transcript = hooks.transcript_path(script).read_text(encoding="utf-8").rstrip()
        assert transcript in text, script
    assert '<img alt="Loss and accuracy per epoch' in built and 'src="train_curves.svg"' in built
    assert 'src="dcgan_samples.png"' in built
    assert (tmp_path / "site" / "examples" / "dcgan_samples.png").is_file()


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
    activations = (tmp_path / "api" / "activations" / "index.html").read_text()
    assert "Args: as <code>ReLU</code>" in activations  # a Sphinx role reads as code
    assert ":class:" not in activations


def test_the_reference_shows_sphinx_roles_as_code():
    pytest.importorskip("griffe")
    spec = importlib.util.spec_from_file_location("griffe_flax", DOCS / "griffe_flax.py")
    extension = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(extension)
    code = extension.code_for_roles
    assert code("x * sigmoid(x). Args: as :class:`ReLU`.") == "x * sigmoid(x). Args: as `ReLU`."
    assert code(":func:`~jaxnn.state_dict.bits_equal` and :mod:`jaxnn.core`") == (
        "`bits_equal` and `jaxnn.core`"
    )
    assert code(":data:`LEAF_RULES`, :meth:`blocks`") == "`LEAF_RULES`, `blocks`"
    assert code("``dim`` and `x`, no role") == "``dim`` and `x`, no role"


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
    return list(dict.fromkeys(names))  # jaxnn.compat is reached twice where it is linked in


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


# --- every public name and argument documented ------------------------------------------

# Google-style sections that document arguments. An entry is one name: ``name: text``,
# ``name (type): text``, ``*args: text``, ``**kwargs: text``. ``Args: as :class:`X`.``
# (on its own line or after a sentence) documents them as X's docstring does.
_ARG_TITLES = ("Args", "Arguments", "Parameters", "Keyword Args", "Keyword Arguments")
_TITLES = "|".join((*_ARG_TITLES, "Attributes"))  # Attributes: a dataclass's fields
_SECTION = re.compile(rf"^(?P<indent> *)(?P<title>{_TITLES}):")
_ENTRY = re.compile(r"^(?P<name>\*{0,2}\w+)(?: \([^)]*\))?:(?:\s|$)")
_DELEGATE = re.compile(
    rf"(?<![\w])(?P<title>{_TITLES}): as\s+:(?:class|func|meth|obj):`~?(?P<target>[\w.]+)`"
)


def _own_docstring(obj) -> str:
    """The object's own docstring: not a base class's, nor the ``Name(field, ...)`` line
    that dataclasses and NamedTuples write for a class without one."""
    doc = inspect.cleandoc(
        (vars(obj).get("__doc__") if inspect.isclass(obj) else obj.__doc__) or ""
    )
    if inspect.isclass(obj) and re.fullmatch(rf"{obj.__name__}\(.*\)", doc, re.S):
        return ""
    return doc


def _arguments(obj) -> list[str]:
    """What a caller passes: a function's parameters or a class's constructor arguments
    (without a Flax module's ``parent`` and ``name``), ``*args`` / ``**kwargs`` starred."""
    try:
        signature = inspect.signature(obj)
    except ValueError:  # a builtin's constructor: an exception class that keeps its base's
        return []
    plumbing = ("parent", "name") if inspect.isclass(obj) and issubclass(obj, linen.Module) else ()
    stars = {inspect.Parameter.VAR_POSITIONAL: "*", inspect.Parameter.VAR_KEYWORD: "**"}
    return [
        stars.get(p.kind, "") + p.name
        for p in signature.parameters.values()
        if p.name not in plumbing
    ]


def _entries(doc: str) -> dict[str, list[str | None]]:
    """The entry names of each argument-like section, by title (None for an entry line
    that is not ``name: text``)."""
    lines = doc.splitlines()
    sections: dict[str, list[str | None]] = {}
    for i, line in enumerate(lines):
        if not (header := _SECTION.match(line)):
            continue
        entries = sections.setdefault(header["title"], [])
        entry_indent = None
        for body in lines[i + 1 :]:
            if not body.strip():
                continue
            indent = len(body) - len(body.lstrip())
            if indent <= len(header["indent"]):
                break
            entry_indent = entry_indent or indent
            if indent == entry_indent:  # deeper lines continue an entry
                entry = _ENTRY.match(body.lstrip())
                entries.append(entry["name"] if entry else None)
    return sections


def _resolve(owner, dotted: str):
    """What ``dotted`` names, seen from ``owner``'s module, or absolute; None if nothing."""
    head, *rest = dotted.split(".")
    namespace = vars(sys.modules[owner.__module__])
    if head in namespace:
        target = namespace[head]
    else:
        for cut in range(len(rest), -1, -1):  # the longest importable prefix
            try:
                target = importlib.import_module(".".join([head, *rest[:cut]]))
            except ImportError:
                continue
            rest = rest[cut:]
            break
        else:
            return None
    for part in rest:
        target = getattr(target, part, None)
    return target


def _documented(obj, titles: tuple[str, ...], problems: list[str], seen=()) -> set[str]:
    """The names the ``titles`` sections of ``obj``'s docstring document, following
    ``Args: as :class:`X```; problems with the sections go to ``problems``."""
    doc = _own_docstring(obj)
    names: set[str] = set()
    for title, entries in _entries(doc).items():
        if title in titles:
            if None in entries:
                problems.append(f"{title}: an entry is not `name: text` (one name per entry)")
            names |= {entry for entry in entries if entry}
    for delegate in _DELEGATE.finditer(doc):
        target = _resolve(obj, delegate["target"])
        if target is None:
            problems.append(f"{delegate['title']}: as {delegate['target']}, which is not found")
        elif delegate["title"] in titles and target not in seen:
            names |= _documented(target, titles, problems, (*seen, obj))
    return names


class _Constant(NamedTuple):
    """A name a module assigns (a constant, a type alias) and the string literal that
    follows the assignment, its docstring ("" for none)."""

    docstring: str


def _assigned(module) -> dict[str, _Constant]:
    """Each name the module assigns at top level."""
    body = ast.parse(inspect.getsource(module)).body
    found = {}
    for stmt, after in zip(body, [*body[1:], None]):
        if not isinstance(stmt, (ast.Assign, ast.AnnAssign)):
            continue
        docstring = ""
        if isinstance(after, ast.Expr) and isinstance(after.value, ast.Constant):
            docstring = after.value.value if isinstance(after.value.value, str) else ""
        targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
        for node in (node for target in targets for node in ast.walk(target)):
            if isinstance(node, ast.Name):
                found[node.id] = _Constant(docstring)
    return found


def _public_names() -> dict[str, Any]:
    """Every public module, and every name in one's ``__all__``, once: by its path in the
    module that defines it when that module exports it, else in the first that does (a
    constant: in the module that assigns it)."""
    modules = {name: importlib.import_module(name) for name in _public_modules()}
    exported = [
        (module_name, attr, getattr(module, attr))
        for module_name, module in modules.items()
        for attr in getattr(module, "__all__", ())
    ]
    at_home = {id(obj) for name, _, obj in exported if getattr(obj, "__module__", None) == name}
    names: dict[str, Any] = dict(modules)
    seen: set[int] = set()
    for module_name, attr, obj in exported:
        if inspect.isclass(obj) or inspect.isfunction(obj):
            if id(obj) in seen or (id(obj) in at_home and obj.__module__ != module_name):
                continue
            seen.add(id(obj))
            names[f"{module_name}.{attr}"] = obj
        elif not inspect.ismodule(obj):
            constant = _assigned(modules[module_name]).get(attr)
            if constant is not None:  # else imported: it is checked where it is assigned
                names[f"{module_name}.{attr}"] = constant
    return names


def _undocumented(names: dict[str, object]) -> dict[str, list[str]]:
    """What each name lacks: a docstring; an entry for each argument (or, for a plain
    dataclass or a NamedTuple, for each field under Attributes); an entry that names no
    argument; a section that cannot be read."""
    problems = {}
    for path, obj in names.items():
        if isinstance(obj, _Constant):
            if not obj.docstring.strip():
                problems[path] = ["no docstring (a string literal after the assignment)"]
            continue
        if not _own_docstring(obj):
            problems[path] = ["no docstring"]
            continue
        if inspect.ismodule(obj):
            continue
        found: list[str] = []
        titles = _ARG_TITLES
        sections = _entries(_own_docstring(obj))
        own = {entry for title in titles for entry in sections.get(title, ()) if entry}
        if inspect.isclass(obj) and not issubclass(obj, linen.Module):
            if dataclasses.is_dataclass(obj) or hasattr(obj, "_fields"):
                titles += ("Attributes",)
        documented = _documented(obj, titles, found)
        arguments = _arguments(obj)
        found += [f"{name} undocumented" for name in arguments if name not in documented]
        found += [f"{name} is not an argument" for name in sorted(own - set(arguments))]
        if found:
            problems[path] = found
    return problems


def test_every_public_name_and_argument_is_documented():
    problems = _undocumented(_public_names())
    report = [f"{path}: {'; '.join(found)}" for path, found in problems.items()]
    assert not report, f"{len(report)} public names:\n" + "\n".join(report)


class _Documented(NamedTuple):
    """A state.

    Attributes:
        count: steps.
    """

    count: int
    total: int


def _plain(a: int, *rest: int, b: int = 1, **options: int) -> None:
    """Something.

    Args:
        a: one.
        rest: without its star.
        b (int): typed, and continued
            on a deeper line: not an entry.
        c: not an argument.
    """


def _delegating(a: int, b: int = 1) -> None:
    """Something else. Args: as :func:`_plain`."""


def _lost(a: int) -> None:
    """Args: as :func:`_nowhere`."""


def _combined(a: int, b: int) -> None:
    """Two.

    Args:
        a, b: two names in one entry.
    """


class _Layer(linen.Module):
    """A layer.

    Args:
        features: documented; Flax's ``parent`` and ``name`` need not be.
    """

    features: int
    bias: bool = True


class _Error(ValueError):
    """An error that keeps ValueError's constructor: nothing to document."""


class _Undocumented(NamedTuple):
    count: int


def test_the_documentation_check_reads_google_style_sections():
    names = {
        "state": _Documented,
        "plain": _plain,
        "delegating": _delegating,
        "lost": _lost,
        "combined": _combined,
        "layer": _Layer,
        "error": _Error,
        "bare": _Undocumented,
        "CONSTANT": _Constant(""),
        "DOCUMENTED": _Constant("What it is."),
    }
    assert _undocumented(names) == {
        "state": ["total undocumented"],
        "plain": [
            "*rest undocumented",
            "**options undocumented",
            "c is not an argument",
            "rest is not an argument",
        ],
        "lost": ["Args: as _nowhere, which is not found", "a undocumented"],
        "combined": [
            "Args: an entry is not `name: text` (one name per entry)",
            "a undocumented",
            "b undocumented",
        ],
        "layer": ["bias undocumented"],
        "bare": ["no docstring"],
        "CONSTANT": ["no docstring (a string literal after the assignment)"],
    }
