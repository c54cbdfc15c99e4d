"""Re-forecasts "as of" a date: residual-life draws, the observed history held fixed, the command line."""

from __future__ import annotations

import datetime as dt
import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from pydantic import TypeAdapter
from scipy import stats

from sim import load_scenario, run, simulate
from sim.batch.store import load_results, save_results
from sim.scenario.asof import AsOf, AsOfError, as_of
from sim.scenario.distributions import Duration
from sim.scenario.observations import load_observations, observations_from_dict
from tests.test_model import DETERMINISTIC, check_invariants

ROOT = Path(__file__).resolve().parent.parent
OBSERVED = ROOT / "observations" / "mss_haiti.toml"
START = dt.date(2024, 3, 14)
DURATIONS = TypeAdapter(Duration)


def day(n: int) -> dt.date:
    return START + dt.timedelta(days=n)


# -- residual life -------------------------------------------------------------------------------

CONTINUOUS = [
    ({"dist": "uniform", "low": 10, "high": 50}, 30),
    ({"dist": "triangular", "low": 0, "mode": 20, "high": 100}, 10),
    ({"dist": "triangular", "low": 0, "mode": 20, "high": 100}, 60),
    ({"dist": "pert", "low": 10, "mode": 30, "high": 120}, 50),
    ({"dist": "lognormal", "median": 30, "p90": 90}, 60),
    ({"dist": "exponential", "mean": 40}, 30),
    ({"dist": "normal", "mean": 50, "sd": 20}, 60),
    ({"dist": "normal", "mean": 50, "sd": 20}, 5),
]


@pytest.mark.parametrize(("spec", "elapsed"), CONTINUOUS, ids=lambda v: v["dist"] if isinstance(v, dict) else str(v))
def test_residual_life_is_the_distribution_truncated_below(spec: dict, elapsed: float) -> None:
    """Draws given X > e follow (F(x) - F(e)) / (1 - F(e)): a KS test at the 0.1% level, 20,000 draws."""
    dist = DURATIONS.validate_python(spec)
    rng = np.random.default_rng(7)
    draws = np.array([dist.sample_after(rng, elapsed) for _ in range(20_000)])
    assert draws.min() >= elapsed
    below = dist.cdf(elapsed)
    result = stats.kstest(draws, lambda x: (np.vectorize(dist.cdf)(x) - below) / (1 - below))
    assert result.pvalue > 1e-3, result


@pytest.mark.parametrize(("spec", "limit"), CONTINUOUS, ids=lambda v: v["dist"] if isinstance(v, dict) else str(v))
def test_a_draw_known_to_end_by_a_day_is_the_distribution_truncated_above(spec: dict, limit: float) -> None:
    dist = DURATIONS.validate_python(spec)
    rng = np.random.default_rng(8)
    draws = np.array([dist.quantile_before(rng.random(), limit) for _ in range(20_000)])
    assert draws.max() <= limit
    top = dist.cdf(limit)
    result = stats.kstest(draws, lambda x: np.vectorize(dist.cdf)(x) / top)
    assert result.pvalue > 1e-3, result


def test_the_cdf_inverts_the_quantile_for_every_continuous_kind() -> None:
    for spec, _ in CONTINUOUS:
        dist = DURATIONS.validate_python(spec)
        for q in (0.01, 0.1, 0.37, 0.5, 0.9, 0.99):
            assert dist.cdf(dist.quantile(q)) == pytest.approx(q, abs=1e-6), (spec, q)


def test_residual_life_of_discrete_kinds_matches_the_conditional_probabilities() -> None:
    """An empirical draw given X > 20 takes 30 or 40 with weights 3:4; the SE of a share of 20,000 is < 0.004."""
    empirical = DURATIONS.validate_python({"dist": "empirical", "values": [10, 20, 30, 40], "weights": [1, 2, 3, 4]})
    rng = np.random.default_rng(9)
    draws = np.array([empirical.sample_after(rng, 20) for _ in range(20_000)])
    assert set(np.unique(draws)) == {30.0, 40.0}
    share = (draws == 30).mean()
    se = math.sqrt(3 / 7 * 4 / 7 / len(draws))
    assert abs(share - 3 / 7) < 4 * se
    fixed = DURATIONS.validate_python(5)
    assert fixed.sample_after(rng, 2) == 5.0
    assert fixed.sample_after(rng, 7) == 7.0  # no probability left beyond 7: it ends as soon as it can


