"""``deploysim schema``: the JSON Schema of a scenario file, for editors' completion and checks.

The schema is :class:`sim.scenario.schema.Scenario`'s own (pydantic), adjusted to what a scenario *file* may
say: a plain number wherever a distribution goes, an ``extends`` key, and, in a file that extends
another, any key left out (the parent supplies it). It is written for JSON Schema draft-07, which
TOML editors (Taplo, Even Better TOML) and most validators read. ``docs/scenario-reference.md`` is
generated from it by ``scripts/scenario_reference.py``. The loader stays the authority: rules the
schema cannot express (``low <= mode <= high``, a duration's distribution that can go negative, gate
names that resolve) are checked by ``deploysim validate``.
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, get_args

from sim.batch.safeio import write_text

if TYPE_CHECKING:
    from pydantic import BaseModel

#: The dialect the schema is written in.
DRAFT = "http://json-schema.org/draft-07/schema#"
TITLE = "deploysim scenario"
#: Where pydantic's definitions go: draft-07's name for them, which every draft resolves.
DEFINITIONS = "definitions"
#: Prefix of the definitions of a section in a file that extends another (every key optional).
PARTIAL = "Partial"

EXAMPLES = """\
examples:
  deploysim schema > scenario.schema.json
  deploysim schema --out scenario.schema.json --force

