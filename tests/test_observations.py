"""Observations files: the shipped record loads, and bad files get one-line errors like scenarios."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sim.commands.main import main
from sim.scenario.errors import ScenarioError
from sim.scenario.milestones import MILESTONES
from sim.scenario.observations import load_observations

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ROOT / "observations" / "mss_haiti.toml"

HEADER = 'name = "t"\nstart_date = 2024-03-14\n'


def errors_of(tmp_path: Path, text: str) -> list[str]:
    path = tmp_path / "obs.toml"
    path.write_text(HEADER + text, encoding="utf-8")
    with pytest.raises(ScenarioError) as info:
        load_observations(path)
    return str(info.value).splitlines()


def test_the_shipped_observations_load() -> None:
    obs = load_observations(SHIPPED)
    assert obs.start_date.isoformat() == "2024-03-14"
    assert obs.until.isoformat() == "2024-09-30"
    reached = {m.name: m.date.isoformat() for m in obs.milestone}
    assert reached["first_arrival"] == "2024-06-25"
    assert reached["administration_viable"] == "2024-04-25"
    # 200 of 1,000 is 20%: the model's 25% milestone came with the second contingent.
    assert reached["lead_25pct"] == "2024-07-16"
    assert {n.name for n in obs.not_reached} >= {"lead_50pct", "first_rotation"}
    assert all(m.name in MILESTONES for m in (*obs.milestone, *obs.not_reached))
    assert all(e.source for e in (*obs.milestone, *obs.not_reached, *obs.strength, *obs.money, *obs.event))
    ranged = [s for s in obs.strength if s.officers is None]
    assert ranged and all(s.low is not None and s.high is not None for s in ranged)


def test_every_problem_is_one_line_with_file_line_and_key(tmp_path: Path) -> None:
    lines = errors_of(tmp_path, (
        '[[milestone]]\nname = "first_arival"\ndate = 2024-06-25\nsource = "x"\n'
        '[[strength]]\ndate = 2024-06-25\nofficers = "200"\nsource = "x"\ncolour = 1\n'
        '[[strength]]\ndate = 2024-06-25\nlow = 300\nhigh = 200\nsource = "x"\n'
        '[[money]]\ndate = 2024-05-01\nwhat = "balance"\namount_usd = 1\nsource = "x"\n'
    ))
    path = str(tmp_path / "obs.toml")
    assert lines == [
        f"{path}:4: milestone.0.name: unknown milestone 'first_arival'; did you mean 'first_arrival'?",
        f"{path}:9: strength.0.officers: expected a whole number, got \"200\"",
        f"{path}:11: strength.0.colour: unknown key 'colour'; expected one of contributor, date, high, low, note, "
        "officers, source",
        f"{path}:12: strength.1: low (300) must be at most high (200)",
        f"{path}:19: money.0.what: expected 'trust_fund_balance', 'received' or 'payment', got \"balance\"",
    ]


def test_missing_keys_and_dates_before_the_start(tmp_path: Path) -> None:
    lines = errors_of(tmp_path, '[[not_reached]]\nname = "first_rotation"\nby = 2024-01-01\n')
    assert lines == [f"{tmp_path / 'obs.toml'}:3: not_reached.0.source: required key is missing"]
    # Checks across entries run once every entry is valid.
    lines = errors_of(tmp_path, '[[not_reached]]\nname = "first_rotation"\nby = 2024-01-01\nsource = "x"\n')
    assert any("start_date: 2024-01-01 is before the start date 2024-03-14" in line for line in lines)


def test_a_milestone_reached_before_it_is_said_not_reached(tmp_path: Path) -> None:
    lines = errors_of(tmp_path, (
        '[[milestone]]\nname = "first_arrival"\ndate = 2024-06-25\nsource = "x"\n'
        '[[not_reached]]\nname = "first_arrival"\nby = 2024-09-30\nsource = "x"\n'
    ))
    assert lines == [f"{tmp_path / 'obs.toml'}:7: not_reached: first_arrival is recorded as reached on 2024-06-25, "
                     "before 2024-09-30"]


def test_a_missing_file_and_bad_toml(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match="no such file"):
        load_observations(tmp_path / "none.toml")
    (tmp_path / "bad.toml").write_text("name = \n", encoding="utf-8")
    with pytest.raises(ScenarioError, match="not valid TOML"):
        load_observations(tmp_path / "bad.toml")


def test_the_json_schema_of_observations(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["schema", "--observations"]) == 0
    schema = json.loads(capsys.readouterr().out)
    assert schema["title"] == "deploysim observations"
    assert {"milestone", "not_reached", "strength", "money", "event"} <= set(schema["properties"])
    assert schema["definitions"]["Strength"]["additionalProperties"] is False


def test_validate_reads_an_observations_file_as_one(tmp_path: Path) -> None:
    import subprocess
    import sys

    shipped = Path(__file__).resolve().parent.parent / "observations" / "mss_haiti.toml"
    done = subprocess.run([sys.executable, "-m", "sim", "validate", str(shipped)], capture_output=True, text=True)
    assert done.returncode == 0 and "observations 'mss_haiti'" in done.stdout
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "x"\nstart_date = 2024-03-14\n[[milestone]]\nname = "first_arival"\n'
                   'date = 2024-06-25\nsource = "s"\n')
    done = subprocess.run([sys.executable, "-m", "sim", "validate", str(bad)], capture_output=True, text=True)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines() == [
        f"deploysim: error: {bad}:4: milestone.0.name: unknown milestone 'first_arival'; did you mean 'first_arrival'?"]