def test_residual_life_at_no_elapsed_time_is_the_plain_draw() -> None:
    """With nothing elapsed, sample_after uses the same uniform as sample: common random numbers survive."""
    for spec, _ in CONTINUOUS:
        dist = DURATIONS.validate_python(spec)
        a, b = np.random.default_rng(3), np.random.default_rng(3)
        assert [dist.sample(a) for _ in range(5)] == [dist.sample_after(b, 0.0) for _ in range(5)]


# -- the observed history, on a deterministic scenario ----------------------------------------------

def deterministic_history() -> dict:
    """Observations of a deterministic scenario, with observed days unlike its own (20, 35, 45, 53...)."""
    def m(name: str, n: int) -> dict:
        return {"name": name, "date": day(n), "source": "test"}

    return {
        "name": "test", "start_date": START,
        "milestone": [m("authority_named", 25), m("administration_viable", 40), m("recon_started", 50),
                      m("recon_done", 60), m("first_departure", 70), m("first_arrival", 71)],
        "strength": [{"date": day(71), "contributor": "Kenya", "officers": 200, "source": "test"},
                     {"date": day(80), "contributor": "Kenya", "officers": 400, "source": "test"}],
    }


def test_an_as_of_run_keeps_the_observed_days_and_reaches_the_rest_on_closed_form_days() -> None:
    """Observed milestones on their days; then, from the as-of day 90, the three contingents still to come
    (trained by day 30) leave at 90, 94 and 98 (4 days between flights) and land a day later."""
    scenario = load_scenario(DETERMINISTIC)
    history = as_of(observations_from_dict(deterministic_history()), scenario, day(90))
    rec = simulate(scenario, seed=1, replication=0, trace=True, as_of=history)
    expected = {"base_ready": 0, "authority_named": 25, "administration_viable": 40, "recon_started": 50,
                "recon_done": 60, "first_departure": 70, "first_arrival": 71,
                "lead_25pct": 80,  # 400 observed on day 80
                "lead_50pct": 91, "lead_75pct": 95, "lead_100pct": 99}
    assert rec.milestones == pytest.approx(expected)
    days, officers = rec.series["in_theatre.Kenya"]
    assert list(zip(days, officers, strict=True)) == [(0, 0), (71, 200), (80, 400), (91, 600), (95, 800),
                                                      (99, 1000)]
    check_invariants(scenario, rec)
    for name, path in rec.critical_paths.items():
        assert sum(end - start for _, start, end in path) == pytest.approx(rec.milestones[name]), name
    assert {cause for cause, _, _ in rec.critical_paths["authority_named"]} == {"observed"}


def test_a_milestone_not_reached_by_a_day_comes_after_it() -> None:
    """The fixed 8-day reconnaissance (45 to 53) observed unfinished on day 70 ends on day 70, as soon as it
    can; nothing lands before the as-of day 80, so the first contingent leaves then and lands on day 81."""
    scenario = load_scenario(DETERMINISTIC)
    obs = observations_from_dict({
        "name": "t", "start_date": START,
        "milestone": [{"name": n, "date": day(d), "source": "test"}
                      for n, d in (("authority_named", 20), ("administration_viable", 35), ("recon_started", 45))],
        "not_reached": [{"name": "recon_done", "by": day(70), "source": "test"}]})
    rec = simulate(scenario, seed=1, as_of=as_of(obs, scenario, day(80)))
    assert rec.milestones["recon_done"] == 70
    assert rec.milestones["first_departure"] == 80 and rec.milestones["first_arrival"] == 81
    assert rec.milestones["lead_100pct"] == 81 + 4 * 4


