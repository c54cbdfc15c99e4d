"""Reading scenarios: every shipped file validates, and every kind of mistake gets a usable message.

The bad files live in ``tests/data/bad/``; each extends the baseline and makes one mistake, on the
line marked ``# error here``. The tests read that line number from the file itself, so a message
must point at the real line, not at a number copied into the test.
"""

from __future__ import annotations

import doctest
from pathlib import Path

import pydantic
import pytest

import sim.scenario.loader
from sim.scenario.distributions import Fixed, Pert, Uniform
from sim.scenario.loader import Problem, ScenarioError, derive, load_scenario, scenario_from_dict
from sim.scenario.schema import Scenario

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = sorted((ROOT / "scenarios").glob("*.toml"))
BASELINE = ROOT / "scenarios" / "baseline.toml"
BAD = Path(__file__).resolve().parent / "data" / "bad"
MARK = "# error here"

#: Fragments of pydantic's own wording that must not reach a person reading a scenario error.
NOISE = ("function-after", "function-before", "tagged-union", "Input should", "Value error", "Field required")


def marked_line(path: Path) -> int:
    """The 1-based number of the line in ``path`` marked as the mistake."""
    lines = [n for n, text in enumerate(path.read_text().splitlines(), start=1) if MARK in text]
    assert len(lines) == 1, f"{path} should mark exactly one line with {MARK!r}"
    return lines[0]


@pytest.fixture(scope="module")
def baseline() -> Scenario:
    return load_scenario(BASELINE)


@pytest.mark.parametrize("path", SCENARIOS, ids=[p.name for p in SCENARIOS])
def test_every_shipped_scenario_validates(path: Path) -> None:
    scenario = load_scenario(path)
    assert isinstance(scenario, Scenario)


def test_there_are_scenarios_to_check() -> None:
    assert BASELINE in SCENARIOS


# -- one mistake per file ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "blamed", "key", "expected"),
    [
        ("unknown_key", None, "funding.runway_dayz", "did you mean 'runway_days'"),
        ("wrong_type", None, "funding.runway_days", 'expected a number, got "sixty"'),
        ("negative_duration", None, "reconnaissance.duration_days", "cannot be negative"),
        ("uniform_low_above_high", None, "reconnaissance.duration_days", "low (10) must not exceed high (5)"),
        ("misspelt_distribution", None, "governance.transitional_authority_days", "did you mean 'lognormal'"),
        (
            "unknown_distribution_parameter",
            None,
            "funding.pledges.canada.tranche_lag_days.sd",
            "unknown key 'sd'; expected one of dist, median, p90",
        ),
        ("malformed", None, "funding.runway_days", "not valid TOML"),
        ("missing_parent", None, "extends", "no_such_parent.toml: no such file"),
        # The line that closes a cycle is the extends of the file read last.
        ("cycle_a", "cycle_b", "extends", "extends cycle: cycle_a.toml -> cycle_b.toml -> cycle_a.toml"),
        ("cycle_b", "cycle_a", "extends", "extends cycle: cycle_b.toml -> cycle_a.toml -> cycle_b.toml"),
        ("unknown_table", None, "logistic", "did you mean 'logistics'"),
        ("nan_duration", None, "force.training.duration_days", "expected a finite number"),
        ("key_quoted_in_description", None, "funding.runway_dayz", "did you mean 'runway_days'"),
    ],
)
def test_bad_file_names_file_key_line_and_expectation(name: str, blamed: str | None, key: str, expected: str) -> None:
    path = BAD / f"{name}.toml"
    blamed_path = BAD / f"{blamed or name}.toml"
    line = marked_line(blamed_path)

    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)

    err = caught.value
    assert err.problems == [Problem(str(blamed_path), key, err.problems[0].message, line)]
    text = str(err)
    assert f"{blamed_path}:{line}: {key}: " in text
    assert expected in text
    assert not any(noise in text for noise in NOISE), text


def test_a_bad_fixture_is_valid_once_its_one_mistake_is_fixed(tmp_path: Path) -> None:
    """The fixtures make exactly one mistake: fixing the marked line makes the file load."""
    fixed = tmp_path / "fixed.toml"
    text = (BAD / "unknown_key.toml").read_text().replace("runway_dayz", "runway_days")
    fixed.write_text(text.replace("../../../scenarios/baseline.toml", BASELINE.as_posix()))
    assert load_scenario(fixed).funding.runway_days == 60


def test_error_in_a_parent_points_into_the_parent(tmp_path: Path) -> None:
    """When the mistake is in the file extended, the message names that file and its line."""
    parent = tmp_path / "parent.toml"
    parent.write_text(f'extends = "{BASELINE.as_posix()}"\n\n[force]\ncontingent_size = "big"\n')
    child = tmp_path / "child.toml"
    child.write_text('extends = "parent.toml"\nname = "child"\n')
    with pytest.raises(ScenarioError) as caught:
        load_scenario(child)
    assert caught.value.problems == [
        Problem(str(parent), "force.contingent_size", 'expected a whole number, got "big"', 4)
    ]


