"""Paired comparison of scenarios: common random numbers, paired intervals, deadlines and the compare command."""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure
from PIL import Image

from sim import derive, load_scenario, run
from sim.analysis.compare import (
    ComparisonError,
    check_comparable,
    compare,
    comparison_of,
    config_diff,
    deadline_probabilities,
    paired_differences,
    parse_deadline,
    parse_deadlines,
    t95,
    wilson_interval,
)
from sim.batch.results import Results
from sim.batch.store import save_results
from sim.commands.main import main
from sim.output.compare_figures import overlay_fan, overlay_scurves
from sim.output.text import format_comparison
from sim.scenario.milestones import MILESTONES

ROOT = Path(__file__).resolve().parents[1]
BASELINE = ROOT / "scenarios" / "baseline.toml"
DONORS_PAY_LATE = ROOT / "scenarios" / "donors_pay_late.toml"
RUNS = 150
SEED = 7
MANDATE_END = dt.date(2024, 10, 2)


@pytest.fixture(scope="module")
def short_baseline():
    return derive(load_scenario(BASELINE), {"horizon_days": 365})


@pytest.fixture(scope="module")
def base_results(short_baseline):
    return run(short_baseline, runs=RUNS, seed=SEED)


def _equal_with_nan(a: np.ndarray, b: np.ndarray) -> bool:
    return bool(np.array_equal(a, b, equal_nan=True))


def test_paired_difference_of_a_scenario_with_itself_is_exactly_zero(short_baseline, base_results) -> None:
    again = run(short_baseline, runs=RUNS, seed=SEED)
    table = paired_differences(base_results, again)
    both = table[table["n_pairs"] > 1]
    assert len(both) >= 10
    for column in ("mean_diff_days", "ci95_low", "ci95_high"):
        assert (both[column] == 0.0).all(), column
    assert (table["p50_shift_days"].dropna() == 0.0).all()  # NaN: P50 after the horizon in both
    for column in ("share_change", "share_change_ci95_low", "share_change_ci95_high"):
        assert (table[column] == 0.0).all(), column
    assert (table["n_pairs"] == [int((~np.isnan(base_results.milestone_days(m))).sum()) for m in MILESTONES]).all()


def test_changing_the_airport_leaves_the_draws_of_other_subsystems_unchanged(short_baseline, base_results) -> None:
    open_airport = derive(short_baseline, {"logistics.airport.closed_at_start": False})
    other = run(open_airport, runs=RUNS, seed=SEED)
    for milestone in ("authority_named", "administration_viable", "recon_started", "recon_done"):
        assert _equal_with_nan(other.milestone_days(milestone), base_results.milestone_days(milestone)), milestone
    # The change itself does reach the deployment.
    assert not _equal_with_nan(other.milestone_days("first_arrival"), base_results.milestone_days("first_arrival"))


def test_paired_interval_is_narrower_than_the_unpaired_one(short_baseline, base_results) -> None:
    thinner_runway = run(derive(short_baseline, {"funding.runway_days": 60}), runs=RUNS, seed=SEED)
    row = paired_differences(base_results, thinner_runway, ["first_arrival"]).iloc[0]
    paired, unpaired = row["ci95_high"] - row["ci95_low"], row["unpaired_ci95_high"] - row["unpaired_ci95_low"]
    assert 0 < paired < 0.5 * unpaired
    assert row["unpaired_ci95_low"] < row["mean_diff_days"] < row["unpaired_ci95_high"]


def _synthetic(scenario, days: np.ndarray) -> Results:
    frame = pd.DataFrame({"replication": np.arange(days.size), **{f"{m}_day": days for m in MILESTONES}})
    return Results(scenario=scenario, seed=1, runs=days.size, replications=frame, bands=pd.DataFrame())


