"""Reading scenario files: TOML, ``extends`` chains, dotted-key overrides and readable errors.

This is the only way a scenario enters the program. A file is parsed with :mod:`tomllib`, merged
over the file it ``extends`` (deep merge, child wins), patched with ``--set`` style overrides, and
validated into a :class:`sim.scenario.Scenario`. Anything wrong becomes a :class:`ScenarioError`
that names the file, the key path, the line and what was expected.
"""

from __future__ import annotations

import difflib
import re
import tomllib
import types
import typing
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pydantic
from pydantic import BaseModel

from sim.scenario import Scenario


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a scenario: where it is and what was expected."""

    source: str
    key: str
    message: str
    line: int | None = None

    def __str__(self) -> str:
        where = self.source if self.line is None else f"{self.source}:{self.line}"
        key = f" {self.key}:" if self.key else ""
        return f"{where}:{key} {self.message}"


class ScenarioError(ValueError):
    """A scenario file or override that cannot be used. ``str()`` gives one line per problem."""

    def __init__(self, problems: Iterable[Problem]):
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


@dataclass
class _Layer:
    """One file of an ``extends`` chain: its path, text and parsed table."""

    path: Path
    text: str
    data: dict[str, Any] = field(default_factory=dict)


def load_scenario(path: str | Path, overrides: Mapping[str, Any] | Iterable[str] | None = None) -> Scenario:
    """Read, merge and validate a scenario file.

    Args:
        path: The TOML file. It may name a parent with ``extends = "other.toml"`` (relative to itself).
        overrides: Dotted keys and values, either as a mapping (``{"horizon_days": 365}``) or as
            ``"key=value"`` strings whose values are parsed as TOML, as on the command line.

    Returns:
        The resolved, frozen scenario.

    Raises:
        ScenarioError: If a file is missing or malformed, an ``extends`` chain loops, a key is
            unknown, or a value has the wrong type or an impossible value.

    Example:
        >>> s = load_scenario("scenarios/baseline.toml", ["horizon_days=365"])
        >>> s.horizon_days
        365
    """
    layers = _read_chain(Path(path))
    merged: dict[str, Any] = {}
    for layer in reversed(layers):
        merged = _deep_merge(merged, layer.data)
    merged.pop("extends", None)
    pairs = _parse_overrides(overrides)
    merged = _apply_overrides(merged, pairs)
    return _validate(merged, layers, override_keys={k for k, _ in pairs})


def derive(scenario: Scenario, overrides: Mapping[str, Any] | Iterable[str]) -> Scenario:
    """Return a new scenario with dotted-key overrides applied, validated exactly as ``--set`` is.

    The given scenario is never changed.

    Example:
        >>> base = load_scenario("scenarios/baseline.toml")
        >>> late = derive(base, {"funding.runway_days": 90})
        >>> late.funding.runway_days, base.funding.runway_days != 90
        (90.0, True)
    """
    raw = scenario.model_dump(mode="python", by_alias=True)
    pairs = _parse_overrides(overrides)
    raw = _apply_overrides(raw, pairs)
    return _validate(raw, [], override_keys={k for k, _ in pairs})


def scenario_from_dict(data: Mapping[str, Any], source: str = "<dict>") -> Scenario:
    """Validate a plain mapping (e.g. the resolved scenario saved in a results manifest)."""
    return _validate(dict(data), [_Layer(Path(source), "", dict(data))], override_keys=set())


# -- files and extends ---------------------------------------------------------------------------


def _read_chain(path: Path) -> list[_Layer]:
    """The file and its ancestors, child first. Detects missing files and cycles."""
    layers: list[_Layer] = []
    seen: list[Path] = []
    current: Path | None = path
    child: _Layer | None = None
    while current is not None:
        resolved = current.resolve()
        if resolved in seen:
            chain = " -> ".join(p.name for p in [*seen, resolved])
            raise ScenarioError([Problem(str(current), "extends", f"extends cycle: {chain}")])
        seen.append(resolved)
        try:
            text = current.read_text(encoding="utf-8")
        except FileNotFoundError:
            if child is None:
                raise ScenarioError([Problem(str(current), "", "no such file")]) from None
            line = _find_line(child.text, ("extends",))
            raise ScenarioError(
                [Problem(str(child.path), "extends", f"the file it extends, {current}, does not exist", line)]
            ) from None
        except OSError as exc:
            raise ScenarioError([Problem(str(current), "", f"cannot read: {exc.strerror}")]) from None
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            m = re.search(r"line (\d+)", str(exc))
            msg = re.sub(r"\s*\(at line \d+, column \d+\)", "", str(exc))
            raise ScenarioError(
                [Problem(str(current), "", f"not valid TOML: {msg}", int(m.group(1)) if m else None)]
            ) from None
        layer = _Layer(current, text, data)
        layers.append(layer)
        parent = data.get("extends")
        if parent is not None and not isinstance(parent, str):
            raise ScenarioError(
                [Problem(str(current), "extends", "expected a file name in quotes", _find_line(text, ("extends",)))]
            )
        child = layer
        current = (current.parent / parent) if parent else None
    return layers


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
            raise ScenarioError([Problem("--set", item, "expected KEY=VALUE, e.g. funding.runway_days=60")])
        pairs.append((key, _parse_value(text.strip())))
    return pairs


def _parse_value(text: str) -> Any:
    """Parse an override value as TOML; a bare word that is not TOML is taken as a string."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


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
                hint = _did_you_mean(part, known)
                raise ScenarioError([Problem("--set", key, f"unknown key '{part}'{hint}")])
            if last:
                node[part] = value
            else:
                child = node.get(part)
                child = dict(child) if isinstance(child, Mapping) else {}
                node[part] = child
                node = child
    return out


