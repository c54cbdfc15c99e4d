"""Generate the site's derived pages at build time (run by mkdocs-gen-files from ``mkdocs.yml``).

- ``reference/``: one page per module of the documented layers, rendered by mkdocstrings from the
  docstrings, and a ``SUMMARY.md`` for literate-nav; the package page lists ``sim``'s exports.
- ``cli.md``: ``deploysim --help`` and each subcommand's ``--help``, as the parser prints them.
- ``readme.md``: the repository's README with its links made relative to the site.
"""

from __future__ import annotations

import argparse
import importlib
import io
import os
import pkgutil
import re
from contextlib import redirect_stdout
from pathlib import Path

import mkdocs_gen_files

ROOT = Path(__file__).resolve().parents[2]
#: The layers whose modules get a reference page (the command line is documented by cli.md).
LAYERS = ("sim.scenario", "sim.model", "sim.batch", "sim.analysis", "sim.output")


def modules(package: str) -> list[str]:
    """The package and its public submodules, in file-name order."""
    mod = importlib.import_module(package)
    names = [package]
    for info in sorted(pkgutil.iter_modules(mod.__path__), key=lambda i: i.name):
        if not info.name.startswith("_"):
            names.append(f"{package}.{info.name}")
    return names


def page_of(module: str) -> str:
    return "reference/" + "/".join(module.split(".")[1:] or ["index"]) + ".md"


def reference() -> None:
    import sim

    nav = mkdocs_gen_files.Nav()
    lines = [
        "# sim",
        "",
        "The public API, importable from `sim` (each name is loaded on first use, so `import sim` stays",
        "cheap). Every name links to its reference; modules are grouped by layer in the navigation.",
        "",
        "| Name | Defined in |",
        "|---|---|",
    ]
    for name in sim.__all__:
        obj = getattr(sim, name)
        home = getattr(obj, "__module__", None) or sim._EXPORTS[name]
        if not isinstance(obj, type) and not callable(obj):
            home = sim._EXPORTS[name]
        target = page_of(home).removeprefix("reference/")
        # Functions and classes have an anchor of their own; constants are described on their module's page.
        anchor = f"#{home}.{name}" if callable(obj) else ""
        lines.append(f"| [`{name}`]({target}{anchor}) | `{home}` |")
    lines += ["", "::: sim", "    options:", "      members: false", "      show_root_heading: false", ""]
    with mkdocs_gen_files.open("reference/index.md", "w") as f:
        f.write("\n".join(lines))
    nav[("sim",)] = "index.md"
    for layer in LAYERS:
        for module in modules(layer):
            page = page_of(module)
            parts = tuple(module.split("."))
            nav[parts] = page.removeprefix("reference/")
            with mkdocs_gen_files.open(page, "w") as f:
                f.write(f"# {module}\n\n::: {module}\n")
    with mkdocs_gen_files.open("reference/SUMMARY.md", "w") as f:
        f.writelines(nav.build_literate_nav())


def cli() -> None:
    from sim.commands.main import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    lines = [
        "# Command line",
        "",
        "`deploysim` (also `python -m sim`). A scenario argument is a library name (`baseline`; see",
        "`deploysim scenarios`) or a path to a TOML file. Errors in what you ask for print one line per",
        "problem and exit with code 2. This page is generated from the parser: it is what `--help` prints.",
        "",
        "## deploysim",
        "",
        "```text",
        _help(parser),
        "```",
    ]
    for name, command in sub.choices.items():
        lines += ["", f"## deploysim {name}", "", "```text", _help(command), "```"]
    with mkdocs_gen_files.open("cli.md", "w") as f:
        f.write("\n".join(lines) + "\n")


def _help(parser: argparse.ArgumentParser) -> str:
    out = io.StringIO()
    # A fixed width, so the page does not depend on the terminal that built it.
    os.environ["COLUMNS"] = "100"
    with redirect_stdout(out):
        parser.print_help()
    return out.getvalue().rstrip()


def readme() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    # Links into docs/ become links within the site; other repository paths stay as code.
    text = re.sub(r"\]\(docs/", "](", text)
    with mkdocs_gen_files.open("readme.md", "w") as f:
        f.write(text)


reference()
cli()
readme()