def test_paired_interval_on_a_shift_with_small_noise_matches_theory(short_baseline) -> None:
    # Each run's day varies widely (sd ~87) but the change is 10 days plus noise of sd 1: pairing
    # must remove the spread between runs, and the intervals follow from the two standard deviations.
    rng = np.random.default_rng(3)
    n = 400
    base_days = rng.uniform(0, 300, n)
    noise = rng.normal(0, 1, n)
    base, shifted = _synthetic(short_baseline, base_days), _synthetic(short_baseline, base_days + 10 + noise)
    table = paired_differences(base, shifted, ["first_arrival"])
    row = table.iloc[0]
    assert row["mean_diff_days"] == pytest.approx(10 + noise.mean())
    assert (row["ci95_high"] - row["ci95_low"]) / 2 == pytest.approx(t95(n - 1) * noise.std(ddof=1) / math.sqrt(n))
    assert (row["unpaired_ci95_high"] - row["unpaired_ci95_low"]) > 50 * (row["ci95_high"] - row["ci95_low"])


def test_student_t_quantiles() -> None:
    assert t95(1) == pytest.approx(12.7062)
    assert t95(10) == pytest.approx(2.2281)
    assert t95(60) == pytest.approx(2.0003, abs=1e-4)
    assert t95(1000) == pytest.approx(1.9623, abs=1e-4)
    assert math.isnan(t95(0))


def test_config_diff_lists_exactly_the_changed_keys(short_baseline) -> None:
    changed = derive(short_baseline, {
        "name": "variant",
        "description": "only words",
        "funding.runway_days": 60,
        "logistics.airport.closed_at_start": False,
        "governance.hold_days": {"dist": "lognormal", "median": 10, "p90": 40},
        "base.stages": [{"capacity_officers": 400, "cost_usd": 5_000_000, "duration_days": 30}],
    })
    diff = config_diff(short_baseline, changed)
    assert diff.set_index("key").loc[
        ["governance.hold_days", "funding.runway_days", "logistics.airport.closed_at_start"]
    ].to_dict("index") == {
        "governance.hold_days": {"old": "lognormal(median=21, p90=75)", "new": "lognormal(median=10, p90=40)"},
        "funding.runway_days": {"old": "90", "new": "60"},
        "logistics.airport.closed_at_start": {"old": "true", "new": "false"},
    }
    stage_keys = [k for k in diff["key"] if k.startswith("base.stages")]
    assert stage_keys == [
        "base.stages[0].cost_usd", "base.stages[0].duration_days",
        "base.stages[1].capacity_officers", "base.stages[1].cost_usd", "base.stages[1].duration_days",
        "base.stages[2].capacity_officers", "base.stages[2].cost_usd", "base.stages[2].duration_days",
    ]
    assert diff.set_index("key").loc["base.stages[0].cost_usd", "new"] == "5_000_000"
    assert diff.set_index("key").loc["base.stages[2].cost_usd", "new"] == "(absent)"
    assert len(diff) == 3 + len(stage_keys)
    assert config_diff(short_baseline, short_baseline).empty


def test_config_diff_of_a_scenario_file() -> None:
    diff = config_diff(load_scenario(BASELINE), load_scenario(DONORS_PAY_LATE))
    assert list(diff["key"]) == [f"funding.pledges.{donor}.tranche_lag_days" for donor in
                                 ("canada", "other_trust_fund", "us_foreign_assistance", "us_defense_support")]
    assert diff.iloc[0].to_dict() == {"key": "funding.pledges.canada.tranche_lag_days",
                                      "old": "lognormal(median=45, p90=120)", "new": "lognormal(median=135, p90=210)"}