# -- validation and messages ---------------------------------------------------------------------


def _validate(raw: dict[str, Any], layers: list[_Layer], override_keys: set[str]) -> Scenario:
    try:
        return Scenario.model_validate(raw)
    except pydantic.ValidationError as exc:
        problems = [_problem(err, raw, layers, override_keys) for err in exc.errors()]
        raise ScenarioError(_unique(problems)) from None


def _unique(problems: list[Problem]) -> list[Problem]:
    seen, out = set(), []
    for p in problems:
        if (p.key, p.message) not in seen:
            seen.add((p.key, p.message))
            out.append(p)
    return out


def _clean_loc(loc: tuple[Any, ...], raw: Mapping[str, Any]) -> tuple[str, ...]:
    """Drop the discriminator tags and validator names pydantic inserts into an error location."""
    out: list[str] = []
    node: Any = raw
    for part in loc:
        part_s = str(part)
        if isinstance(node, Mapping) and part_s in node:
            out.append(part_s)
            node = node[part_s]
        elif isinstance(node, list) and isinstance(part, int):
            out.append(part_s)
            node = node[part] if part < len(node) else None
        elif isinstance(node, Mapping) and node.get("dist") == part_s or "[" in part_s or "-" in part_s or part_s in {"float", "int", "bool", "str"}:
            continue
        else:
            out.append(part_s)
            node = None
    return tuple(out)


_FRIENDLY = {
    "float_parsing": "expected a number",
    "float_type": "expected a number",
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
    "missing": "required key is missing",
}


def _problem(err: dict[str, Any], raw: Mapping[str, Any], layers: list[_Layer], overrides: set[str]) -> Problem:
    loc = _clean_loc(err["loc"], raw)
    key = ".".join(loc)
    kind = err["type"]
    if kind == "extra_forbidden":
        known = _known_keys(list(loc[:-1]), raw) or set()
        message = f"unknown key '{loc[-1]}'{_did_you_mean(loc[-1], known)}"
    elif kind == "union_tag_invalid":
        ctx = err.get("ctx", {})
        tags = [t.strip(" '") for t in str(ctx.get("expected_tags", "")).split(",")]
        message = (
            f"unknown distribution '{ctx.get('tag')}'; expected one of {', '.join(tags)}"
            f"{_did_you_mean(str(ctx.get('tag')), tags)}"
        )
    elif kind == "union_tag_not_found":
        message = "a distribution table needs a 'dist' key (e.g. dist = \"lognormal\")"
    elif kind in _FRIENDLY:
        got = "" if kind == "missing" else f", got {err.get('input')!r}"
        message = _FRIENDLY[kind] + got
    else:
        message = str(err["msg"]).removeprefix("Value error, ")
        if kind.startswith(("greater", "less", "too_", "string_pattern")):
            message = f"{message}, got {err.get('input')!r}"
    source, line = _locate(loc, layers, overrides)
    return Problem(source, key, message, line)


