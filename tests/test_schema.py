"""The scenario JSON Schema (``deploysim schema``) and the reference generated from it.

Every scenario in the library must validate, both as written (a variant leaves out what its parent
gives) and resolved; typical mistakes must not. Each check runs with ``jsonschema`` when it is
installed and always with the small draft-07 checker below, which reads every keyword the schema
uses (a test makes sure of that), so the schema is tested even where ``jsonschema`` is missing.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import json
import math
import re
import tomllib
import typing
from pathlib import Path
from typing import Any

import pytest

from sim.commands.main import main
from sim.commands.schema import DRAFT, scenario_schema, schema_text
from sim.scenario.distributions import DIST_KINDS
from sim.scenario.loader import load_scenario

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = sorted((ROOT / "scenarios").glob("*.toml"))
REFERENCE = ROOT / "docs" / "scenario-reference.md"
SCRIPT = ROOT / "scripts" / "scenario_reference.py"


# -- a small draft-07 checker ------------------------------------------------------------------

#: Keywords the checker applies.
APPLIED = {
    "$ref", "type", "enum", "anyOf", "properties", "required", "additionalProperties", "items", "minItems",
    "minimum", "maximum", "exclusiveMinimum", "pattern", "if", "then", "else", "maxItems", "maxLength",
    "maxProperties",
}
#: Keywords that only annotate (draft-07 asserts no ``format`` by default).
ANNOTATIONS = {"$schema", "title", "description", "default", "format", "definitions"}
_TYPES = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "boolean": lambda v: isinstance(v, bool),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    "null": lambda v: v is None,
}


def builtin_errors(instance: Any, schema: dict[str, Any], root: dict[str, Any], path: str = "") -> list[str]:
    """Where ``instance`` breaks ``schema`` (draft-07 semantics, the keywords in APPLIED only)."""
    where = path or "(top)"
    if "$ref" in schema:
        # Draft-07: a $ref's sibling keywords are ignored.
        target: Any = root
        for part in schema["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        return builtin_errors(instance, target, root, path)
    if "type" in schema and not _TYPES[schema["type"]](instance):
        return [f"{where}: expected {schema['type']}, got {instance!r}"]
    out: list[str] = []
    if "enum" in schema and instance not in schema["enum"]:
        out.append(f"{where}: {instance!r} not one of {schema['enum']}")
    if "anyOf" in schema and all(builtin_errors(instance, s, root, path) for s in schema["anyOf"]):
        out.append(f"{where}: matches none of its alternatives: {instance!r}")
    if "if" in schema:
        branch = "else" if builtin_errors(instance, schema["if"], root, path) else "then"
        if branch in schema:
            out += builtin_errors(instance, schema[branch], root, path)
    if isinstance(instance, dict):
        properties = schema.get("properties", {})
        if len(instance) > schema.get("maxProperties", math.inf):
            out.append(f"{where}: more than {schema['maxProperties']} entries")
        out += [f"{where}: missing required {key!r}" for key in schema.get("required", []) if key not in instance]
        extra = schema.get("additionalProperties", True)
        for key, value in instance.items():
            child = f"{path}.{key}" if path else key
            if key in properties:
                out += builtin_errors(value, properties[key], root, child)
            elif extra is False:
                out.append(f"{where}: unknown key {key!r}")
            elif isinstance(extra, dict):
                out += builtin_errors(value, extra, root, child)
    if isinstance(instance, list):
        if len(instance) < schema.get("minItems", 0):
            out.append(f"{where}: fewer than {schema['minItems']} items")
        if len(instance) > schema.get("maxItems", math.inf):
            out.append(f"{where}: more than {schema['maxItems']} items")
        if "items" in schema:
            for i, value in enumerate(instance):
                out += builtin_errors(value, schema["items"], root, f"{path}[{i}]")
    if _TYPES["number"](instance):
        if "minimum" in schema and instance < schema["minimum"]:
            out.append(f"{where}: {instance} < {schema['minimum']}")
        if "maximum" in schema and instance > schema["maximum"]:
            out.append(f"{where}: {instance} > {schema['maximum']}")
        if "exclusiveMinimum" in schema and instance <= schema["exclusiveMinimum"]:
            out.append(f"{where}: {instance} <= {schema['exclusiveMinimum']}")
    if isinstance(instance, str) and len(instance) > schema.get("maxLength", math.inf):
        out.append(f"{where}: longer than {schema['maxLength']} characters")
    if isinstance(instance, str) and "pattern" in schema and not re.search(schema["pattern"], instance):
        out.append(f"{where}: {instance!r} does not match {schema['pattern']}")
    return out


def keywords(schema: Any) -> set[str]:
    """Every keyword used anywhere in a schema (names under properties/definitions excluded)."""
    found: set[str] = set()
    if isinstance(schema, dict):
        for key, value in schema.items():
            found.add(key)
            if key in ("properties", "definitions"):
                for sub in value.values():
                    found |= keywords(sub)
            elif key != "enum" and key != "default":
                found |= keywords(value)
    elif isinstance(schema, list):
        for item in schema:
            found |= keywords(item)
    return found


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    return scenario_schema()


@pytest.fixture(scope="module", params=["builtin", "jsonschema"])
def errors(request: pytest.FixtureRequest, schema: dict[str, Any]):
    """A function: instance -> list of the schema's complaints, by either checker."""
    if request.param == "builtin":
        return lambda instance: builtin_errors(instance, schema, schema)
    jsonschema = pytest.importorskip("jsonschema")
    jsonschema.Draft7Validator.check_schema(schema)
    validator = jsonschema.Draft7Validator(schema)
    return lambda instance: [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(instance)]


