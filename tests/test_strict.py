"""Strict scenario types, bounds that keep any valid scenario bounded, and one-pass error reports."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from sim import load_scenario
from sim.commands.main import main
from sim.model import simulate
from sim.scenario.loader import MAX_DEPTH, ScenarioError

ROOT = Path(__file__).resolve().parents[1]
BASELINE = ROOT / "scenarios" / "baseline.toml"


def errors_of(overrides: list[str]) -> str:
    with pytest.raises(ScenarioError) as info:
        load_scenario(BASELINE, overrides)
    return str(info.value)


@pytest.mark.parametrize(("override", "expected"), [
    ('logistics.airport.closed_at_start="no"', 'expected true or false, got "no"'),
    ("logistics.airport.closed_at_start=1", "expected true or false, got 1"),
    ('governance.setbacks_per_year="1.0"', 'expected a number, got "1.0"'),
    ('start_date="2024-03-14"', 'expected a date such as 2024-03-14, got "2024-03-14"'),
    ("start_date=2024-03-14T12:00:00", "got 2024-03-14T12:00:00"),
    ("horizon_days=30.0", "expected a whole number, got 30.0"),
    ("mandate.expires_on=2024-01-01", "mandate.expires_on: is 2024-01-01, before start_date (2024-03-14)"),
    ("start_date=9999-12-31", "expected a date from 1900-01-01 to 2200-12-31"),
    ("force.pledged_officers=" + "9" * 31, "expected a number of at most 100000"),
    ("force.pledged_officers=1e9", "expected a whole number"),
    ("funding.pledges.canada.tranches=1000000", "at most 120"),
    ("funding.billing_interval_days=1e-6", "at least 1"),
    ("attrition.interval_days=0.001", "at least 1"),
    ("name=..", "expected text matching"),
    ("name=a/b", "expected text matching"),
])
def test_what_lax_validation_let_through_is_refused(override: str, expected: str) -> None:
    assert expected in errors_of([override])


def test_contingent_count_is_bounded() -> None:
    text = errors_of(["force.pledged_officers=5000", "force.contingent_size=1"])
    assert "make 5000 contingents; at most 1000" in text


def test_every_problem_of_a_file_at_once_cross_references_included(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(f'''extends = "{BASELINE}"
horizon_days = 30.5

[gates.extra]
after = ["un_authorisaton"]

[logistics.airport]
closed_at_start = "yes"
''')
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    lines = str(info.value).splitlines()
    assert len(lines) == 3, lines
    assert lines[0].startswith(f"{path}:2: horizon_days: expected a whole number, got 30.5")
    assert lines[1].startswith(f"{path}:5: gates.extra.after") and "un_authorisaton" in lines[1]
    assert lines[2].startswith(f"{path}:8: logistics.airport.closed_at_start: expected true or false")


def test_long_values_are_cut_and_shown_as_toml() -> None:
    text = errors_of(["governance.setbacks_per_year=" + '"' + "x" * 100_000 + '"'])
    assert len(text) < 300 and text.endswith('…')
    text = errors_of(["horizon_days=[" + ", ".join(["1"] * 10_000) + "]"])
    assert len(text) < 300 and "[1, 1, 1" in text


def test_nesting_is_limited_in_files_and_set_values(tmp_path: Path) -> None:
    deep = tmp_path / "deep.toml"
    deep.write_text("x = " + "[" * 1000 + "]" * 1000 + "\n")
    with pytest.raises(ScenarioError, match="nested deeper than"):
        load_scenario(deep)
    with pytest.raises(ScenarioError, match=f"value nested deeper than {MAX_DEPTH} levels"):
        load_scenario(BASELINE, ["horizon_days=" + "{a=" * 300 + "1" + "}" * 300])
    dotted = tmp_path / "dotted.toml"
    dotted.write_text(".".join(["a"] * 500) + " = 1\n")
    with pytest.raises(ScenarioError, match="nested deeper than"):
        load_scenario(dotted)


def test_only_regular_files_of_at_most_a_mebibyte(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    os.mkfifo(tmp_path / "pipe")
    os.symlink("loop", tmp_path / "loop")
    (tmp_path / "big.toml").write_bytes(b"# " + b"x" * (1024 * 1024) + b"\n")
    (tmp_path / "folder.toml").mkdir()
    cases = {"pipe": "is a named pipe", "loop": "cannot read", "big.toml": "larger than 1024 KiB",
             "folder.toml": "is a folder"}
    for name, expected in cases.items():
        started = time.perf_counter()
        assert main(["validate", str(tmp_path / name)]) == 2
        err = capsys.readouterr().err
        assert expected in err and len(err.strip().splitlines()) == 1, err
        assert time.perf_counter() - started < 5


def test_a_bom_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "bom.toml"
    path.write_bytes(b"\xef\xbb\xbf" + f'extends = "{BASELINE}"\nname = "bom"\n'.encode())
    assert load_scenario(path).name == "bom"


def test_the_largest_valid_values_still_run_in_bounded_time() -> None:
    scenario = load_scenario(BASELINE, [
        "horizon_days=36500", "force.pledged_officers=100000", "force.contingent_size=100",
        "force.training.capacity_officers=100000", "governance.setbacks_per_year=365",
        "logistics.airport.closures_per_year=365", "funding.billing_interval_days=1", "attrition.interval_days=1",
        "funding.pledges.canada.tranches=120",
    ])
    started = time.perf_counter()
    simulate(scenario, seed=1, replication=0)
    assert time.perf_counter() - started < 60


@pytest.mark.parametrize(("args", "expected"), [
    (["--runs", "1000000000000"], "from 1 to 1,000,000"),
    (["--workers", "1000"], "more than 4 per CPU"),
    (["--seed", "18446744073709551616"], "below 2**64"),
    (["--seed", "-1"], "non-negative"),
])
def test_batch_arguments_are_bounded_before_any_work(tmp_path: Path, args: list[str], expected: str,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    started = time.perf_counter()
    assert main(["run", str(BASELINE), *args, "--results-root", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert expected in err and len(err.strip().splitlines()) == 1, err
    assert time.perf_counter() - started < 5 and list(tmp_path.iterdir()) == []


def test_the_largest_seed_is_stored_exactly(tmp_path: Path) -> None:
    from sim import run
    from sim.batch.store import load_results, save_results

    seed = 2**64 - 1
    results = run(load_scenario(BASELINE, ["horizon_days=20"]), runs=2, seed=seed)
    back = load_results(save_results(results, folder=tmp_path / "run"))
    assert back.seed == seed and int(back.replications["seed"].iloc[0]) == seed
    with pytest.raises(ValueError, match="2\\*\\*64"):
        run(load_scenario(BASELINE, ["horizon_days=20"]), runs=2, seed=seed + 1)
