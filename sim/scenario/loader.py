"""Reading scenario files: TOML, ``extends`` chains, dotted-key overrides and readable errors.

This is the only way a scenario enters the program. A file is parsed with :mod:`tomllib`, merged
over the file it ``extends`` (deep merge, child wins), patched with ``--set`` style overrides, and
validated into a :class:`sim.scenario.schema.Scenario`. Anything wrong becomes a :class:`ScenarioError`
that names the file, the key path, the line and what was expected.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import difflib
import json
import math
import os
import re
import stat
import tomllib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pydantic

from sim.scenario import library

# Problem and ScenarioError live in a module without pydantic (the CLI catches them before loading
# anything heavy); this module is where users import them from.
from sim.scenario.errors import Problem, ScenarioError
from sim.scenario.schema import Scenario, reference_problems
from sim.scenario.walk import annotation_at, is_distribution, keys_of

#: Largest scenario file read, in bytes.
MAX_FILE_BYTES = 1024 * 1024
#: Deepest nesting of tables and arrays a scenario (or a --set value) may have.
MAX_DEPTH = 24
#: Most files one ``extends`` chain may hold.
MAX_CHAIN = 32
#: Longest value shown in a message, in characters.
MAX_SHOWN = 60


@dataclass
class _Layer:
    """One file of an ``extends`` chain: its path, text and parsed table."""

    path: Path
    text: str
    data: dict[str, Any] = field(default_factory=dict)


def load_scenario(path: str | Path, overrides: Mapping[str, Any] | Iterable[str] | None = None) -> Scenario:
    """Read, merge and validate a scenario file.

    Args:
        path: A scenario of the library by name (``"baseline"``, see ``deploysim scenarios``) or a
            TOML file. A file may name a parent with ``extends = "other.toml"`` (relative to itself)
            or ``extends = "baseline"`` (a library scenario).
        overrides: Dotted keys and values, either as a mapping (``{"horizon_days": 365}``) or as
            ``"key=value"`` strings whose values are parsed as TOML, as on the command line.

    Returns:
        The resolved, frozen scenario.

    Raises:
        ScenarioError: If a file is missing or malformed, an ``extends`` chain loops, a key is
            unknown, or a value has the wrong type or an impossible value.

    Example:
        >>> s = load_scenario("baseline", ["horizon_days=365"])
        >>> s.horizon_days
        365
    """
    try:
        file = library.resolve(path)
    except library.NotInLibrary as exc:
        raise ScenarioError([Problem(str(path), "", str(exc))]) from None
    layers = _read_chain(file)
    merged: dict[str, Any] = {}
    for layer in reversed(layers):
        merged = _deep_merge(merged, layer.data)
    merged.pop("extends", None)
    pairs = _parse_overrides(overrides)
    merged = _apply_overrides(merged, pairs)
    return _validate(merged, layers, override_keys={k for k, _ in pairs})


def derive(
    scenario: Scenario, overrides: Mapping[str, Any] | Iterable[str], source: str | None = None
) -> Scenario:
    """Return a new scenario with dotted-key overrides applied, validated exactly as ``--set`` is.

    The given scenario is never changed.

    Args:
        scenario: The scenario to start from.
        overrides: Dotted keys and values, as a mapping or as ``"key=value"`` strings (values read as TOML).
        source: What error messages name as the origin of the overrides. Default: ``derive`` for a
            mapping (a call from Python), ``--set`` for strings (as the command line passes them).

    Raises:
        ScenarioError: If a key is unknown (with a did-you-mean) or a value is invalid.

    Example:
        >>> base = load_scenario("baseline")
        >>> cautious = derive(base, {"funding.runway_days": 120})
        >>> cautious.funding.runway_days, base.funding.runway_days
        (120.0, 90.0)
        >>> try:
        ...     derive(base, {"funding.runway_dayz": 120})
        ... except ScenarioError as exc:
        ...     print(exc)
        derive: funding.runway_dayz: unknown key 'runway_dayz'; did you mean 'runway_days'?
    """
    if source is None:
        source = "derive" if isinstance(overrides, Mapping) else "--set"
    try:
        raw = scenario.model_dump(mode="python", by_alias=True)
        pairs = _parse_overrides(overrides)
        raw = _apply_overrides(raw, pairs)
        return _validate(raw, [], override_keys={k for k, _ in pairs})
    except ScenarioError as exc:
        if source == "--set":
            raise
        # Every problem found here comes from the overrides: name them as the caller gave them.
        raise ScenarioError(
            [dataclasses.replace(p, source=source) if p.source == "--set" else p for p in exc.problems]
        ) from None


def extends_chain(path: str | Path) -> list[Path]:
    """The scenario file and the files it ``extends``, child first, as :func:`load_scenario` reads them.

    Raises:
        ScenarioError: If a file is missing or malformed, or the chain loops.
    """
    try:
        file = library.resolve(path)
    except library.NotInLibrary as exc:
        raise ScenarioError([Problem(str(path), "", str(exc))]) from None
    return [layer.path for layer in _read_chain(file)]


def override_keys(overrides: Mapping[str, Any] | Iterable[str] | None) -> list[str]:
    """The dotted keys that overrides set, in order (as :func:`load_scenario` reads them).

    Raises:
        ScenarioError: If a ``"key=value"`` string has no ``=`` or no key.
    """
    return [key for key, _ in _parse_overrides(overrides)]


def scenario_from_dict(data: Mapping[str, Any], source: str = "<dict>") -> Scenario:
    """Validate a plain mapping (e.g. the resolved scenario saved in a results manifest).

    The mapping is read as JSON would be (dates may be written ``"2024-03-14"``), otherwise as strictly
    as a scenario file.
    """
    raw = dict(data)
    if _depth(raw) > MAX_DEPTH:
        raise ScenarioError([Problem(source, "", f"nested deeper than {MAX_DEPTH} levels")])
    try:
        text = json.dumps(raw, default=_json_value)
    except (TypeError, ValueError) as exc:
        raise ScenarioError([Problem(source, "", f"cannot be read as JSON data: {exc}")]) from None
    return _validate(raw, [_Layer(Path(source), "", raw)], override_keys=set(), json_text=text)


def _json_value(value: Any) -> Any:
    if isinstance(value, dt.date | dt.datetime | dt.time):
        return value.isoformat()
    if isinstance(value, tuple):
        return list(value)
    raise TypeError(f"{type(value).__name__} is not a JSON value")


# -- files and extends ---------------------------------------------------------------------------


def _read_chain(path: Path) -> list[_Layer]:
    """The file and its ancestors, child first. Detects missing files and cycles."""
    layers: list[_Layer] = []
    seen: list[Path] = []
    current: Path | None = path
    while current is not None:
        child = layers[-1] if layers else None
        # realpath, unlike Path.resolve, does not raise on a symbolic-link loop; reading then reports it.
        resolved = Path(os.path.realpath(current))
        if resolved in seen:
            # Blame the line that closes the loop: the last file read extends one already read.
            chain = _chain([*seen, resolved])
            raise ScenarioError([_extends_problem(child, f"extends cycle: {chain}")])
        seen.append(resolved)
        if len(seen) > MAX_CHAIN:
            raise ScenarioError([_extends_problem(child, f"the extends chain is longer than {MAX_CHAIN} files")])
        try:
            text = _read_text(current)
        except (OSError, UnicodeDecodeError, _Unreadable) as exc:
            if isinstance(exc, FileNotFoundError):
                reason = "no such file" + _similar_file(current)
            elif isinstance(exc, UnicodeDecodeError):
                reason = "not UTF-8 text"
            elif isinstance(exc, _Unreadable):
                reason = str(exc)
            else:
                reason = f"cannot read: {exc.strerror or exc}"
            shown = _short(str(current), 200)
            if child is None:
                raise ScenarioError([Problem(shown, "", reason)]) from None
            message = f"cannot use the file it extends, {shown}: {reason}"
            raise ScenarioError([_extends_problem(child, message)]) from None
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            m = re.search(r"line (\d+)", str(exc))
            line = int(m.group(1)) if m else None
            msg = re.sub(r"\(at line \d+, (column \d+)\)", r"(\1)", str(exc))
            key = ".".join(_key_at(text, line)) if line else ""
            raise ScenarioError([Problem(str(current), _short(key, 200), f"not valid TOML: {msg}", line)]) from None
        except RecursionError:
            raise ScenarioError([Problem(str(current), "", f"nested deeper than {MAX_DEPTH} levels")]) from None
        deep = _too_deep(data)
        if deep is not None:
            raise ScenarioError([Problem(str(current), _short(".".join(deep), 200),
                                         f"nested deeper than {MAX_DEPTH} levels", _find_line(text, deep))])
        layer = _Layer(current, text, data)
        layers.append(layer)
        parent = data.get("extends")
        if parent is not None and not isinstance(parent, str):
            raise ScenarioError([_extends_problem(layer, "expected a file name in quotes")])
        if parent is not None and ("\0" in parent or not parent.strip()):
            raise ScenarioError([_extends_problem(layer, "expected a file name, got an empty name or a NUL byte")])
        try:
            current = library.resolve(parent, relative_to=current.parent) if parent else None
        except library.NotInLibrary as exc:
            raise ScenarioError([_extends_problem(layer, str(exc))]) from None
    return layers


class _Unreadable(Exception):
    """A scenario path that is not a regular file of a sensible size."""


def _read_text(path: Path) -> str:
    """The text of a scenario file, refusing anything but a regular file of at most MAX_FILE_BYTES.

    Folders, devices, named pipes and sockets are refused before they are opened (a pipe or an
    endless device would hang or fill memory); the file is opened non-blocking and checked again,
    in case it was swapped meanwhile. A UTF-8 byte-order mark is dropped.
    """
    try:
        st = os.stat(path)
    except ValueError:
        raise _Unreadable("not a usable file name") from None
    if not stat.S_ISREG(st.st_mode):
        raise _Unreadable(f"is {_kind_of(st.st_mode)}, not a scenario file")
    if st.st_size > MAX_FILE_BYTES:
        raise _Unreadable(f"is larger than {MAX_FILE_BYTES // 1024} KiB; a scenario file is much smaller")
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0))
    with os.fdopen(fd, "rb") as stream:
        if not stat.S_ISREG(os.fstat(stream.fileno()).st_mode):
            raise _Unreadable("is not a regular file")
        data = stream.read(MAX_FILE_BYTES + 1)
    if len(data) > MAX_FILE_BYTES:
        raise _Unreadable(f"is larger than {MAX_FILE_BYTES // 1024} KiB; a scenario file is much smaller")
    return data.decode("utf-8").removeprefix("\ufeff")


def _kind_of(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISFIFO(mode):
        return "a named pipe"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def _depth(value: Any, limit: int = MAX_DEPTH + 1) -> int:
    """How deeply tables and arrays nest in ``value`` (a scalar is 0), counted no further than ``limit``."""
    deepest, stack = 0, [(value, 0)]
    while stack:
        node, depth = stack.pop()
        if depth > deepest:
            deepest = depth
        if depth >= limit:
            continue
        if isinstance(node, Mapping):
            stack.extend((child, depth + 1) for child in node.values())
        elif isinstance(node, list | tuple):
            stack.extend((child, depth + 1) for child in node)
    return deepest


def _too_deep(data: Mapping[str, Any]) -> tuple[str, ...] | None:
    """The key path (tables only) where ``data`` first nests deeper than MAX_DEPTH, or None."""
    if _depth(data) <= MAX_DEPTH:
        return None
    path: list[str] = []
    node: Any = data
    for _ in range(MAX_DEPTH):
        if not isinstance(node, Mapping):
            break
        deeper = [(k, v) for k, v in node.items() if _depth(v, MAX_DEPTH) >= MAX_DEPTH - len(path) - 1]
        if not deeper:
            break
        key, node = deeper[0]
        path.append(str(key))
    return tuple(path)


def _short(text: str, limit: int = MAX_SHOWN) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _chain(paths: list[Path]) -> str:
    """An ``extends`` chain for a message: file names, or full paths where two names are alike."""
    names = [p.name for p in paths]
    if len(set(names)) < len(set(paths)):
        names = [str(p) for p in paths]
    return " -> ".join(names)


def _extends_problem(layer: _Layer | None, message: str) -> Problem:
    """A problem with the ``extends`` key of ``layer``, located at the line that sets it."""
    if layer is None:
        return Problem("scenario", "extends", message)
    return Problem(str(layer.path), "extends", message, _find_line(layer.text, ("extends",)))


def _deep_merge(base: Mapping[str, Any], top: Mapping[str, Any]) -> dict[str, Any]:
    """Merge ``top`` over ``base``: tables merge key by key, anything else is replaced."""
    out = dict(base)
    for key, value in top.items():
        # A distribution table replaces the parent's whole: mixing two kinds' parameters is never meant.
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping) and "dist" not in value:
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = value
    return out


# -- overrides -----------------------------------------------------------------------------------


def _parse_overrides(overrides: Mapping[str, Any] | Iterable[str] | None) -> list[tuple[str, Any]]:
    if overrides is None:
        return []
    if isinstance(overrides, Mapping):
        return [(str(k), v) for k, v in overrides.items()]
    pairs = []
    for item in overrides:
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ScenarioError([Problem("--set", _short(item), "expected KEY=VALUE, e.g. funding.runway_days=60")])
        if len(key) > 200 or key.count(".") > MAX_DEPTH:
            raise ScenarioError([Problem("--set", _short(key), "key too long or nested too deeply")])
        try:
            value = parse_value(text.strip())
        except ValueError as exc:
            raise ScenarioError([Problem("--set", _short(key), str(exc))]) from None
        pairs.append((key, value))
    return pairs


def parse_value(text: str) -> Any:
    """Parse an override value as TOML; a bare word that is not TOML is taken as a string.

    Raise a ValueError if the value nests tables or arrays deeper than :data:`MAX_DEPTH` levels.
    """
    try:
        value = tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text
    except RecursionError:
        value = None
    if value is None or _depth(value) > MAX_DEPTH:
        raise ValueError(f"value nested deeper than {MAX_DEPTH} levels")
    return value


def _apply_overrides(raw: dict[str, Any], pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """Set each dotted key in a copy of ``raw``. Only keys the schema knows may be set."""
    out = _deep_merge({}, raw)
    for key, value in pairs:
        parts = key.split(".")
        node: Any = out
        for depth, part in enumerate(parts):
            known = _known_keys(parts[:depth], out)
            last = depth == len(parts) - 1
            if known is None and not last and isinstance(node, Mapping):
                # Inside a table of named entries (e.g. pledges) only existing entries can be patched.
                known = set(node)
            if known is not None and part not in known:
                raise ScenarioError([Problem("--set", key, unknown_key(part, known))])
            if last:
                node[part] = value
            else:
                child = node.get(part)
                child = dict(child) if isinstance(child, Mapping) else {}
                node[part] = child
                node = child
    return out


# -- validation and messages ---------------------------------------------------------------------


def _validate(
    raw: dict[str, Any], layers: list[_Layer], override_keys: set[str], json_text: str | None = None
) -> Scenario:
    """Validate ``raw`` (or, given, its JSON text) into a Scenario; every problem at once, in file order.

    The cross-reference checks (:func:`sim.scenario.reference_problems`) run on the raw data too, so
    they are reported together with type and range errors rather than only once those are fixed.
    """
    if _depth(raw) > MAX_DEPTH:
        raise ScenarioError([Problem("scenario", "", f"nested deeper than {MAX_DEPTH} levels")])
    try:
        if json_text is not None:
            return Scenario.model_validate_json(json_text)
        return Scenario.model_validate(raw)
    except pydantic.ValidationError as exc:
        errors: list[Any] = []
        for err in exc.errors():
            lines = str(err.get("msg", "")).splitlines() if err["type"] == "value_error" else []
            errors.extend({**err, "msg": line} for line in lines) if len(lines) > 1 else errors.append(err)
        if json_text is None:
            errors += [{"type": "value_error", "loc": (), "msg": m} for m in reference_problems(raw)]
        problems = [_problem(err, raw, layers, override_keys) for err in errors]
        raise ScenarioError(_unique(problems)) from None


def _similar_file(path: Path) -> str:
    """A did-you-mean for a misspelt file name, from the TOML files beside where it was looked for."""
    try:
        names = [p.name for p in path.parent.glob("*.toml")]
    except OSError:
        return ""
    close = difflib.get_close_matches(path.name, names, n=1, cutoff=0.6)
    return f"; did you mean {path.parent / close[0]}?" if close else ""


def _unique(problems: list[Problem]) -> list[Problem]:
    """Each problem once, in file order (by source, then line; problems without a line last)."""
    seen, out = set(), []
    for p in problems:
        if (p.key, p.message) not in seen:
            seen.add((p.key, p.message))
            out.append(p)
    return sorted(out, key=lambda p: (p.source, p.line is None, p.line or 0))


def known_kind_message(err: Mapping[str, Any], got: str) -> str | None:
    """The plain message for a pydantic error of a kind every schema shares (missing, a wrong type, a
    bound), or None for a kind the caller words itself. ``got`` is the ", got ..." suffix."""
    kind = err["type"]
    if kind == "missing":
        return _FRIENDLY[kind]
    if kind in _FRIENDLY:
        return _FRIENDLY[kind] + got
    if kind in _CONSTRAINTS:
        return _CONSTRAINTS[kind].format_map(_Context(err.get("ctx", {}))) + got
    return None


def _clean_loc(loc: tuple[Any, ...], raw: Mapping[str, Any]) -> tuple[str, ...]:
    """The key path of an error location, without the tags and validator names pydantic inserts.

    Walking the raw data tells keys from noise: a part that is a key of the current table is kept,
    as is a list index; a distribution's ``dist`` tag or a validator name such as
    ``function-after[...]`` is dropped. A part not in the data (a missing key) is kept.
    """
    out: list[str] = []
    node: Any = raw
    for part in loc:
        part_s = str(part)
        if isinstance(node, Mapping) and part_s in node:
            out.append(part_s)
            node = node[part_s]
        elif isinstance(node, list | tuple) and isinstance(part, int):
            out.append(part_s)
            node = node[part] if part < len(node) else _ABSENT
        elif node is not _ABSENT and not isinstance(node, Mapping | list | tuple):
            # Inside a value written as a scalar: a plain number read as a fixed distribution
            # reports ('fixed', 'value'); the error belongs to the key that holds the number.
            break
        elif (isinstance(node, Mapping) and node.get("dist") == part_s) or _is_pydantic_noise(part_s):
            continue
        else:
            out.append(part_s)
            node = _ABSENT
    return tuple(out)


#: Marks a location part that is not in the data (a missing key).
_ABSENT = object()


def _is_pydantic_noise(part: str) -> bool:
    """Whether a location part names a validator or a type rather than a key."""
    return "[" in part or "-" in part or part in {"float", "int", "bool", "str"}


_FRIENDLY = {
    "float_parsing": "expected a number",
    "float_type": "expected a number",
    "finite_number": "expected a finite number (not nan or inf)",
    "int_parsing": "expected a whole number",
    "int_type": "expected a whole number",
    "int_from_float": "expected a whole number",
    "bool_parsing": "expected true or false",
    "bool_type": "expected true or false",
    "string_type": "expected text in quotes",
    "date_parsing": "expected a date such as 2024-03-14",
    "date_from_datetime_parsing": "expected a date such as 2024-03-14",
    "date_type": "expected a date such as 2024-03-14",
    "dict_type": "expected a table",
    "model_type": "expected a table",
    "model_attributes_type": "expected a table",
    "list_type": "expected a list",
    "tuple_type": "expected a list",
    "missing": "required key is missing",
}

#: Messages for pydantic's constraint errors, filled from the error's context.
_CONSTRAINTS = {
    "greater_than": "expected a number greater than {gt}",
    "greater_than_equal": "expected a number of at least {ge}",
    "less_than": "expected a number less than {lt}",
    "less_than_equal": "expected a number of at most {le}",
    "too_short": "expected at least {min_length} entries",
    "too_long": "expected at most {max_length} entries",
    "string_pattern_mismatch": "expected text matching {pattern}",
    "literal_error": "expected {expected}",
}

_DIST_EXAMPLE = 'a number or a distribution table such as { dist = "pert", low = 5, mode = 8, high = 15 }'


def _problem(err: dict[str, Any], raw: Mapping[str, Any], layers: list[_Layer], overrides: set[str]) -> Problem:
    loc = _clean_loc(err["loc"], raw)
    key = ".".join(loc)
    kind = err["type"]
    ctx = err.get("ctx", {})
    got = f", got {_show(err.get('input'))}"
    if kind == "extra_forbidden":
        message = unknown_key(loc[-1], _known_keys(list(loc[:-1]), raw) or set())
    elif kind == "union_tag_invalid":
        tags = [t.strip(" '") for t in str(ctx.get("expected_tags", "")).split(",")]
        tag = str(ctx.get("tag"))
        message = f"unknown distribution '{tag}'; expected one of {', '.join(tags)}{_did_you_mean(tag, tags)}"
    elif kind == "union_tag_not_found":
        message = "a distribution table needs a 'dist' key (e.g. dist = \"lognormal\")"
    elif kind in ("dict_type", "model_type", "model_attributes_type") and _is_distribution(loc, raw):
        message = f"expected {_DIST_EXAMPLE}{got}"
    elif (known := known_kind_message(err, got)) is not None:
        message = known
    else:
        message = str(err["msg"]).removeprefix("Value error, ")
        named = re.match(r"([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z0-9_-]+)+) ", message)
        if named and not loc:
            # A whole-scenario check names the key it is about first: use it to find the line.
            loc = tuple(named.group(1).split("."))
            key, message = ".".join(loc), message[named.end():]
    source, line = _locate(loc, layers, overrides)
    return Problem(source, key, message, line)


class _Context(dict):
    """Error context for a message template; a missing entry shows as '?' rather than failing."""

    def __getitem__(self, key: str) -> Any:
        value = super().__getitem__(key)
        if isinstance(value, float):
            return f"{value:g}" if float(f"{value:g}") == value else repr(value)
        return value

    def __missing__(self, key: str) -> str:
        return "?"


def _show(value: Any, limit: int = MAX_SHOWN) -> str:
    """A value as it would be written in TOML, for 'got ...' in a message; cut to ``limit`` characters."""
    return _short(_toml(value, limit), limit)


def _toml(value: Any, budget: int) -> str:
    """TOML text of ``value``; stops expanding tables and arrays once ``budget`` characters are spent."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(_short(value, budget), ensure_ascii=False)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, int):
        text = str(value) if value.bit_length() < 1000 else f"{str(value)[:20]}..."
        return text
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, Mapping):
        parts, used = [], 0
        for k, v in value.items():
            if used > budget:
                parts.append("...")
                break
            part = f"{k} = {_toml(v, budget - used)}"
            parts.append(part)
            used += len(part) + 2
        return "{ " + ", ".join(parts) + " }" if parts else "{}"
    if isinstance(value, list | tuple):
        parts, used = [], 0
        for v in value:
            if used > budget:
                parts.append("...")
                break
            part = _toml(v, budget - used)
            parts.append(part)
            used += len(part) + 2
        return "[" + ", ".join(parts) + "]"
    if value is None:
        return "nothing"
    return _short(str(value), budget)