def test_what_a_complete_record_does_not_list_had_not_happened() -> None:
    """Observations complete to day 70 that list nothing: no transitional authority by day 70 (its fixed 20 days
    end then), then 15 days to a viable administration (85), 10 to the recon (95), 8 days out (103)."""
    scenario = load_scenario(DETERMINISTIC)
    obs = observations_from_dict({"name": "t", "start_date": START, "observed_until": day(70)})
    history = as_of(obs, scenario, day(80))
    assert history.complete_until == 70 and history.not_before["authority_named"] == 70
    rec = simulate(scenario, seed=1, as_of=history)
    assert rec.milestones["authority_named"] == 70 and rec.milestones["administration_viable"] == 85
    assert rec.milestones["recon_done"] == 103 and rec.milestones["first_arrival"] == 104


def test_an_as_of_run_is_the_same_on_any_number_of_workers() -> None:
    scenario = load_scenario("baseline")
    history = as_of(OBSERVED, scenario, "2024-10-01")
    one = run(scenario, runs=12, seed=5, as_of=history, progress=False)
    two = run(scenario, runs=12, seed=5, as_of=history, workers=2, chunk_size=5, progress=False)
    assert one.replications.equals(two.replications)
    assert one.bands.equals(two.bands)


# -- the shipped observations ----------------------------------------------------------------------

@pytest.fixture(scope="module")
def reforecast():
    scenario = load_scenario("baseline")
    history = as_of(OBSERVED, scenario, "2024-10-01")
    return scenario, history, [simulate(scenario, seed=3, replication=k, trace=True, as_of=history)
                               for k in range(40)]


def test_every_replication_replays_the_shipped_history(reforecast) -> None:
    scenario, history, records = reforecast
    observations = load_observations(OBSERVED)
    for rec in records:
        check_invariants(scenario, rec)
        for entry in observations.milestone:
            assert rec.milestones[entry.name] == scenario.day_of(entry.date), entry.name
        for entry in observations.not_reached:
            assert rec.milestones.get(entry.name, math.inf) > scenario.day_of(entry.by), entry.name
        days, officers = rec.series["in_theatre.Kenya"]
        on = officers[np.searchsorted(days, history.day, side="right") - 1]
        assert 380 <= on <= 400  # the last point: 380 to 400 on 2024-09-30
        assert (officers[days < history.day] <= 400).all()
        for name, path in rec.critical_paths.items():
            assert sum(end - start for _, start, end in path) == pytest.approx(rec.milestones[name], abs=1e-6), name


def test_the_trust_fund_has_received_what_was_observed(reforecast) -> None:
    scenario, history, records = reforecast
    when, what, amount = history.money
    assert what == "received" and amount == 85.3e6
    for rec in records:
        trace = [e for e in rec.trace if e.event == "trust fund set to the observations"]
        assert len(trace) == 1 and trace[0].day == when


def test_as_of_errors_name_what_was_expected() -> None:
    scenario = load_scenario("baseline")
    observations = load_observations(OBSERVED)
    with pytest.raises(AsOfError, match="expected a date after the start date"):
        as_of(observations, scenario, dt.date(2024, 1, 1))
    with pytest.raises(AsOfError, match="YYYY-MM-DD"):
        as_of(observations, scenario, "October")
    other = observations_from_dict({"name": "x", "start_date": dt.date(2024, 1, 1)})
    with pytest.raises(AsOfError, match="expected the same day 0"):
        as_of(other, scenario, "2024-10-01")
    stranger = observations_from_dict({"name": "x", "start_date": START, "strength": [
        {"date": day(10), "contributor": "Atlantis", "officers": 5, "source": "s"}]})
    history = as_of(stranger, scenario, "2024-10-01")
    assert history.strength == {} and "'Atlantis' were not replayed" in history.notes[0]


def test_the_history_round_trips_through_a_stored_run(tmp_path: Path) -> None:
    scenario = load_scenario("baseline", ["horizon_days=400"])
    history = as_of(OBSERVED, scenario, "2024-10-01")
    assert AsOf.from_dict(json.loads(json.dumps(history.to_dict()))) == history
    results = run(scenario, runs=4, seed=2, as_of=history, progress=False)
    back = load_results(save_results(results, folder=tmp_path / "r"))
    assert back.as_of == history


