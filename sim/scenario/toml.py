"""Writing TOML: one value inline (for labels, tables and messages) or a whole scenario document.

The one TOML writer of the package; scalars, strings, dates and keys are written by ``tomli_w``, so
what it writes reads back with :mod:`tomllib` as the same value. Reading stays in
:mod:`sim.scenario.loader`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

import tomli_w

_KEY = "v"


def toml_value(value: Any, multiline_strings: bool = False) -> str:
    """A value written as inline TOML: ``30``, ``2024-05-01``, ``"text"``, ``{ dist = "pert", low = 5 }``.

    Tables are written inline and lists on one line, whatever their length. With
    ``multiline_strings``, text holding line breaks is written as a multi-line string.

    Raises:
        TypeError: If the value (or one inside it) is not something TOML can hold, such as None.

    Example:
        >>> toml_value({"dist": "lognormal", "median": 30, "p90": 90.5})
        '{ dist = "lognormal", median = 30, p90 = 90.5 }'
        >>> toml_value([1, "a b", True])
        '[1, "a b", true]'
    """
    if isinstance(value, Mapping):
        items = ", ".join(f"{toml_key(str(k))} = {toml_value(v, multiline_strings)}" for k, v in value.items())
        return "{ " + items + " }" if items else "{}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(toml_value(v, multiline_strings) for v in value) + "]"
    if isinstance(value, dt.datetime | dt.date | bool | int | float | str):
        text = tomli_w.dumps({_KEY: value}, multiline_strings=multiline_strings)
        return text.removeprefix(f"{_KEY} = ").removesuffix("\n")
    raise TypeError(f"TOML cannot hold {value!r} ({type(value).__name__})")


def toml_key(key: str) -> str:
    """A key as TOML writes it: bare when it can be, quoted otherwise (``canada``, ``"a b"``)."""
    text = tomli_w.dumps({key: 0})
    return text[: text.rindex(" = ")]


def toml_document(data: Mapping[str, Any]) -> str:
    """A whole TOML document: tables as ``[section]`` headers, ``None`` values left out.

    Distribution tables (those with a ``dist`` key) are written inline, as scenario files write them.

    Example:
        >>> print(toml_document({"name": "x", "governance": {"hold_days": {"dist": "fixed", "value": 3.0}}}))
        name = "x"
        <BLANKLINE>
        [governance]
        hold_days = { dist = "fixed", value = 3.0 }
        <BLANKLINE>
    """
    lines: list[str] = []
    _write_table(_drop_none(data), [], lines)
    return "\n".join(lines).lstrip("\n") + "\n"


def _drop_none(node: Any) -> Any:
    if isinstance(node, Mapping):
        return {k: _drop_none(v) for k, v in node.items() if v is not None}
    if isinstance(node, list | tuple):
        return [_drop_none(v) for v in node]
    return node


def _is_table(value: Any) -> bool:
    return isinstance(value, Mapping) and "dist" not in value


def _is_table_list(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(_is_table(v) for v in value)


def _write_table(table: Mapping[str, Any], path: list[str], lines: list[str], array: bool = False) -> None:
    plain = {k: v for k, v in table.items() if not _is_table(v) and not _is_table_list(v)}
    nested = {k: v for k, v in table.items() if k not in plain}
    if path and (plain or not nested or array):
        header = ".".join(toml_key(p) for p in path)
        lines += ["", f"[[{header}]]" if array else f"[{header}]"]
    lines += [f"{toml_key(k)} = {toml_value(v, multiline_strings=True)}" for k, v in plain.items()]
    for key, value in nested.items():
        if _is_table_list(value):
            for entry in value:
                _write_table(entry, [*path, key], lines, array=True)
        else:
            _write_table(value, [*path, key], lines)