def _locate(loc: tuple[str, ...], layers: list[_Layer], overrides: set[str]) -> tuple[str, int | None]:
    """The file (or ``--set``) and line where a key path was given, nearest the child first."""
    key = ".".join(loc)
    for k in overrides:
        # An override of the key, of a table holding it or of a key inside it caused the error.
        if k == key or k.startswith(f"{key}.") or key.startswith(f"{k}."):
            return "--set", None
    best: tuple[int, str, int | None] = (-1, str(layers[0].path) if layers else "scenario", None)
    for layer in layers:
        depth, line = _match_line(layer.text, loc)
        # A full match wins at once; otherwise keep the deepest partial match, child first.
        if depth == len(loc):
            return str(layer.path), line
        if depth > best[0]:
            best = (depth, str(layer.path), line)
    return best[1], best[2]


_HEADER = re.compile(r"^\s*\[\[?\s*([^\]]+?)\s*\]\]?\s*(#.*)?$")
_KEY = re.compile(r"^\s*((?:[A-Za-z0-9_-]+|\"[^\"]*\"|'[^']*')(?:\s*\.\s*(?:[A-Za-z0-9_-]+|\"[^\"]*\"|'[^']*'))*)\s*=")


def _split_key(text: str) -> list[str]:
    return [p.strip().strip("\"'") for p in re.findall(r"\"[^\"]*\"|'[^']*'|[^.]+", text)]


