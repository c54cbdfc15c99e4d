"""Sweeps: the grid, its shared seed, reading --vary, the table, the figure and the command line."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.dates import date2num

from sim import derive, load_scenario, run
from sim.analysis.sweep import derive_values, key_label, parse_vary, sweep
from sim.commands.main import main
from sim.output.analysis_figures import format_value, sweep_figure
from sim.scenario.loader import ScenarioError

ROOT = Path(__file__).resolve().parents[1]
BASELINE = ROOT / "scenarios" / "baseline.toml"
TABLE_COLUMNS = ["milestone", "label", "p10_day", "p50_day", "p90_day", "p10_date", "p50_date", "p90_date",
                 "share_reached"]


@pytest.fixture(scope="module")
def short_baseline():
    return load_scenario(BASELINE, ["horizon_days=365"])


@pytest.fixture(scope="module")
def grid(short_baseline):
    vary = {"funding.runway_days": [30, 120], "logistics.airport.closed_at_start": [True, False]}
    return sweep(short_baseline, vary, runs=15, seed=7)


def test_grid_is_the_product_first_key_slowest(grid) -> None:
    assert grid.points == [
        {"funding.runway_days": 30, "logistics.airport.closed_at_start": True},
        {"funding.runway_days": 30, "logistics.airport.closed_at_start": False},
        {"funding.runway_days": 120, "logistics.airport.closed_at_start": True},
        {"funding.runway_days": 120, "logistics.airport.closed_at_start": False},
    ]
    assert list(grid.table.columns[:3]) == ["point", "funding.runway_days", "logistics.airport.closed_at_start"]
    assert len(grid.table) == 4 * grid.table["milestone"].nunique()


def test_each_grid_point_equals_a_single_run_with_the_same_seed(grid, short_baseline) -> None:
    for i, point in enumerate(grid.points):
        single = run(derive(short_baseline, point), runs=15, seed=7)
        pd.testing.assert_frame_equal(grid.results[i].replications, single.replications)
        rows = grid.table[grid.table["point"] == i].reset_index(drop=True)
        pd.testing.assert_frame_equal(rows[TABLE_COLUMNS], single.milestone_summary()[TABLE_COLUMNS])
        for key, value in point.items():
            assert (rows[key] == value).all()


def test_workers_do_not_change_the_table(grid, short_baseline) -> None:
    parallel = sweep(short_baseline, grid.vary, runs=15, seed=7, workers=2)
    pd.testing.assert_frame_equal(parallel.table, grid.table)


def test_points_share_draws_where_the_varied_value_does_not_reach(grid) -> None:
    # The airport does not touch the political transition: with the same seed every replication
    # names the authority on the same day at every grid point.
    days = [res.replications["authority_named_day"] for res in grid.results]
    for other in days[1:]:
        pd.testing.assert_series_equal(other, days[0])


def test_parse_vary_reads_numbers_dates_text_and_tables_with_commas() -> None:
    vary = parse_vary([
        "funding.runway_days=30, 60,90",
        'governance.hold_days={dist="pert",low=5,mode=8,high=15},{ dist = "uniform", low = 1, high = 9 },7',
        "start_date=2024-03-14,2024-05-01",
        'force.training.starts="at_start",after_viable_administration',
        'gates.equipment.after=["authority_named", "recon_done"],[]',
    ])
    assert vary == {
        "funding.runway_days": [30, 60, 90],
        "governance.hold_days": [{"dist": "pert", "low": 5, "mode": 8, "high": 15},
                                 {"dist": "uniform", "low": 1, "high": 9}, 7],
        "start_date": [dt.date(2024, 3, 14), dt.date(2024, 5, 1)],
        "force.training.starts": ["at_start", "after_viable_administration"],
        "gates.equipment.after": [["authority_named", "recon_done"], []],
    }


@pytest.mark.parametrize(
    ("item", "message"),
    [
        ("funding.runway_days", "expected KEY=V1,V2"),
        ("=30,60", "expected KEY=V1,V2"),
        ("funding.runway_days=30,,60", "empty value"),
        ("funding.runway_days=", "empty value"),
        ('governance.hold_days={dist="pert",low=5', "unclosed brace"),
        ("governance.hold_days=5}", "unbalanced '}'"),
        ("funding.runway_days=30,30", "given twice"),
    ],
)
def test_parse_vary_rejects_malformed_items(item: str, message: str) -> None:
    with pytest.raises(ScenarioError, match=message):
        parse_vary([item])


def test_parse_vary_rejects_a_key_given_twice() -> None:
    with pytest.raises(ScenarioError, match="given twice"):
        parse_vary(["funding.runway_days=30", "funding.runway_days=60"])


def test_unknown_key_fails_before_anything_runs(short_baseline) -> None:
    with pytest.raises(ScenarioError, match=r"^--vary: funding\.runway_dayz: unknown key 'runway_dayz'; "
                                            r"did you mean 'runway_days'\?$"):
        sweep(short_baseline, {"funding.runway_dayz": [30]}, runs=1)


def test_derive_values_sets_one_entry_of_a_list(short_baseline) -> None:
    derived = derive_values(short_baseline, {"base.stages.1.duration_days": 45, "base.stages.0.cost_usd": 1e6})
    stages, before = derived.base.stages, short_baseline.base.stages
    assert stages[1].duration_days.dist == "fixed" and stages[1].duration_days.value == 45
    assert stages[0].cost_usd.value == 1e6
    assert stages[0].duration_days == before[0].duration_days and stages[2] == before[2]
    assert short_baseline.base.stages == before  # the original is untouched


@pytest.mark.parametrize(
    ("key", "message"),
    [
        ("base.stages.7.duration_days", "index 7 is out of range: base.stages has 3 entries"),
        ("base.stages.0.duraton_days", "did you mean 'duration_days'"),
        ("funding.0.runway_days", "'funding' is not a list"),
    ],
)
def test_derive_values_reports_bad_list_keys(short_baseline, key: str, message: str) -> None:
    with pytest.raises(ScenarioError, match=message):
        derive_values(short_baseline, {key: 30})


def test_a_list_entry_can_be_swept(short_baseline) -> None:
    result = sweep(short_baseline, {"base.stages.0.duration_days": [10, 60]}, runs=3, seed=1)
    assert [s.base.stages[0].duration_days.value for s in result.scenarios] == [10, 60]


def test_labels_and_values_read_as_words() -> None:
    assert key_label("funding.pledges.us_foreign_assistance.tranche_lag_days") == \
        "US foreign assistance pledge: tranche lag (days)"
    assert key_label("base.stages.0.cost_usd") == "Base stage 1: cost (US$)"
    assert key_label("governance.viable_administration_days") == "Viable administration (days)"
    assert key_label("funding.runway_days") == "Funding: runway (days)"
    assert format_value("funding.initial_balance_usd", 10.8e6) == "$10.8M"
    assert format_value("funding.pledges.canada.paid_share", 0.95) == "95%"
    assert format_value("funding.runway_days", 30) == "30"


def test_figure_draws_each_points_median_and_band(grid) -> None:
    fig = sweep_figure(grid, "first_arrival")
    ax = fig.axes[0]
    start = date2num(grid.scenario.start_date)
    horizon = grid.scenario.horizon_days
    for closed in (True, False):
        rows = grid.table[(grid.table["milestone"] == "first_arrival")
                          & (grid.table["logistics.airport.closed_at_start"] == closed)]
        (line,) = [ln for ln in ax.get_lines() if ln.get_gid() == f"median:{str(closed).lower()}"]
        # Two lines are nudged apart a little so their P10-P90 bars do not overlap.
        assert np.abs(line.get_xdata() - [30, 120]).max() < 0.05 * 90
        expected = rows["p50_day"].fillna(horizon).to_numpy() + start
        np.testing.assert_allclose(line.get_ydata(), expected)
    assert any(t.get_gid() == "provenance" for t in fig.texts)
    assert "Percentages: share of runs" in ax.get_title(loc="left")


def test_figure_of_one_key_has_a_band(short_baseline) -> None:
    result = sweep(short_baseline, {"funding.runway_days": [30, 90, 120]}, runs=8, seed=2)
    fig = sweep_figure(result, "lead_100pct")
    ax = fig.axes[0]
    assert [c.get_gid() for c in ax.collections] == ["band"]
    (line,) = [ln for ln in ax.get_lines() if ln.get_gid() == "median"]
    np.testing.assert_array_equal(line.get_xdata(), [30, 90, 120])
    with pytest.raises(KeyError, match="not a varied key"):
        sweep_figure(result, x="funding.initial_balance_usd")


# -- command line --------------------------------------------------------------------------------


def test_cli_writes_table_figure_and_manifest(tmp_path: Path, capsys) -> None:
    out = tmp_path / "sweep"
    argv = ["sweep", str(BASELINE), "--vary", "funding.runway_days=30,90", "--set", "horizon_days=365",
            "--runs", "6", "--seed", "3", "--out", str(out), "--quiet"]
    assert main(argv) == 0
    assert {p.name for p in out.iterdir()} == {"sweep.csv", "sweep_first_arrival.png", "manifest.json"}
    table = pd.read_csv(out / "sweep.csv")
    assert list(table["funding.runway_days"].unique()) == [30, 90]
    printed = capsys.readouterr().out
    assert "First contingent lands:" in printed and "funding.runway_days" in printed
    assert not list(tmp_path.glob(".partial-*"))
    # An existing folder is kept without --force, and replaced with it.
    before = (out / "manifest.json").read_text()
    assert main(argv) == 2
    assert "already exists" in capsys.readouterr().err
    assert (out / "manifest.json").read_text() == before
    assert main([*argv, "--force"]) == 0


def test_cli_default_folder_is_under_the_scenario(tmp_path: Path) -> None:
    argv = ["sweep", str(BASELINE), "--vary", "funding.runway_days=30", "--set", "horizon_days=200",
            "--runs", "2", "--results-root", str(tmp_path), "--quiet"]
    assert main(argv) == 0
    (folder,) = (tmp_path / "baseline").iterdir()
    assert folder.name.startswith("sweep-")


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        (["--vary", "funding.runway_dayz=30,60"],
         "deploysim: error: --vary: funding.runway_dayz: unknown key 'runway_dayz'; did you mean 'runway_days'?"),
        (["--vary", "funding.runway_days=30", "--set", "funding.runway_dayz=3"],
         "deploysim: error: --set: funding.runway_dayz: unknown key 'runway_dayz'; did you mean 'runway_days'?"),
        (["--vary", "funding.runway_days=30", "--milestone", "first_arival"],
         "deploysim: error: --milestone: unknown milestone 'first_arival'; did you mean 'first_arrival'?"),
        (["--vary", "funding.runway_days=30", "--set", "funding.runway_days=60"],
         "deploysim: error: funding.runway_days is given to both --set and --vary; give it to one"),
    ],
)
def test_cli_bad_keys_give_one_line_and_exit_code_2(tmp_path: Path, capsys, extra, expected) -> None:
    code = main(["sweep", str(BASELINE), "--runs", "2", "--out", str(tmp_path / "x"), *extra])
    err = capsys.readouterr().err
    assert code == 2
    assert err.splitlines() == [expected]
    assert not (tmp_path / "x").exists()
