"""The parameter table (every value, its unit and its source from the file's comments) and `deploysim show`."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pandas as pd
import pytest

from sim import load_scenario
from sim.commands.main import main
from sim.scenario.parameters import basis_of, parameter_table, unit_of
from sim.scenario.walk import leaves

ROOT = Path(__file__).resolve().parents[1]
BASELINE = ROOT / "scenarios" / "baseline.toml"
DONORS_PAY_LATE = ROOT / "scenarios" / "donors_pay_late.toml"


def test_units_come_from_key_names() -> None:
    assert [unit_of(k) for k in ("funding.runway_days", "base.stages.0.cost_usd", "force.pledged_officers",
                                 "attrition.injuries_per_officer_year", "governance.setbacks_per_year",
                                 "funding.pledges.canada.pledged_on", "logistics.airlift.days_between_flights",
                                 "force.contingent_size")] == [
        "days", "US$", "officers", "per officer-year", "per year", "date", "days", ""]


def test_basis_reads_the_comment() -> None:
    assert basis_of("facts 2024-02-22: C$80.5M") == "source"
    assert basis_of("judgement: paid in two instalments") == "judgement"
    assert basis_of("facts: 12 months; judgement: renewals are yearly too") == "source and judgement"
    assert basis_of("Kenya's departures") == "comment" and basis_of("") == "unstated"


def test_every_value_has_a_row_with_the_comment_beside_it() -> None:
    table = parameter_table(BASELINE)
    scenario = load_scenario(BASELINE)
    assert list(table["key"]) == [leaf.key for leaf in leaves(scenario)]
    rows = table.set_index("key")
    canada = rows.loc["funding.pledges.canada.amount_usd"]
    assert (canada["value"], canada["unit"], canada["basis"], canada["file"]) == (
        "59600000.0", "US$", "source", "baseline.toml")
    assert canada["source"] == "facts 2024-02-22: C$80.5M, about $59-60M"
    # A comment block above a key, its lines joined.
    lead = rows.loc["reconnaissance.lead_time_days"]
    assert lead["source"].startswith("facts 2023: the first assessment team left 22 d") and "Judgement: a second" \
        in lead["source"]
    assert rows.loc["reconnaissance.lead_time_days", "value"] == \
        '{ dist = "pert", low = 5.0, mode = 18.0, high = 45.0, shape = 4.0 }'
    # A value no file writes is the schema's default.
    assert tuple(rows.loc["attrition.interval_days", ["value", "basis", "file"]]) == ("30.0", "default", "")


def test_inherited_values_carry_their_own_files_comment_and_set_values_say_so() -> None:
    rows = parameter_table(DONORS_PAY_LATE, ["horizon_days=365"]).set_index("key")
    lag = rows.loc["funding.pledges.canada.tranche_lag_days"]
    assert lag["file"] == "donors_pay_late.toml" and lag["source"].startswith("baseline { lognormal, median 45")
    amount = rows.loc["funding.pledges.canada.amount_usd"]
    assert amount["file"] == "baseline.toml" and amount["source"].startswith("facts 2024-02-22")
    assert tuple(rows.loc["horizon_days", ["value", "basis", "file"]]) == ("365", "--set", "--set")
    assert rows.loc["name", "source"] == "", "a file's opening comment is not one value's"


def test_show_prints_the_resolved_scenario_as_toml_that_runs_the_same(tmp_path: Path, capsys) -> None:
    assert main(["show", str(DONORS_PAY_LATE), "--set", "funding.runway_days=30"]) == 0
    text = capsys.readouterr().out
    assert "extends" not in tomllib.loads(text)
    path = tmp_path / "resolved.toml"
    path.write_text(text)
    assert load_scenario(path) == load_scenario(DONORS_PAY_LATE, ["funding.runway_days=30"])


def test_show_table_prints_and_writes_csv(capsys) -> None:
    assert main(["show", str(DONORS_PAY_LATE), "--table"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["key", "value", "unit", "basis", "source"]
    amount = next(line for line in lines if line.startswith("funding.pledges.canada.amount_usd "))
    assert "US$" in amount and amount.endswith("about $59-60M [baseline.toml]")
    assert main(["show", str(BASELINE), "--table", "--csv"]) == 0
    from io import StringIO

    table = pd.read_csv(StringIO(capsys.readouterr().out), keep_default_na=False)
    assert list(table.columns) == ["key", "value", "unit", "basis", "source", "file"]


@pytest.mark.parametrize(("argv", "message"), [
    (["--csv"], "--csv goes with --table"),
    (["--set", "funding.runway_dayz=3"], "did you mean 'runway_days'"),
])
def test_show_user_errors_are_one_line(argv: list[str], message: str, capsys) -> None:
    assert main(["show", str(BASELINE), *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