then, in a TOML editor using Taplo (e.g. VS Code's Even Better TOML), put at the top of a scenario file:
  #:schema ./scenario.schema.json
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``schema`` subcommand to the ``deploysim`` parser."""
    p = subparsers.add_parser(
        "schema",
        help="print the JSON Schema of scenario files (editor completion and validation)",
        description="Print the JSON Schema (draft-07) of scenario files, for completion and validation of\n"
        "TOML files in editors (Taplo's '#:schema' directive or a schema association). A file with\n"
        "'extends' may leave any key out; one without must be complete. 'deploysim validate' checks\n"
        "what the schema cannot (e.g. low <= mode <= high).",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--out", type=Path, metavar="FILE", help="write the schema to FILE instead of printing it")
    p.add_argument("--force", action="store_true", help="replace an existing FILE")
    p.add_argument("--observations", action="store_true",
                   help="the schema of observations files (deploysim backtest --observed) instead")
    p.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    """Print the schema, or write it to ``--out``; returns the exit code.

    Raises:
        sim.commands.errors.UserError: If ``--out`` exists and ``--force`` is not given, or is a folder.
    """
    from sim.commands.errors import UserError

    text = schema_text(observations=getattr(args, "observations", False))
    if args.out is None:
        sys.stdout.write(text)
        return 0
    out: Path = args.out
    if out.is_dir():
        raise UserError(f"{out} is a folder; --out expects a file name such as scenario.schema.json")
    if out.exists() and not args.force:
        raise UserError(f"{out} already exists; pass --force to replace it")
    if not out.parent.exists():
        raise UserError(f"{out.parent} does not exist")
    write_text(out, text, force=args.force, is_ours=_is_schema, kind="schema file")
    print(out)
    return 0


def _is_schema(path: Path) -> bool:
    """Whether ``path`` holds a schema this command wrote (only those are replaced with ``--force``)."""
    try:
        with open(path, "rb") as stream:
            head = stream.read(4096)
    except OSError:
        return False
    return head.lstrip().startswith(b"{") and (
        b'"title": "deploysim scenario"' in head or f'"title": "{OBSERVATIONS_TITLE}"'.encode() in head
    )


def schema_text(observations: bool = False) -> str:
    """The schema as printed: indented JSON, keys in schema order, one trailing newline.

    Args:
        observations: The schema of observations files (:func:`observations_schema`) instead of scenarios'.
    """
    schema = observations_schema() if observations else scenario_schema()
    return json.dumps(schema, indent=2, ensure_ascii=False) + "\n"


#: Title of the observations files' schema.
OBSERVATIONS_TITLE = "deploysim observations"


def observations_schema() -> dict[str, Any]:
    """The JSON Schema (draft-07) of an observations file (:class:`sim.scenario.observations.Observations`).

    Example:
        >>> schema = observations_schema()
        >>> schema["title"], sorted(schema["required"])
        ('deploysim observations', ['name', 'start_date'])
    """
    from sim.scenario.observations import Observations

    root = Observations.model_json_schema(ref_template=f"#/{DEFINITIONS}/{{model}}")
    defs = root.pop("$defs", {})
    root.pop("title", None)
    return {
        "$schema": DRAFT,
        "title": OBSERVATIONS_TITLE,
        **root,
        "description": "A deploysim observations file (TOML): what happened, each entry dated and sourced. "
        "Checked in full by 'deploysim backtest --observed'.",
        DEFINITIONS: {name: defs[name] for name in sorted(defs)},
    }


def scenario_schema() -> dict[str, Any]:
    """The JSON Schema of a scenario file (draft-07).

    A file without ``extends`` must satisfy the full :class:`Scenario` schema (``definitions/Scenario``),
    required keys included. A file with ``extends`` is checked key by key against ``Partial*``
    definitions, the same tables with nothing required, except that a distribution table is always
    complete (it replaces its parent's whole). Wherever a distribution goes, a plain number may stand
    (a fixed value): at least 0 for durations and amounts, between 0 and 1 for shares.

    Example:
        >>> schema = scenario_schema()
        >>> schema["$schema"], "extends" in schema["properties"]
        ('http://json-schema.org/draft-07/schema#', True)
        >>> days = schema["definitions"]["Governance"]["properties"]["hold_days"]
        >>> {"type": "number", "minimum": 0} in days["anyOf"]
        True
    """
    from sim.scenario.distributions import DIST_KINDS
    from sim.scenario.schema import Scenario
    from sim.scenario.walk import section_models

    ref_template = f"#/{DEFINITIONS}/{{model}}"
    root = Scenario.model_json_schema(ref_template=ref_template)
    defs: dict[str, Any] = root.pop("$defs")
    defs["Scenario"] = root
    dist_names = {kind.__name__ for kind in DIST_KINDS}
    models = {model.__name__: model for model in section_models(Scenario)}
    for name, definition in defs.items():
        if name in dist_names:
            _tidy_distribution(definition)
        else:
            _accept_numbers(definition, models[name], dist_names)
    for name in sorted(set(defs) - dist_names):
        defs[PARTIAL + name] = _partial(defs[name], dist_names)
    partial_root = defs.pop(PARTIAL + "Scenario")
    extends = {
        "type": "string",
        "title": "Extends",
        "description": "The parent scenario file, relative to this one. This file overrides it key by key: tables "
        "merge, and a distribution table replaces the parent's whole. Read by the loader; not part of the resolved "
        "scenario.",
    }
    return {
        "$schema": DRAFT,
        "title": TITLE,
        "description": "A deploysim scenario file (TOML). A file without 'extends' must be complete; a file with "
        "'extends' may leave out any key its parent gives. Checked in full by 'deploysim validate'.",
        "type": "object",
        "properties": {"extends": extends, **partial_root["properties"]},
        "additionalProperties": False,
        "if": {"required": ["extends"]},
        "else": {"$ref": f"#/{DEFINITIONS}/Scenario"},
        DEFINITIONS: {name: defs[name] for name in sorted(defs)},
    }


def _number_branch(field: Any) -> dict[str, Any]:
    """The schema of a plain number standing for a fixed value of ``field``'s distribution."""
    from sim.scenario.distributions import Duration
    from sim.scenario.schema import Share

    # The validators Duration and Share attach are what mark a field as one; the last one is theirs.
    # An optional one (``Duration | None``) carries them on its first type.
    options = get_args(field.annotation)
    metadata = [*field.metadata, *(get_args(options[0])[1:] if options else ())]
    if get_args(Duration)[-1] in metadata:
        return {"type": "number", "minimum": 0}
    if get_args(Share)[-1] in metadata:
        return {"type": "number", "minimum": 0, "maximum": 1}
    return {"type": "number"}


def _accept_numbers(definition: dict[str, Any], model: type[BaseModel], dist_names: set[str]) -> None:
    """Let a plain number stand wherever ``model``'s schema expects a distribution table."""
    by_key = {field.alias or name: field for name, field in model.model_fields.items()}
    for key, prop in definition.get("properties", {}).items():
        members = prop.get("oneOf", [])
        if members and all(_ref_name(m) in dist_names for m in members):
            # anyOf, not oneOf: the tags keep the kinds apart anyway, and an editor that ignores
            # ``enum`` on the tag must not see a table matching two kinds as an error.
            del prop["oneOf"]
            prop.pop("discriminator", None)
            prop["anyOf"] = [_number_branch(by_key[key]), *members]
            continue
        # An optional distribution (``Duration | None``): its distribution branch, flattened the same way.
        for i, option in enumerate(prop.get("anyOf", [])):
            members = option.get("oneOf", []) if isinstance(option, dict) else []
            if members and all(_ref_name(m) in dist_names for m in members):
                prop["anyOf"][i:i + 1] = [_number_branch(by_key[key]), *members]
                break


def _tidy_distribution(definition: dict[str, Any]) -> None:
    """A distribution table must name its kind; tags as ``enum``, which every draft reads."""
    tag = definition["properties"]["dist"]
    if "const" in tag:
        tag["enum"] = [tag.pop("const")]
    tag.pop("default", None)
    required = definition.setdefault("required", [])
    if "dist" not in required:
        required.insert(0, "dist")


def _ref_name(node: Any) -> str | None:
    ref = node.get("$ref") if isinstance(node, dict) else None
    return ref.rsplit("/", 1)[-1] if isinstance(ref, str) else None


def _partial(definition: dict[str, Any], dist_names: set[str]) -> dict[str, Any]:
    """A section's schema as a file that extends another may write it: nothing required."""
    out = copy.deepcopy(definition)

    def visit(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("type") == "object":
                node.pop("required", None)
            name = _ref_name(node)
            if name is not None and name not in dist_names:
                node["$ref"] = f"#/{DEFINITIONS}/{PARTIAL}{name}"
            for value in node.values():
                visit(value)
        elif isinstance(node, list):
            for value in node:
                visit(value)

    visit(out)
    return out
