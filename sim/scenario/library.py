"""The scenario library: the baseline and its variants, shipped inside the package.

The TOML files live in ``sim/scenarios/`` (package data, found with :mod:`importlib.resources`), so
``load_scenario("baseline")`` works after ``pip install`` from any working directory. A bare name
(no folder, no ``.toml``) is looked up here; anything else is a path, as before. In a clone of the
repository ``scenarios/`` is a link to the same folder.
"""

from __future__ import annotations

import difflib
import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path


@dataclass(frozen=True)
class LibraryEntry:
    """One scenario of the library: its name (the file's stem), file and the question it answers."""

    name: str
    path: Path
    question: str


class NotInLibrary(LookupError):
    """A bare name that is neither a library scenario nor a file; ``str()`` says what is there."""


def library_folder() -> Path:
    """The folder holding the library's TOML files (inside the installed package).

    Raise a RuntimeError if the package is not installed as plain files (e.g. imported from a zip).
    """
    folder = resources.files("sim") / "scenarios"
    if not isinstance(folder, Path):
        raise RuntimeError(f"the scenario library must be a folder on disk, not {folder!r}")
    return folder


def library_names() -> list[str]:
    """The names of the library's scenarios, sorted.

    Example:
        >>> "baseline" in library_names()
        True
    """
    return sorted(p.stem for p in library_folder().glob("*.toml"))


def is_name(text: str | Path) -> bool:
    """Whether ``text`` is a bare scenario name (no folder part, no ``.toml``) rather than a path."""
    text = str(text)
    has_folder = "/" in text or "\\" in text or text in (".", "..")
    return bool(text) and not has_folder and not text.endswith(".toml")


def resolve(path: str | Path, relative_to: Path | None = None) -> Path:
    """The file a scenario argument names: a library scenario for a bare name, else the path itself.

    A bare name that is not in the library but names an existing file (relative to
    ``relative_to``, or the working directory) is that file, so paths work as they always did.

    Args:
        path: A library name such as ``"baseline"``, or a path to a TOML file.
        relative_to: The folder a relative path is taken from (a parent's folder, for ``extends``).

    Raises:
        NotInLibrary: If a bare name is neither in the library nor an existing file; the message
            has a did-you-mean among the library's names.

    Example:
        >>> resolve("baseline").name
        'baseline.toml'
        >>> resolve("baselin")
        Traceback (most recent call last):
        ...
        sim.scenario.library.NotInLibrary: no scenario 'baselin' in the library; did you mean 'baseline'? ...
    """
    as_path = Path(path) if relative_to is None else relative_to / path
    if not is_name(path):
        return as_path
    candidate = library_folder() / f"{path}.toml"
    if candidate.is_file():
        return candidate
    if as_path.is_file():
        return as_path
    names = library_names()
    close = difflib.get_close_matches(str(path), names, n=1, cutoff=0.6)
    hint = f"; did you mean '{close[0]}'?" if close else ""
    raise NotInLibrary(
        f"no scenario '{path}' in the library{hint} (the library: {', '.join(names)}; "
        "a file needs its .toml or a folder, e.g. ./my_scenario.toml)"
    )


def library() -> list[LibraryEntry]:
    """Every library scenario with the first sentence of its ``description``, sorted by name.

    Reads the files' own text only (no validation), so listing stays fast; a variant without a
    description of its own shows its parent's.

    Example:
        >>> [e.name for e in library()][:2]
        ['airport_reopens', 'baseline']
        >>> library()[1].question.startswith("Forecast from 2024-03-14")
        True
    """
    entries = []
    for name in library_names():
        path = library_folder() / f"{name}.toml"
        entries.append(LibraryEntry(name, path, _first_sentence(_description(path))))
    return entries


def _description(path: Path, depth: int = 0) -> str:
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    text = data.get("description")
    parent = data.get("extends")
    if not text and isinstance(parent, str) and depth < 10:
        return _description(resolve(parent, relative_to=path.parent), depth + 1)
    return str(text or "")


def _first_sentence(text: str) -> str:
    """The first sentence of a description, on one line."""
    flat = " ".join(text.split())
    for i, char in enumerate(flat):
        # A sentence ends at '.', '?' or '!' followed by a space or the end (not inside '2.5' or 'e.g.').
        if char in ".?!" and (i + 1 == len(flat) or flat[i + 1] == " ") and not flat[max(0, i - 3): i + 1].endswith(
            ("e.g.", "i.e.")
        ):
            return flat[: i + 1]
    return flat