def test_several_mistakes_are_all_reported(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(
        f'extends = "{BASELINE.as_posix()}"\n'
        "horizon = 10\n"
        "[reconnaissance.duration_days]\n"
        'dist = "normal"\n'
        "mean = 5\n"
        "sdd = 3\n"
    )
    with pytest.raises(ScenarioError) as caught:
        load_scenario(bad)
    found = {(p.key, p.line) for p in caught.value.problems}
    assert found == {
        ("horizon", 2),
        ("reconnaissance.duration_days.sd", 3),  # missing: the table's header is where to add it
        ("reconnaissance.duration_days.sdd", 6),
    }
    assert len(str(caught.value).splitlines()) == 3


def test_a_plain_value_where_a_distribution_goes_explains_both_forms(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(f'extends = "{BASELINE.as_posix()}"\n[reconnaissance]\nduration_days = "ten"\n')
    with pytest.raises(ScenarioError, match=r"expected a number or a distribution table such as \{ dist = "):
        load_scenario(bad)


def test_missing_file_and_unreadable_text(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match="no such file") as caught:
        load_scenario(tmp_path / "absent.toml")
    assert str(tmp_path / "absent.toml") in str(caught.value)

    binary = tmp_path / "binary.toml"
    binary.write_bytes(b"name = \xff\xfe\n")
    with pytest.raises(ScenarioError, match="not UTF-8 text"):
        load_scenario(binary)


# -- extends -------------------------------------------------------------------------------------


def test_extends_deep_merges_tables_but_replaces_distributions(tmp_path: Path, baseline: Scenario) -> None:
    child = tmp_path / "child.toml"
    child.write_text(
        f'extends = "{BASELINE.as_posix()}"\n'
        'name = "child"\n'
        "[funding]\n"
        "runway_days = 60\n"
        "[funding.pledges.canada]\n"
        "tranches = 3\n"
        "[reconnaissance]\n"
        'duration_days = { dist = "uniform", low = 5, high = 10 }\n'
    )
    s = load_scenario(child)
    assert s.name == "child"
    assert s.funding.runway_days == 60
    # Siblings of an overridden key are kept, at every depth.
    assert s.funding.initial_balance_usd == baseline.funding.initial_balance_usd
    assert s.funding.costs == baseline.funding.costs
    assert s.funding.pledges.keys() == baseline.funding.pledges.keys()
    assert s.funding.pledges["canada"].tranches == 3
    assert s.funding.pledges["canada"].amount_usd == baseline.funding.pledges["canada"].amount_usd
    assert s.reconnaissance.lead_time_days == baseline.reconnaissance.lead_time_days
    # The child's distribution replaces the parent's pert whole: no 'mode' is carried over.
    assert s.reconnaissance.duration_days == Uniform(dist="uniform", low=5, high=10)


def test_extends_chain_of_three(tmp_path: Path) -> None:
    (tmp_path / "middle.toml").write_text(f'extends = "{BASELINE.as_posix()}"\nhorizon_days = 400\n')
    (tmp_path / "leaf.toml").write_text('extends = "middle.toml"\nname = "leaf"\n')
    s = load_scenario(tmp_path / "leaf.toml")
    assert (s.name, s.horizon_days) == ("leaf", 400)


# -- overrides, derive, round trip ---------------------------------------------------------------


def test_overrides_as_strings_and_as_a_mapping() -> None:
    s = load_scenario(BASELINE, ["funding.runway_days=60", "reconnaissance.duration_days.high=20"])
    assert s.funding.runway_days == 60
    assert isinstance(s.reconnaissance.duration_days, Pert) and s.reconnaissance.duration_days.high == 20
    assert load_scenario(BASELINE, {"horizon_days": 365}).horizon_days == 365
    table = load_scenario(BASELINE, ['reconnaissance.duration_days = { dist = "uniform", low = 1, high = 2 }'])
    assert table.reconnaissance.duration_days == Uniform(dist="uniform", low=1, high=2)


@pytest.mark.parametrize(
    ("overrides", "key", "expected"),
    [
        (["funding.runway_dayz=60"], "funding.runway_dayz", "did you mean 'runway_days'"),
        (["fundin.runway_days=60"], "fundin.runway_days", "did you mean 'funding'"),
        ({"funding.pledges.canadaa.tranches": 2}, "funding.pledges.canadaa.tranches", "did you mean 'canada'"),
        (["funding.runway_days=sixty"], "funding.runway_days", 'expected a number, got "sixty"'),
        ({"horizon_days": -5}, "horizon_days", "expected a number greater than 0, got -5"),
        (["reconnaissance.duration_days=-3"], "reconnaissance.duration_days", "cannot be negative"),
        # The override is inside the table whose check fails: still the override's fault.
        (["force.contingent_size=500"], "force", "must be at least contingent_size (500)"),
        (["funding.runway_days"], "funding.runway_days", "expected KEY=VALUE"),
    ],
)
def test_bad_override_names_set_and_key(overrides: object, key: str, expected: str) -> None:
    with pytest.raises(ScenarioError) as caught:
        load_scenario(BASELINE, overrides)  # type: ignore[arg-type]
    text = str(caught.value)
    assert text.startswith(f"--set: {key}: ")
    assert expected in text
    assert [p.source for p in caught.value.problems] == ["--set"]


def test_derive_returns_a_new_scenario_and_leaves_the_original(baseline: Scenario) -> None:
    before = baseline.model_dump()
    late = derive(baseline, {"funding.runway_days": 120, "reconnaissance.duration_days": 9})
    assert late is not baseline
    assert late.funding.runway_days == 120
    assert late.reconnaissance.duration_days == Fixed(value=9)
    assert baseline.model_dump() == before
    assert baseline == load_scenario(BASELINE)
    assert derive(baseline, {}) == baseline


def test_derive_validates_like_set(baseline: Scenario) -> None:
    with pytest.raises(ScenarioError, match=r"--set: funding\.runway_dayz: .*did you mean 'runway_days'"):
        derive(baseline, ["funding.runway_dayz=1"])
    with pytest.raises(ScenarioError, match="cannot be negative"):
        derive(baseline, {"logistics.airport.closure_days": {"dist": "uniform", "low": -1, "high": 5}})


@pytest.mark.parametrize("path", SCENARIOS, ids=[p.name for p in SCENARIOS])
def test_resolved_scenario_round_trips_through_json(path: Path) -> None:
    scenario = load_scenario(path)
    assert scenario_from_dict(scenario.model_dump(mode="json", by_alias=True)) == scenario


def test_scenario_from_dict_reports_problems_against_its_source(baseline: Scenario) -> None:
    data = baseline.model_dump(mode="json", by_alias=True)
    data["funding"]["runway_dayz"] = 1
    with pytest.raises(ScenarioError) as caught:
        scenario_from_dict(data, source="manifest.json")
    assert (
        str(caught.value)
        == "manifest.json: funding.runway_dayz: unknown key 'runway_dayz'; did you mean 'runway_days'?"
    )


def test_scenario_is_frozen(baseline: Scenario) -> None:
    with pytest.raises(pydantic.ValidationError):
        baseline.horizon_days = 1  # type: ignore[misc]
    with pytest.raises(pydantic.ValidationError):
        baseline.funding.runway_days = 1  # type: ignore[misc]
    with pytest.raises(pydantic.ValidationError):
        baseline.reconnaissance.duration_days.high = 1  # type: ignore[misc, union-attr]


def test_docstring_examples_run(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The examples in the loader's docstrings are executed, so they cannot drift from the code."""
    monkeypatch.chdir(tmp_path)  # the examples name library scenarios, so any working directory will do
    result = doctest.testmod(sim.scenario.loader)
    assert result.attempted > 0 and result.failed == 0


def test_a_misspelt_gate_in_a_step_names_its_line_and_the_right_gate(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(f'extends = "{BASELINE.as_posix()}"\nname = "bad"\n\n[steps]\ndeparture = ["legal_clearence"]\n')
    with pytest.raises(ScenarioError) as info:
        load_scenario(bad)
    [problem] = info.value.problems
    assert (problem.source, problem.key, problem.line) == (str(bad), "steps.departure", 5)
    assert "did you mean 'legal_clearance'?" in problem.message


def test_a_misspelt_file_name_gets_a_suggestion(tmp_path: Path) -> None:
    (tmp_path / "baseline.toml").write_text("")
    with pytest.raises(ScenarioError, match=r"no such file; did you mean .*baseline\.toml\?"):
        load_scenario(tmp_path / "basline.toml")


def test_several_problems_come_in_file_order(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(f'extends = "{BASELINE.as_posix()}"\nname = "bad"\nhorizon_days = -1\n\n[funding]\n'
                   'runway_days = -2\nbilling_interval_days = "monthly"\n')
    with pytest.raises(ScenarioError) as info:
        load_scenario(bad)
    lines = [p.line for p in info.value.problems]
    assert lines == sorted(lines) and len(lines) == 3


def test_derive_from_python_does_not_speak_of_set(baseline: Scenario) -> None:
    with pytest.raises(ScenarioError) as caught:
        derive(baseline, {"funding.runway_dayz": 1})
    assert str(caught.value) == "derive: funding.runway_dayz: unknown key 'runway_dayz'; did you mean 'runway_days'?"
    with pytest.raises(ScenarioError) as caught:
        derive(baseline, {"horizon_days": -5})
    assert "--set" not in str(caught.value) and str(caught.value).startswith("derive: horizon_days: ")
    with pytest.raises(ScenarioError, match=r"^notebook: horizon_days: "):
        derive(baseline, {"horizon_days": -5}, source="notebook")
