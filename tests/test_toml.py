"""The one TOML writer: every value it writes reads back with tomllib as the same value."""

from __future__ import annotations

import datetime as dt
import tomllib
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from sim import load_scenario
from sim.analysis.sweep import toml_text
from sim.scenario.toml import toml_document, toml_key, toml_value

SCALARS = (
    st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
    | st.dates()
)
BASELINE = Path(__file__).resolve().parents[1] / "scenarios" / "baseline.toml"
VALUES = st.recursive(
    SCALARS, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4), max_leaves=12
)


@given(VALUES)
def test_a_value_reads_back_as_itself(value) -> None:
    assert tomllib.loads(f"v = {toml_value(value)}")["v"] == value


@given(st.text(min_size=1))
def test_a_key_reads_back_as_itself(key: str) -> None:
    assert list(tomllib.loads(f"{toml_key(key)} = 1")) == [key]


def test_inline_forms() -> None:
    pert = {"dist": "pert", "low": 5, "mode": 8, "high": 15}
    assert toml_value(pert) == '{ dist = "pert", low = 5, mode = 8, high = 15 }'
    assert toml_value(dt.date(2024, 5, 1)) == "2024-05-01"
    assert toml_value('say "hi"') == '"say \\"hi\\""'
    assert toml_key("caricom others") == '"caricom others"' and toml_key("canada") == "canada"
    assert toml_text is toml_value, "the sweep's writer is the one writer"


def test_a_resolved_scenario_document_reads_back_as_the_scenario(tmp_path) -> None:
    scenario = load_scenario(BASELINE)
    text = toml_document(scenario.model_dump(mode="python", by_alias=True))
    assert "\n[funding.pledges.canada]\n" in text and "\n[[base.stages]]\n" in text
    path = tmp_path / "resolved.toml"
    path.write_text(text)
    assert load_scenario(path) == scenario
