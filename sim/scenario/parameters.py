"""The parameter table of a scenario: every value with its unit and where it comes from.

Scenario files give each value a comment with its source or the reasoning behind it (``# facts
2024-02-22: ...``, ``# judgement: ...``). :func:`parameter_table` reads those comments with
``tomlkit`` (which keeps them), following ``extends`` so that an inherited value carries its own
file's comment, and lists every value of the resolved scenario with its key, value, unit (from the
key's name) and source. ``deploysim show --table`` prints it; the report can embed it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sim.scenario.loader import extends_chain, load_scenario, override_keys
from sim.scenario.toml import toml_value
from sim.scenario.walk import leaves

if TYPE_CHECKING:
    import pandas as pd

#: Units read from the end of a key's name, longest suffix first.
UNIT_SUFFIXES = (
    ("_per_officer_year", "per officer-year"),
    ("_per_year", "per year"),
    ("_per_flight", "per flight"),
    ("_officers", "officers"),
    ("_days", "days"),
    ("_usd", "US$"),
    ("_probability", "probability (0-1)"),
    ("_share", "share (0-1)"),
    ("_multiplier", "factor"),
    ("_on", "date"),
    ("_date", "date"),
)

#: Columns of :func:`parameter_table`, in order.
COLUMNS = ("key", "value", "unit", "basis", "source", "file")

_FACT = re.compile(r"\bfacts?\b|\bsources?\b|https?://|\bresolution\b", re.IGNORECASE)
_JUDGEMENT = re.compile(r"\bjudge?ments?\b", re.IGNORECASE)


def unit_of(key: str) -> str:
    """The unit a key's name states: ``funding.runway_days`` -> ``days``; ``""`` when it states none.

    Example:
        >>> unit_of("funding.pledges.canada.amount_usd"), unit_of("attrition.injuries_per_officer_year")
        ('US$', 'per officer-year')
    """
    name = key.rsplit(".", 1)[-1]
    for suffix, unit in UNIT_SUFFIXES:
        if name.endswith(suffix) and name != suffix.lstrip("_"):
            return unit
    return "days" if name.startswith("days_") else ""


def basis_of(comment: str) -> str:
    """What a value rests on, from its comment: ``source`` (it cites facts or a source), ``judgement``,
    ``source and judgement``, ``comment`` (a comment that says neither) or ``unstated`` (none)."""
    fact, judgement = bool(_FACT.search(comment)), bool(_JUDGEMENT.search(comment))
    if fact and judgement:
        return "source and judgement"
    if fact:
        return "source"
    if judgement:
        return "judgement"
    return "comment" if comment.strip() else "unstated"


@dataclass(frozen=True)
class _Written:
    """A key as one file writes it: its comment (beside it, or the block just above it)."""

    comment: str


def parameter_table(path: str | Path, overrides: Mapping[str, Any] | Iterable[str] | None = None) -> pd.DataFrame:
    """Every value of the resolved scenario with its unit and its source, read from the files' comments.

    A value's comment is the one beside it, or else the block of comment lines just above it, or
    else (for a value inside an inline table or a list) that of the key holding it. The file is the
    nearest in the ``extends`` chain that writes the value; a value no file writes is the schema's
    default, and one set by ``overrides`` says ``--set``.

    Args:
        path: The scenario file.
        overrides: As for :func:`sim.scenario.loader.load_scenario`.

    Returns:
        One row per value in the schema's order (a distribution is one value), columns ``key``
        (dotted, list entries by index), ``value`` (TOML), ``unit`` (from the key's name, see
        :func:`unit_of`), ``basis`` (``source``, ``judgement``, ``source and judgement``,
        ``comment``, ``unstated``, ``default`` or ``--set``; see :func:`basis_of`), ``source`` (the comment's
        text) and ``file`` (the file's name, ``--set`` or empty for a default). ``attrs["file"]`` is
        the name of the scenario file itself.

    Raises:
        ScenarioError: If the scenario cannot be loaded.

    Example:
        >>> table = parameter_table("baseline").set_index("key")
        >>> table.loc["funding.pledges.canada.amount_usd", ["value", "unit", "basis"]].tolist()
        ['59600000.0', 'US$', 'source']
    """
    import pandas as pd

    scenario = load_scenario(path, overrides)
    files = [(file, _comments(file.read_text(encoding="utf-8"))) for file in extends_chain(path)]
    set_keys = override_keys(overrides)
    rows = []
    for leaf in leaves(scenario.model_dump(mode="python", by_alias=True)):
        key = leaf.key
        parts = tuple(str(p) for p in leaf.path)
        row = {"key": key, "value": _value_text(leaf.value), "unit": unit_of(key)}
        if any(key == k or key.startswith(f"{k}.") or k.startswith(f"{key}.") for k in set_keys):
            row.update(basis="--set", source="", file="--set")
        else:
            written = next(((file, comments[parts]) for file, comments in files if parts in comments), None)
            if written is None:
                row.update(basis="default", source="", file="")
            else:
                file, entry = written
                row.update(basis=basis_of(entry.comment), source=entry.comment, file=file.name)
        rows.append(row)
    table = pd.DataFrame(rows, columns=list(COLUMNS)).astype("string")
    table.attrs["file"] = files[0][0].name
    return table


def _value_text(value: Any) -> str:
    if value is None:
        return "(none)"
    if isinstance(value, Mapping) and value.get("dist") == "fixed":
        return toml_value(value["value"])
    return toml_value(value)


def _comments(text: str) -> dict[tuple[str, ...], _Written]:
    """Key path (list entries by index) -> how the file writes it, for every key of a TOML text."""
    import tomlkit
    from tomlkit import items

    found: dict[tuple[str, ...], _Written] = {}

    def inherit(value: Any, path: tuple[str, ...], comment: str) -> None:
        # Keys inside an inline table or a list carry the comment of the key that holds them.
        if isinstance(value, Mapping):
            for key, item in value.items():
                found.setdefault((*path, str(key)), _Written(comment))
                inherit(item, (*path, str(key)), comment)
        elif isinstance(value, list):
            for index, item in enumerate(value):
                found.setdefault((*path, str(index)), _Written(comment))
                inherit(item, (*path, str(index)), comment)

    def visit(container: Any, path: tuple[str, ...]) -> None:
        above: list[str] = []
        # A key with no comment of its own falls back on the block that opens its table (not the
        # file's: a file's opening comment is about the whole scenario).
        opening = "" if path else "-"
        for key, item in container.body:
            if isinstance(item, items.Comment):
                above.append(_clean(item.as_string()))
                continue
            if isinstance(item, items.Whitespace) or key is None:
                above = []
                continue
            here = (*path, *str(key.key).split(".")) if isinstance(key, items.DottedKey) else (*path, key.key)
            comment = _clean(item.trivia.comment) or " ".join(above)
            if not opening:
                opening = " ".join(above) or "-"
            comment = comment or opening.strip("-")
            above = []
            found[here] = _Written(comment)
            if isinstance(item, items.Table):
                visit(item.value, here)
            elif isinstance(item, items.AoT):
                for index, table in enumerate(item.body):
                    found[(*here, str(index))] = _Written(comment)
                    visit(table.value, (*here, str(index)))
            else:
                inherit(item.unwrap() if hasattr(item, "unwrap") else item, here, comment)

    visit(tomlkit.parse(text), ())
    return found


def _clean(comment: str) -> str:
    """A comment's text: without ``#`` marks and surrounding space, its lines joined."""
    return " ".join(line.strip().lstrip("#").strip() for line in comment.splitlines()).strip()