_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'[^\']*\'')


def _key_lines(text: str) -> Iterator[tuple[int, list[str], str]]:
    """Each line of TOML ``text`` that writes a table header or a key.

    Yields the 1-based line number, the full key path the line writes (the table plus the key)
    and the rest of the line after ``=``. Lines inside multi-line strings are skipped, so a
    description that happens to contain ``x = 1`` is not mistaken for a key.
    """
    table: list[str] = []
    in_string = False
    for number, line in enumerate(text.splitlines(), start=1):
        quotes = line.count('"""') + line.count("'''")
        if in_string:
            in_string = quotes % 2 == 0
            continue
        header = _HEADER.match(line)
        if header:
            table = _split_key(header.group(1))
            yield number, table, ""
            continue
        key = _KEY.match(line)
        if key:
            in_string = quotes % 2 == 1
            yield number, table + _split_key(key.group(1)), line[key.end():]


def _match_line(text: str, loc: tuple[str, ...]) -> tuple[int, int | None]:
    """How deep into ``loc`` some line of ``text`` reaches, and that line (1-based).

    A line counts if the path it writes is a prefix of ``loc`` (the key or a table holding it), or
    if ``loc`` is a prefix of that path (``[logistic.airport]`` is where ``logistic`` is written).
    """
    best_depth, best_line = 0, None
    for number, path, rest in _key_lines(text):
        if "{" in rest and len(loc) > len(path) and tuple(loc[: len(path)]) == tuple(path):
            # An inline table on this line holds its keys too: `x = { dist = "uniform", low = 1 }`.
            inline_keys = re.findall(r"([A-Za-z0-9_-]+)\s*=", _STRING.sub('""', rest))
            if loc[len(path)] in inline_keys:
                path = [*path, loc[len(path)]]
        depth = 0
        for a, b in zip(path, loc, strict=False):
            if a != b:
                break
            depth += 1
        if depth == min(len(path), len(loc)) and depth > best_depth:
            best_depth, best_line = depth, number
    return best_depth, best_line