def _locate(loc: tuple[str, ...], layers: list[_Layer], overrides: set[str]) -> tuple[str, int | None]:
    """The file (or ``--set``) and line where a key path was given, nearest the child first."""
    for n in range(len(loc), 0, -1):
        if ".".join(loc[:n]) in overrides:
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


def _match_line(text: str, loc: tuple[str, ...]) -> tuple[int, int | None]:
    """How deep into ``loc`` some line of ``text`` reaches, and that line (1-based)."""
    table: list[str] = []
    best_depth, best_line = 0, None
    for number, line in enumerate(text.splitlines(), start=1):
        header = _HEADER.match(line)
        if header:
            table = _split_key(header.group(1))
            path = table
        else:
            key = _KEY.match(line)
            if not key:
                continue
            path = table + _split_key(key.group(1))
            # An inline table on this line holds every deeper key too.
            inline = line[key.end():]
            if "{" in inline and len(loc) > len(path) and tuple(loc[: len(path)]) == tuple(path):
                inline_keys = re.findall(r"([A-Za-z0-9_]+)\s*=", inline)
                path = path + ([loc[len(path)]] if loc[len(path)] in inline_keys else [])
        depth = 0
        for a, b in zip(path, loc, strict=False):
            if a != b:
                break
            depth += 1
        if depth == len(path) and depth > best_depth:
            best_depth, best_line = depth, number
    return best_depth, best_line


def _find_line(text: str, loc: tuple[str, ...]) -> int | None:
    depth, line = _match_line(text, loc)
    return line if depth == len(loc) else None


# -- schema navigation for did-you-mean ---------------------------------------------------------


def _known_keys(path: list[str], raw: Mapping[str, Any]) -> set[str] | None:
    """Keys the schema allows in the table at ``path``, or None where any key goes (a dict)."""
    annotation: Any = Scenario
    node: Any = raw
    for part in path:
        annotation, node = _step(annotation, node, part)
        if annotation is None:
            return None
    return _keys_of(annotation, node)


def _unwrap(annotation: Any) -> Any:
    while typing.get_origin(annotation) is typing.Annotated:
        annotation = typing.get_args(annotation)[0]
    return annotation


def _members(annotation: Any) -> list[Any]:
    annotation = _unwrap(annotation)
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return [_unwrap(a) for a in typing.get_args(annotation) if a is not type(None)]
    return [annotation]


def _model_for(annotation: Any, node: Any) -> type[BaseModel] | None:
    for member in _members(annotation):
        if isinstance(member, type) and issubclass(member, BaseModel):
            dist_field = member.model_fields.get("dist")
            if dist_field is None or not isinstance(node, Mapping) or node.get("dist") == dist_field.default or (
                node.get("dist") in typing.get_args(dist_field.annotation)
            ):
                return member
    return None


def _keys_of(annotation: Any, node: Any) -> set[str] | None:
    model = _model_for(annotation, node)
    if model is None:
        return None
    return {f.alias or name for name, f in model.model_fields.items()}


def _step(annotation: Any, node: Any, part: str) -> tuple[Any, Any]:
    child_node = node.get(part) if isinstance(node, Mapping) else None
    model = _model_for(annotation, node)
    if model is not None:
        for name, f in model.model_fields.items():
            if part in (name, f.alias):
                return f.annotation, child_node
        return None, None
    for member in _members(annotation):
        if typing.get_origin(member) is dict:
            return typing.get_args(member)[1], child_node
    return None, None


def _did_you_mean(word: str, candidates: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, sorted(candidates), n=1, cutoff=0.6)
    return f"; did you mean '{close[0]}'?" if close else ""