def test_the_command_line_re_forecasts_and_records_the_observations(tmp_path: Path) -> None:
    out = tmp_path / "r"
    cmd = [sys.executable, "-m", "sim", "run", "baseline", "--runs", "20", "--quiet", "--no-plots", "--out", str(out),
           "--as-of", "2024-10-01", "--observed", str(OBSERVED)]
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "Re-forecast as of 2024-10-01" in done.stdout
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["as_of"]["date"] == "2024-10-01" and manifest["as_of"]["source"] == str(OBSERVED)
    bad = subprocess.run(cmd[:-2] + ["--out", str(tmp_path / "s")], capture_output=True, text=True, cwd=tmp_path)
    assert bad.returncode == 2 and "needs both --as-of DATE and --observed FILE" in bad.stderr
    assert "Traceback" not in bad.stderr and len(bad.stderr.strip().splitlines()) == 1


def test_figures_mark_the_as_of_date() -> None:
    import matplotlib

    matplotlib.use("Agg")
    from sim.output.plots import fan_chart, milestone_scurves

    scenario = load_scenario("baseline", ["horizon_days=400"])
    history = as_of(OBSERVED, scenario, "2024-10-01")
    results = run(scenario, runs=6, seed=2, as_of=history, progress=False)
    plain = run(scenario, runs=6, seed=2, progress=False)
    for draw in (fan_chart, milestone_scurves):
        fig = draw(results)
        marks = [a for ax in fig.axes for a in ax.get_children() if a.get_gid() == "as_of"]
        assert len(marks) == 1
        assert str(marks[0].get_xdata()[0])[:10] == "2024-10-01"
        assert not [a for ax in draw(plain).axes for a in ax.get_children() if a.get_gid() == "as_of"]


def test_a_re_forecast_is_not_scored_on_what_it_held_fixed() -> None:
    from sim.analysis.backtest import score

    scenario = load_scenario("baseline", ["horizon_days=400"])
    observations = load_observations(OBSERVED)
    results = run(scenario, runs=8, seed=2, as_of=as_of(observations, scenario, "2024-09-01"), keep_daily=True,
                  progress=False)
    table = score(results, observations)
    before = table[(table["date"] < dt.date(2024, 9, 1)) & table["kind"].isin(["milestone", "strength"])]
    assert len(before) and not before["scored"].any()
    assert before["note"].str.contains("held fixed").all()
    assert table[(table["date"] >= dt.date(2024, 9, 1)) & (table["kind"] == "strength")]["scored"].any()