def as_json(value: Any) -> Any:
    """A parsed TOML value as a JSON document has it: dates become YYYY-MM-DD strings."""
    if isinstance(value, dict):
        return {k: as_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [as_json(v) for v in value]
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def raw(path: Path) -> dict[str, Any]:
    return as_json(tomllib.loads(path.read_text()))


# -- the schema ----------------------------------------------------------------------------------


def test_schema_names_its_draft_title_and_extends(schema: dict[str, Any]) -> None:
    assert schema["$schema"] == DRAFT
    assert schema["title"] == "deploysim scenario"
    assert schema["properties"]["extends"]["type"] == "string"
    assert "extends" not in schema["definitions"]["Scenario"].get("required", [])


def test_checker_reads_every_keyword_the_schema_uses(schema: dict[str, Any]) -> None:
    assert keywords(schema) <= APPLIED | ANNOTATIONS, keywords(schema) - APPLIED - ANNOTATIONS


def test_a_number_is_accepted_wherever_a_distribution_is(schema: dict[str, Any]) -> None:
    kinds = {f"#/definitions/{k.__name__}" for k in DIST_KINDS}
    seen = 0
    for name, definition in schema["definitions"].items():
        for key, prop in definition.get("properties", {}).items():
            refs = {m.get("$ref") for m in prop.get("anyOf", [])} | {m.get("$ref") for m in prop.get("oneOf", [])}
            if refs & kinds:
                seen += 1
                assert "oneOf" not in prop, f"{name}.{key}"
                assert prop["anyOf"][0]["type"] == "number", f"{name}.{key}"
                assert refs - {None} == kinds, f"{name}.{key} should allow every distribution"
    assert seen > 20


def test_duration_and_share_numbers_carry_their_bounds(schema: dict[str, Any]) -> None:
    props = schema["definitions"]
    assert props["Governance"]["properties"]["hold_days"]["anyOf"][0] == {"type": "number", "minimum": 0}
    assert props["Pledge"]["properties"]["paid_share"]["anyOf"][0] == {"type": "number", "minimum": 0, "maximum": 1}


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: p.name)
def test_resolved_scenarios_validate(path: Path, errors) -> None:
    resolved = load_scenario(path).model_dump(mode="json", by_alias=True)
    assert errors(resolved) == []


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: p.name)
def test_files_as_written_validate(path: Path, errors) -> None:
    assert errors(raw(path)) == []