def test_deadline_probabilities_match_a_direct_count(base_results) -> None:
    deadlines = {"mandate_end": MANDATE_END, "new_year": dt.date(2025, 1, 1)}
    table = deadline_probabilities(base_results, deadlines)
    assert len(table) == len(MILESTONES) * 2
    for row in table.itertuples():
        days = base_results.milestone_days(row.milestone)
        dates = [base_results.date_of(d) for d in days]
        count = sum(d is not None and d <= deadlines[row.deadline] for d in dates)
        assert row.probability == count / RUNS
        assert row.ci95_low <= row.probability <= row.ci95_high
        assert (row.ci95_low, row.ci95_high) == wilson_interval(count, RUNS)
    first_landing = table[(table["milestone"] == "first_arrival")].set_index("deadline")["probability"]
    assert 0 < first_landing["mandate_end"] <= first_landing["new_year"] < 1


def test_wilson_interval_known_values() -> None:
    assert wilson_interval(5, 10) == pytest.approx((0.2366, 0.7634), abs=1e-4)
    assert wilson_interval(0, 20) == pytest.approx((0.0, 0.1611), abs=1e-4)
    assert wilson_interval(20, 20) == pytest.approx((0.8389, 1.0), abs=1e-4)


def test_deadline_change_against_the_base_is_paired(short_baseline, base_results) -> None:
    table = deadline_probabilities(base_results, {"mandate_end": MANDATE_END}, base=base_results)
    assert (table["change"] == 0).all() and (table["change_ci95_low"] == 0).all()


def test_parse_deadlines() -> None:
    assert parse_deadlines(["mandate_end=2024-10-02", "year_end=2024-12-31"]) == {
        "mandate_end": MANDATE_END, "year_end": dt.date(2024, 12, 31)}
    with pytest.raises(ComparisonError, match=r"^deadline 'x=2024-13-01': 2024-13-01 is not a date \(expected "
                                              r"NAME=YYYY-MM-DD\)$"):
        parse_deadlines(["x=2024-13-01"])
    for bad in ("mandate_end", "mandate_end=2 Oct 2024", "=2024-10-02", " =2024-10-02"):
        with pytest.raises(ComparisonError, match=r"expected NAME=YYYY-MM-DD$"):
            parse_deadlines([bad])
    with pytest.raises(ComparisonError, match="given twice"):
        parse_deadlines(["a=2024-10-02", "a=2024-11-02"])


def test_deadline_names_may_hold_spaces_as_report_help_shows() -> None:
    assert parse_deadline("mandate end=2024-10-02") == ("mandate end", MANDATE_END)
    assert parse_deadlines(["the mandate's end = 2024-10-02", "a=b=2024-11-02"]) == {
        "the mandate's end": MANDATE_END, "a=b": dt.date(2024, 11, 2)}


def test_run_accepts_the_deadline_report_help_shows(tmp_path: Path, capsys) -> None:
    out = tmp_path / "run"
    assert main(["run", str(BASELINE), "--runs", "3", "--set", "horizon_days=365", "--no-plots", "--quiet",
                 "--deadline", "mandate end=2024-10-02", "--out", str(out)]) == 0
    assert "by mandate end (2024-10-02)" in capsys.readouterr().out
    assert list(pd.read_csv(out / "deadlines.csv")["deadline"].unique()) == ["mandate end"]


def test_deadlines_outside_the_simulated_period_are_refused(base_results) -> None:
    expected = r"^deadline 'late=2025-06-01': 2025-06-01 is after the horizon; the runs cover 2024-03-14 to 2025-03-14$"
    with pytest.raises(ComparisonError, match=expected):
        deadline_probabilities(base_results, {"late": dt.date(2025, 6, 1)})
    with pytest.raises(ComparisonError, match="before the start date"):
        deadline_probabilities(base_results, {"early": dt.date(2024, 1, 1)})


