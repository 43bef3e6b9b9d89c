"""MkDocs hooks: pages name modules, the build lists what is in them.

* ``<!-- api: MODULE [classes|functions] -->`` becomes a mkdocstrings entry for every
  public name of ``MODULE`` (its ``__all__``), so a new layer, loss or function appears in
  the reference without anyone retyping it.
* ``<!-- cli -->`` becomes the help of ``jaxnn-compat`` and each subcommand, printed by its
  argparse parser.
* ``<!-- example: SCRIPT -->`` becomes the script's docstring and its ``--help``.
* ``<!-- output: SCRIPT -->`` becomes the script's recorded run, docs/examples/NAME.txt:
  the command line, then what it printed (``docs/record_example.py`` writes these).
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import inspect
import io
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
API = re.compile(r"^<!-- api: (?P<module>[\w.]+)(?: (?P<kind>classes|functions))? -->$", re.M)
CLI = re.compile(r"^<!-- cli -->$", re.M)
EXAMPLE = re.compile(r"^<!-- example: (?P<script>[\w.]+) -->$", re.M)
OUTPUT = re.compile(r"^<!-- output: (?P<script>[\w.]+) -->$", re.M)
TRANSCRIPTS = ROOT / "docs" / "examples"


def public_names(module_name: str, kind: str | None = None) -> list[str]:
    """The public names of a module, optionally only its classes or only the rest."""
    module = importlib.import_module(module_name)
    names = []
    for name in module.__all__:
        value = getattr(module, name)
        if inspect.ismodule(value) or _is_type_alias(value):
            continue
        if kind == "classes" and not inspect.isclass(value):
            continue
        if kind == "functions" and inspect.isclass(value):
            continue
        names.append(name)
    return names


def _is_type_alias(value) -> bool:
    """``Initializer = Callable[...]``: documented where it is used, not as an entry."""
    return type(value).__module__ in ("typing", "types", "collections.abc") and not inspect.isclass(
        value
    )


def _api(match: re.Match) -> str:
    module, kind = match["module"], match["kind"]
    return "\n\n".join(_entry(f"{module}.{name}") for name in public_names(module, kind))


def _entry(path: str) -> str:
    return f"::: {path}"


def _help(parser) -> str:
    return "```text\n" + parser.format_help().rstrip() + "\n```"


def _cli(_: re.Match) -> str:
    from jaxnn.compat.cli import build_parser

    parser = build_parser()
    parts = ["## jaxnn-compat", _help(parser)]
    for name, sub in parser.subcommands.items():
        parts += [f"## jaxnn-compat {name}", _help(sub)]
    return "\n\n".join(parts)


def example_help(script: str) -> tuple[str, str]:
    """The docstring of ``examples/SCRIPT`` and what its ``--help`` prints."""
    path = ROOT / "examples" / script
    spec = importlib.util.spec_from_file_location(f"docs_example_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.suppress(SystemExit):
        argv, sys.argv = sys.argv, [script, "--help"]
        try:
            module.main(["--help"]) if _takes_argv(module.main) else module.main()
        finally:
            sys.argv = argv
    return inspect.cleandoc(module.__doc__ or ""), out.getvalue().rstrip()


def _example(match: re.Match) -> str:
    doc, usage = example_help(match["script"])
    return f"{doc}\n\n```text\n$ python examples/{match['script']} --help\n{usage}\n```"


def transcript_path(script: str) -> Path:
    """Where the recorded run of ``examples/SCRIPT`` is kept."""
    return TRANSCRIPTS / f"{Path(script).stem}.txt"


def _output(match: re.Match) -> str:
    text = transcript_path(match["script"]).read_text(encoding="utf-8").rstrip()
    # a fence longer than any run of backticks the output has (a generated sample may)
    fence = "`" * max(3, 1 + max(map(len, re.findall("`+", text)), default=0))
    return f"{fence}text\n{text}\n{fence}"


def _takes_argv(main) -> bool:
    return len(inspect.signature(main).parameters) > 0


# jaxnn.compat is installed from compat/ (pyproject's package-dir); the reference's static
# analysis looks for it under jaxnn/, so the build links it there while it runs
_COMPAT_LINK = ROOT / "jaxnn" / "compat"
_linked = False


def on_pre_build(config) -> None:
    global _linked
    if not _COMPAT_LINK.exists():
        _COMPAT_LINK.symlink_to(Path("..") / "compat", target_is_directory=True)
        _linked = True


def on_post_build(config) -> None:
    global _linked
    if _linked and _COMPAT_LINK.is_symlink():
        _COMPAT_LINK.unlink()
        _linked = False


def on_build_error(error) -> None:
    on_post_build(None)


def on_page_markdown(markdown: str, page, config, files) -> str:
    markdown = API.sub(_api, markdown)
    markdown = CLI.sub(_cli, markdown)
    markdown = EXAMPLE.sub(_example, markdown)
    return OUTPUT.sub(_output, markdown)
