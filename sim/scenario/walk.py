"""One walk over the scenario schema: which keys a table may hold, what type each has, every value.

The schema (:class:`sim.scenario.schema.Scenario`) is a tree of section models, tables of named
entries (``dict[str, Pledge]``), lists of entries (``tuple[BaseStage, ...]``) and, at the leaves,
distributions and plain values. Everything that walks it does so here: the loader (known keys for a
did-you-mean, whether a distribution goes at a key), the ``schema`` command (every section model),
sensitivity (every distribution) and comparison (every leaf). A value walked may be a validated
scenario or its plain-data form (a parsed file, ``model_dump``).
"""

from __future__ import annotations

import types
import typing
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from sim.scenario.distributions import DIST_KINDS
from sim.scenario.schema import Scenario


@dataclass(frozen=True)
class Leaf:
    """One value of a scenario: its key path, the schema's type there and the value.

    Attributes:
        path: Keys from the top; a list entry's index is an ``int`` (``("base", "stages", 0, "cost_usd")``).
        annotation: The schema's annotation at the key (e.g. ``Duration``, ``float``, ``tuple[str, ...]``).
        value: The value: a distribution (instance or table), a number, a date, text, a list of plain values.
    """

    path: tuple[str | int, ...]
    annotation: Any
    value: Any

    @property
    def key(self) -> str:
        """The dotted key, as ``--set`` takes it: ``base.stages.0.cost_usd``."""
        return dotted(self.path)


def dotted(path: Sequence[str | int]) -> str:
    """A key path as a dotted key: ``("funding", "pledges", "canada")`` -> ``funding.pledges.canada``."""
    return ".".join(str(part) for part in path)


def unwrap(annotation: Any) -> Any:
    """An annotation without its ``Annotated[...]`` validators."""
    while typing.get_origin(annotation) is typing.Annotated:
        annotation = typing.get_args(annotation)[0]
    return annotation


def members(annotation: Any) -> list[Any]:
    """The types a value at ``annotation`` may have: a union's members (``None`` left out), else itself."""
    annotation = unwrap(annotation)
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return [unwrap(a) for a in typing.get_args(annotation) if a is not type(None)]
    return [annotation]


def is_distribution(annotation: Any) -> bool:
    """Whether the schema expects a distribution (or a plain number standing for a fixed one) here."""
    return annotation is not None and any(m in DIST_KINDS for m in members(annotation))


def model_for(annotation: Any, value: Any = None) -> type[BaseModel] | None:
    """The section model (or distribution model, chosen by the value's ``dist``) at ``annotation``, if any."""
    for member in members(annotation):
        if isinstance(member, type) and issubclass(member, BaseModel):
            dist_field = member.model_fields.get("dist")
            if isinstance(value, BaseModel):
                if isinstance(value, member):
                    return member
                continue
            if dist_field is None or not isinstance(value, Mapping) or value.get("dist") == dist_field.default or (
                value.get("dist") in typing.get_args(dist_field.annotation)
            ):
                return member
    return None


def field_keys(model: type[BaseModel]) -> dict[str, str]:
    """A model's keys as a file writes them (aliases where set) -> its field names."""
    return {info.alias or name: name for name, info in model.model_fields.items()}


def keys_of(annotation: Any, value: Any = None) -> set[str] | None:
    """The keys a table at ``annotation`` may hold, or None where any key goes (a table of named entries)."""
    model = model_for(annotation, value)
    return None if model is None else set(field_keys(model))


def child(annotation: Any, value: Any, part: str | int) -> tuple[Any, Any]:
    """One step down: the annotation and value at key (or list index) ``part``; ``(None, None)`` off the schema."""
    model = model_for(annotation, value)
    if model is not None:
        for key, name in field_keys(model).items():
            if part in (key, name):
                return model.model_fields[name].annotation, _get(value, key, name)
        return None, None
    for member in members(annotation):
        origin = typing.get_origin(member)
        if origin is dict:
            return typing.get_args(member)[1], _get(value, str(part), str(part))
        if origin in (tuple, list) and str(part).isdigit():
            entries = value if isinstance(value, Sequence) and not isinstance(value, str) else ()
            index = int(part)
            return typing.get_args(member)[0], entries[index] if index < len(entries) else None
    return None, None


def annotation_at(path: Sequence[str | int], value: Any = None, root: Any = Scenario) -> tuple[Any, Any]:
    """The schema's annotation at a key path and the value there; ``(None, None)`` off the schema."""
    annotation = root
    for part in path:
        annotation, value = child(annotation, value, part)
        if annotation is None:
            return None, None
    return annotation, value


def leaves(value: Any, root: Any = Scenario, path: tuple[str | int, ...] = ()) -> Iterator[Leaf]:
    """Every value of a scenario (or of its plain-data form), in the schema's order.

    Section tables, tables of named entries and lists of entries are walked into; a distribution is
    one leaf, as is a list of plain values (``after = ["authority_named"]``) and a missing section
    (``None``). Table entries come in their own order, fields in the schema's.

    Example:
        >>> from sim import load_scenario
        >>> first = next(leaves(load_scenario("baseline")))
        >>> first.key, first.value
        ('name', 'baseline')
    """
    model = None if is_distribution(root) else model_for(root, value)
    if model is not None and value is not None:
        for key, name in field_keys(model).items():
            yield from leaves(_get(value, key, name), model.model_fields[name].annotation, (*path, key))
        return
    for member in members(root):
        origin = typing.get_origin(member)
        args = typing.get_args(member)
        entry = (args[1] if origin is dict else args[0]) if origin in (dict, tuple, list) and args else None
        if origin is dict and isinstance(value, Mapping):
            for key, item in value.items():
                yield from leaves(item, entry, (*path, str(key)))
            return
        if origin in (tuple, list) and model_for(entry) is not None and not is_distribution(entry):
            for index, item in enumerate(value or ()):
                yield from leaves(item, entry, (*path, index))
            return
    yield Leaf(path, root, value)


def section_models(model: type[BaseModel] = Scenario) -> list[type[BaseModel]]:
    """``model`` and every model reachable from its fields (sections and distributions), each once."""
    found: dict[str, type[BaseModel]] = {}

    def visit(m: type[BaseModel]) -> None:
        if m.__name__ in found:
            return
        found[m.__name__] = m
        for info in m.model_fields.values():
            for sub in _models_in(info.annotation):
                visit(sub)

    visit(model)
    return list(found.values())


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    """The pydantic models named anywhere inside a type annotation."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in typing.get_args(annotation) for m in _models_in(arg)]


def _get(value: Any, key: str, name: str) -> Any:
    if isinstance(value, BaseModel):
        return getattr(value, name, None)
    if isinstance(value, Mapping):
        return value.get(key, value.get(name))
    return None