def test_batches_that_cannot_be_paired_are_refused(short_baseline, base_results) -> None:
    shorter = run(derive(short_baseline, {"horizon_days": 200, "name": "short"}), runs=RUNS, seed=SEED)
    expected = r"^cannot compare: horizons differ \(baseline 365 days, short 200 days\);"
    with pytest.raises(ComparisonError, match=expected):
        check_comparable([base_results, shorter])
    other_seed = run(short_baseline, runs=RUNS, seed=SEED + 1)
    with pytest.raises(ComparisonError, match=r"seeds differ \(baseline seed 7, baseline#2 seed 8\)"):
        paired_differences(base_results, other_seed)
    later = derive(short_baseline, {"start_date": dt.date(2024, 5, 1)})
    with pytest.raises(ComparisonError, match=r"start dates differ \(baseline 2024-03-14, baseline#2 2024-05-01\)"):
        compare([short_baseline, later], runs=5)


def test_compare_in_python(short_baseline, base_results) -> None:
    thinner = derive(short_baseline, {"funding.runway_days": 60, "name": "thin_runway"})
    comparison = compare([base_results, thinner], deadlines={"mandate_end": MANDATE_END})
    assert comparison.labels == ["baseline", "thin_runway"]
    assert comparison.results[1].seed == SEED and comparison.results[1].runs == RUNS
    assert comparison.config_diffs[["key", "old", "new"]].values.tolist() == [["funding.runway_days", "90", "60"]]
    assert set(comparison.differences["milestone"]) == set(MILESTONES)
    assert set(comparison.deadlines["scenario"]) == {"baseline", "thin_runway"}
    table = comparison.milestone_table()
    assert list(table["scenario"][:2]) == ["baseline", "thin_runway"] and len(table) == 2 * len(MILESTONES)
    text = format_comparison(comparison)
    assert "funding.runway_days  90 -> 60" in text
    assert "Probability of reaching each milestone by mandate_end (2024-10-02)" in text
    assert "0 (same in every run)" in text  # the governance milestones do not move


def test_overlay_figures(short_baseline, base_results) -> None:
    late = run(derive(short_baseline, {"funding.runway_days": 60, "name": "thin_runway"}), runs=RUNS, seed=SEED)
    fan = overlay_fan([base_results, late])
    assert isinstance(fan, Figure)
    medians = [line for line in fan.axes[0].get_lines() if (line.get_gid() or "").startswith("median_")]
    assert [m.get_gid() for m in medians] == ["median_baseline", "median_thin_runway"]
    assert medians[0].get_color() != medians[1].get_color()
    assert medians[0].get_linestyle() != medians[1].get_linestyle()
    assert any(t.get_gid() == "provenance" for t in fan.texts)
    curves = overlay_scurves([base_results, late])
    assert len(curves.axes) == 2
    gids = {line.get_gid() for ax in curves.axes for line in ax.get_lines()}
    assert {"first_arrival:baseline", "first_arrival:thin_runway", "lead_100pct:baseline"} <= gids
    overlay_fan([base_results, late], "fund_balance_usd")


def test_cli_compare_end_to_end(tmp_path: Path, capsys) -> None:
    out = tmp_path / "cmp"
    argv = ["compare", str(BASELINE), str(DONORS_PAY_LATE), "--runs", "40", "--set", "horizon_days=365",
            "--deadline", "mandate_end=2024-10-02", "--out", str(out)]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "Settings of 'donors_pay_late' that differ from 'baseline':" in printed
    assert "funding.pledges.canada.tranche_lag_days" in printed
    assert "First contingent lands" in printed and "mandate_end (2024-10-02)" in printed
    assert {p.name for p in out.iterdir()} == {"config_diff.csv", "milestones.csv", "differences.csv",
                                                "deadlines.csv", "delay_changes.csv", "figures", "manifest.json"}
    assert len(pd.read_csv(out / "config_diff.csv")) == 4
    assert len(pd.read_csv(out / "differences.csv")) == len(MILESTONES)
    figures = sorted(p.name for p in (out / "figures").iterdir())
    assert figures == ["forest_differences.png", "overlay_fund_balance.png", "overlay_in_theatre.png",
                       "overlay_milestones_scurve.png"]
    with Image.open(out / "figures" / "overlay_in_theatre.png") as png:
        assert "donors_pay_late" in png.text["Source"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]

    assert main(argv) == 2
    assert capsys.readouterr().err.strip() == f"deploysim: error: {out} already exists; pass --force to replace it"
    assert main([*argv, "--force", "--no-plots"]) == 0