def test_a_comparison_of_a_forecast_and_its_re_forecast_marks_the_as_of_date(tmp_path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    from sim.output.compare_figures import overlay_fan, overlay_scurves

    scenario = load_scenario("baseline", ["horizon_days=400"])
    before = run(scenario, runs=6, seed=2, progress=False)
    after = run(scenario, runs=6, seed=2, as_of=as_of(OBSERVED, scenario, "2024-10-01"), progress=False)
    for figure in (overlay_fan([before, after]), overlay_scurves([before, after])):
        marks = [a for ax in figure.axes for a in ax.get_children() if a.get_gid() == "as_of"]
        assert marks and all(str(m.get_xdata()[0])[:10] == "2024-10-01" for m in marks)


@pytest.mark.slow
@pytest.mark.parametrize("path", sorted((ROOT / "scenarios").glob("*.toml")), ids=lambda p: p.stem)
def test_invariants_hold_in_every_library_scenario_re_forecast(path: Path) -> None:
    """Every library scenario, re-forecast as of 2024-10-01 on the shipped observations: 30 traced replications
    keep every invariant, replay every observed milestone and keep every critical path adding up."""
    scenario = load_scenario(path)
    observations = load_observations(OBSERVED)
    history = as_of(observations, scenario, "2024-10-01")
    for k in range(30):
        rec = simulate(scenario, seed=17, replication=k, trace=True, as_of=history)
        check_invariants(scenario, rec)
        for entry in observations.milestone:
            assert rec.milestones[entry.name] == scenario.day_of(entry.date), (entry.name, k)
        for name, path_ in rec.critical_paths.items():
            assert sum(end - start for _, start, end in path_) == pytest.approx(rec.milestones[name], abs=1e-6)


def test_an_observed_withdrawal_or_lapse_ends_the_deployment() -> None:
    scenario = load_scenario(DETERMINISTIC)
    for name in ("lead_withdrawal", "mandate_lapsed"):
        history = deterministic_history()
        history["milestone"].append({"name": name, "date": day(85), "source": "test"})
        rec = simulate(scenario, seed=1, trace=True, as_of=as_of(observations_from_dict(history), scenario, day(90)))
        assert rec.milestones[name] == 85
        days, officers = rec.series["in_theatre.Kenya"]
        assert officers[-1] == 0 and days[-1] == 85, name
        assert "lead_100pct" not in rec.milestones


def test_the_report_says_a_run_is_a_re_forecast(tmp_path: Path) -> None:
    from sim.output.report import write_report

    scenario = load_scenario("baseline", ["horizon_days=400"])
    results = run(scenario, runs=6, seed=2, as_of=as_of(OBSERVED, scenario, "2024-10-01"), progress=False)
    folder = save_results(results, folder=tmp_path / "r")
    page = write_report([folder], tmp_path / "report.html").read_text()
    assert "Re-forecast as of" in page and "1 October 2024" in page


def test_a_relief_observed_is_no_new_delivery_and_the_base_is_not_counted_twice() -> None:
    """Kenya at 200, 400, down to 200 and back to 400 before day 90: 400 of its pledge delivered, so the
    600 left land on days 91, 95 and 99 as before; the base's capacity is never more than it needs."""
    scenario = load_scenario(DETERMINISTIC, {"base.initial_capacity_officers": 300,
                                             "base.stages": [{"capacity_officers": 700, "cost_usd": 0,
                                                              "duration_days": 1}]})
    history = deterministic_history()
    history["strength"] += [{"date": day(85), "contributor": "Kenya", "officers": 200, "source": "test"},
                            {"date": day(88), "contributor": "Kenya", "officers": 400, "source": "test"}]
    rec = simulate(scenario, seed=1, trace=True, as_of=as_of(observations_from_dict(history), scenario, day(90)))
    assert rec.milestones["lead_50pct"] == 91 and rec.milestones["lead_100pct"] == 99
    days, capacity = rec.series["base_capacity"]
    assert capacity.max() == 1000  # 300 at the start and 700 built: the observed 400 needed no more


def test_no_unrecorded_pledge_holds_or_lapse_before_the_as_of_date(reforecast) -> None:
    scenario, history, records = reforecast
    for rec in records:
        early = [e for e in rec.trace if 0 < e.day < history.day and e.kind in (
            "pledge_made", "hold_begins", "mandate_lapses", "airport_closed")]
        assert not early, early[:3]
    later = load_scenario("baseline")
    obs = observations_from_dict({"name": "t", "start_date": START, "observed_until": dt.date(2024, 12, 31)})
    for k in range(30):
        rec = simulate(later, seed=4, replication=k, as_of=as_of(obs, later, "2025-01-01"))
        assert rec.milestones.get("mandate_lapsed", math.inf) > later.day_of(dt.date(2024, 12, 31))


def test_a_range_that_holds_the_last_figure_invents_no_landing() -> None:
    scenario = load_scenario(DETERMINISTIC)
    history = deterministic_history()
    history["strength"].append({"date": day(85), "contributor": "Kenya", "low": 380, "high": 420, "source": "t"})
    conditioned = as_of(observations_from_dict(history), scenario, day(90))
    for k in range(20):
        rec = simulate(scenario, seed=1, replication=k, as_of=conditioned)
        days, officers = rec.series["in_theatre.Kenya"]
        assert officers[days == 85].size == 0 and officers[np.searchsorted(days, 89, side="right") - 1] == 400