def _broken(change) -> dict[str, Any]:
    data = raw(ROOT / "scenarios" / "baseline.toml")
    change(data)
    return data


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(lambda d: d["funding"].update(runway_dayz=30), id="misspelt key"),
        pytest.param(lambda d: d.pop("governance"), id="missing section"),
        pytest.param(lambda d: d["logistics"]["airlift"].pop("seats_per_flight"), id="missing nested key"),
        pytest.param(lambda d: d["reconnaissance"].update(duration_days=-3), id="negative duration"),
        pytest.param(lambda d: d["funding"]["pledges"]["canada"].update(paid_share=1.5), id="share above 1"),
        pytest.param(lambda d: d["governance"].update(hold_days={"dist": "gamma", "k": 2}), id="unknown dist"),
        pytest.param(lambda d: d["governance"].update(hold_days={"median": 2, "p90": 4}), id="table without dist"),
        pytest.param(lambda d: d["governance"].update(hold_days={"dist": "pert", "low": 1}), id="incomplete dist"),
        pytest.param(lambda d: d["force"]["training"].update(starts="later"), id="not an allowed value"),
        pytest.param(lambda d: d.update(horizon_days=0), id="bound"),
        pytest.param(lambda d: d.update(name="my scenario"), id="pattern"),
        pytest.param(lambda d: d.update(start_date=20240314), id="wrong type"),
    ],
)
def test_mistakes_in_a_complete_file_are_caught(change, errors) -> None:
    assert errors(_broken(change))


@pytest.mark.parametrize(
    "data",
    [
        pytest.param({"extends": "baseline.toml", "funding": {"runway_dayz": 30}}, id="misspelt key"),
        pytest.param({"extends": "baseline.toml", "governance": {"hold_days": {"dist": "pert"}}}, id="incomplete dist"),
        pytest.param({"extends": "baseline.toml", "force": {"pledged_officers": 0}}, id="bound"),
        pytest.param({"extends": 3}, id="extends not text"),
    ],
)
def test_mistakes_in_a_variant_are_caught(data: dict[str, Any], errors) -> None:
    assert errors(data)


def test_a_variant_may_leave_out_what_its_parent_gives(errors) -> None:
    variant = {"extends": "baseline.toml", "name": "v", "funding": {"pledges": {"canada": {"tranches": 3}}}}
    assert errors(variant) == []
    assert errors({k: v for k, v in variant.items() if k != "extends"})


# -- the command ---------------------------------------------------------------------------------


def test_schema_command_prints_the_schema(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["schema"]) == 0
    out = capsys.readouterr().out
    assert out == schema_text()
    assert json.loads(out) == scenario_schema()


def test_schema_command_writes_and_refuses_to_overwrite(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "scenario.schema.json"
    assert main(["schema", "--out", str(out)]) == 0
    assert json.loads(out.read_text()) == scenario_schema()
    out.write_text("{}")
    assert main(["schema", "--out", str(out)]) == 2
    assert "already exists; pass --force" in capsys.readouterr().err
    assert out.read_text() == "{}"
    # --force replaces only a schema this command wrote; a file of another kind is left alone.
    assert main(["schema", "--out", str(out), "--force"]) == 2
    assert "not a schema file written by deploysim" in capsys.readouterr().err
    assert out.read_text() == "{}"
    out.write_text(schema_text().replace("deploysim validate", "an older deploysim validate"))
    assert main(["schema", "--out", str(out), "--force"]) == 0
    assert json.loads(out.read_text()) == scenario_schema()
    assert [p.name for p in tmp_path.iterdir()] == [out.name]


def test_schema_command_refuses_a_folder_or_missing_parent(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["schema", "--out", str(tmp_path)]) == 2
    assert main(["schema", "--out", str(tmp_path / "nowhere" / "s.json")]) == 2
    assert capsys.readouterr().err.count("deploysim: error:") == 2


# -- the reference -------------------------------------------------------------------------------


def _reference_script():
    spec = importlib.util.spec_from_file_location("scenario_reference", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_reference_is_up_to_date() -> None:
    expected = _reference_script().render()
    actual = REFERENCE.read_text(encoding="utf-8") if REFERENCE.exists() else ""
    assert actual == expected, (
        "docs/scenario-reference.md is out of date with the scenario schema: run .venv/bin/python "
        "scripts/scenario_reference.py"
    )


def test_reference_covers_every_field_and_distribution(schema: dict[str, Any]) -> None:
    text = _reference_script().render()
    for name, definition in schema["definitions"].items():
        if name.startswith("Partial"):
            continue
        for key in definition.get("properties", {}):
            assert f"`{key}`" in text, f"{name}.{key} is missing from the reference"
    for kind in DIST_KINDS:
        (tag,) = typing.get_args(kind.model_fields["dist"].annotation)
        assert f"### `{tag}`" in text