def test_cli_compare_stored_runs(short_baseline, base_results, tmp_path: Path, capsys) -> None:
    late = run(derive(short_baseline, {"funding.runway_days": 60, "name": "thin_runway"}), runs=RUNS, seed=SEED)
    folders = [str(save_results(r, root=tmp_path / "store")) for r in (base_results, late)]
    assert main(["compare", *folders, "--out", str(tmp_path / "cmp"), "--no-plots"]) == 0
    assert f"{RUNS} runs each, seed {SEED}" in capsys.readouterr().out
    assert main(["compare", *folders, "--set", "horizon_days=100", "--out", str(tmp_path / "c2")]) == 2
    assert "--set applies only to scenarios" in capsys.readouterr().err


def _one_line_error(capsys) -> str:
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in captured.err, captured.err
    return lines[0]


@pytest.mark.parametrize("deadline", ["mandate_end=2024-13-01", "mandate_end", "mandate_end=2030-01-01"])
def test_cli_bad_deadline_is_one_line_and_exit_2(deadline: str, tmp_path: Path, capsys) -> None:
    code = main(["compare", str(BASELINE), str(DONORS_PAY_LATE), "--runs", "2", "--deadline", deadline,
                 "--out", str(tmp_path / "cmp")])
    assert code == 2
    assert _one_line_error(capsys).startswith(f"deploysim: error: deadline '{deadline}': ")
    assert not (tmp_path / "cmp").exists()


def test_cli_differing_horizons_are_refused(tmp_path: Path, capsys) -> None:
    short = tmp_path / "short.toml"
    short.write_text(f'extends = "{BASELINE.as_posix()}"\nname = "short"\nhorizon_days = 365\n')
    assert main(["compare", str(BASELINE), str(short), "--out", str(tmp_path / "cmp")]) == 2
    assert _one_line_error(capsys) == (
        "deploysim: error: cannot compare: horizons differ (baseline 730 days, short 365 days); "
        "give them the same horizon_days (e.g. --set horizon_days=365)"
    )
    assert main(["compare", str(BASELINE), "--out", str(tmp_path / "cmp")]) == 2
    assert "at least two" in _one_line_error(capsys)


def test_the_all_runs_change_counts_the_runs_that_no_longer_reach_a_milestone() -> None:
    base = load_scenario(BASELINE, ["horizon_days=365"])
    a = run(base, runs=60, seed=3)
    # Almost no money: most runs never deliver the lead pledge within the horizon.
    b = run(derive(base, {"funding.initial_balance_usd": 0, "funding.pledges": {}}), runs=60, seed=3)
    row = paired_differences(a, b).set_index("milestone").loc["lead_50pct"]
    assert row["share_change"] < 0
    horizon = 365.0
    da, db = a.milestone_days("lead_50pct"), b.milestone_days("lead_50pct")
    expected = np.mean(np.where(np.isnan(db), horizon, db) - np.where(np.isnan(da), horizon, da))
    assert math.isclose(row["rmean_diff_days"], expected, rel_tol=1e-12)
    assert row["rmean_ci95_low"] <= row["rmean_diff_days"] <= row["rmean_ci95_high"]


def test_runs_of_different_sizes_pair_their_first_replications() -> None:
    base = load_scenario(BASELINE, ["horizon_days=365"])
    other = derive(base, {"funding.runway_days": 30})
    big, small = run(base, runs=40, seed=6), run(other, runs=25, seed=6)
    paired = paired_differences(big, small)
    same_size = paired_differences(run(base, runs=25, seed=6), small)
    pd.testing.assert_frame_equal(paired, same_size)
    assert comparison_of([big, small]).base.runs == 25