def _find_line(text: str, loc: tuple[str, ...]) -> int | None:
    depth, line = _match_line(text, loc)
    return line if depth == len(loc) else None


def _key_at(text: str, line: int) -> tuple[str, ...]:
    """The key path written on ``line`` of ``text`` (empty if that line writes no key)."""
    for number, path, _ in _key_lines(text):
        if number == line:
            return tuple(path)
    return ()


# -- schema navigation for did-you-mean ---------------------------------------------------------


def _known_keys(path: list[str], raw: Mapping[str, Any]) -> set[str] | None:
    """Keys the schema allows in the table at ``path``, or None where any key goes (a dict)."""
    annotation, node = annotation_at(path, raw)
    return None if annotation is None else keys_of(annotation, node)


def _is_distribution(loc: tuple[str, ...], raw: Mapping[str, Any]) -> bool:
    """Whether the schema expects a distribution at ``loc``."""
    annotation, _ = annotation_at(loc, raw)
    return is_distribution(annotation)


def unknown_key(word: str, known: Iterable[str]) -> str:
    """'unknown key' with the closest known key, or the list of known keys if none is close."""
    known = sorted(known)
    hint = _did_you_mean(word, known)
    if not hint and known:
        hint = f"; expected one of {', '.join(known)}"
    return f"unknown key '{word}'{hint}"


def _did_you_mean(word: str, candidates: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, sorted(candidates), n=1, cutoff=0.6)
    return f"; did you mean '{close[0]}'?" if close else ""
