"""Back-testing: the scores against theory, the machinery's own calibration, and the command end to end."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sim import load_scenario, run
from sim.analysis.backtest import BacktestError, _crps, paired, score, summary
from sim.commands.main import main
from sim.scenario.observations import load_observations, observations_from_dict

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ROOT / "observations" / "mss_haiti.toml"


def _normal_crps(y: float, mu: float, sigma: float) -> float:
    z = (y - mu) / sigma
    cdf = 0.5 * (1 + math.erf(z / math.sqrt(2)))
    pdf = math.exp(-z * z / 2) / math.sqrt(2 * math.pi)
    return sigma * (z * (2 * cdf - 1) + 2 * pdf - 1 / math.sqrt(math.pi))


@pytest.mark.parametrize("y", [0.0, 1.3, -4.0])
def test_crps_matches_the_closed_form_of_a_normal_forecast(y: float) -> None:
    """Ensembles of 4,000 draws from N(2, 3): their mean CRPS lies within 4 standard errors of the closed form."""
    rng = np.random.default_rng(12)
    values = np.array([_crps(y, rng.normal(2.0, 3.0, size=4000)) for _ in range(40)])
    se = values.std(ddof=1) / math.sqrt(len(values))
    expected = _normal_crps(y, 2.0, 3.0)
    # The ensemble estimator's bias is O(sigma / m), far inside the tolerance for m = 4000.
    assert abs(values.mean() - expected) < 4 * se + 3.0 / 4000, (values.mean(), expected, se)


def _ks_uniform(u: np.ndarray) -> float:
    u = np.sort(u)
    n = len(u)
    return float(max(np.max(np.arange(1, n + 1) / n - u), np.max(u - np.arange(n) / n)))


@pytest.mark.slow
def test_pit_of_replications_own_records_is_uniform() -> None:
    """Calibration of the machinery: worlds drawn from the model itself score uniform PITs against its forecast.

    The forecast is one batch (m replications); each "true world" is a replication of a batch with another
    seed, recorded as observations (its first arrival, or that it did not arrive by the horizon; Kenya's
    strength on day 150). Randomised PITs of the n worlds against the m-run ensemble are then a two-sample
    comparison of iid draws, so their KS distance from uniform stays under the two-sample critical value at
    the 0.1% level, 1.95 * sqrt((m + n) / (m n)).
    """
    scenario = load_scenario("baseline", {"horizon_days": 300})
    m, n = 600, 200
    ensemble = run(scenario, runs=m, seed=11, keep_daily=True, progress=False)
    truth = run(scenario, runs=n, seed=97, keep_daily=True, progress=False)
    assert truth.daily is not None
    pits: dict[str, list[float]] = {"milestone": [], "strength": []}
    for k in range(n):
        day = truth.replications["first_arrival_day"].iloc[k]
        data: dict[str, object] = {"name": f"world {k}", "start_date": scenario.start_date}
        if np.isnan(day):
            data["not_reached"] = [{"name": "first_arrival", "by": scenario.date_of(300), "source": "model"}]
        else:
            data["milestone"] = [{"name": "first_arrival", "date": scenario.date_of(day), "source": "model"}]
        officers = int(truth.daily["in_theatre.Kenya"][k, 150])
        data["strength"] = [{"date": scenario.date_of(150), "contributor": "Kenya", "officers": officers,
                             "source": "model"}]
        table = score(ensemble, observations_from_dict(data))
        # Each world gets its own draw inside its PIT interval.
        u = np.random.default_rng([5, k]).uniform(size=len(table))
        randomised = table["pit_low"] + u * (table["pit_high"] - table["pit_low"])
        pits["milestone"].append(float(randomised.iloc[0]))
        pits["strength"].append(float(randomised.iloc[1]))
    tolerance = 1.95 * math.sqrt((m + n) / (m * n))
    for kind, values in pits.items():
        assert _ks_uniform(np.array(values)) < tolerance, kind


@pytest.fixture(scope="module")
def baseline_forecast():
    return run(load_scenario("baseline"), runs=60, seed=3, keep_daily=True, progress=False)


def test_scores_on_the_shipped_observations(baseline_forecast) -> None:
    obs = load_observations(SHIPPED)
    table = score(baseline_forecast, obs)
    entries = len(obs.milestone) + len(obs.not_reached) + len(obs.strength) + len(obs.money) + len(obs.event)
    assert len(table) == entries
    scored = table[table["scored"]]
    assert ((scored["pit_low"] <= scored["pit"]) & (scored["pit"] <= scored["pit_high"])).all()
    assert (scored["pit_low"].between(0, 1) & scored["pit_high"].between(0, 1)).all()
    censored = scored[scored["kind"] == "not_reached"]
    assert censored["crps"].isna().all() and (censored["pit_high"] == 1.0).all()
    assert np.allclose(censored["brier"], censored["p_reached_by"] ** 2)
    assert not table.loc[table["kind"] == "event", "scored"].any()
    frame = summary(table)
    assert int(frame.query("group == 'all' and metric == 'scored'")["value"].iloc[0]) == len(scored)
    assert frame[frame["metric"].str.startswith("pit_bin")]["value"].sum() == len(scored)


def test_a_known_ensemble_gives_known_scores(baseline_forecast) -> None:
    """Against the forecast's own milestone days, the PIT interval is the empirical CDF's step."""
    days = np.floor(baseline_forecast.milestone_days("first_arrival"))
    y = float(np.nanmedian(days))
    obs = observations_from_dict({
        "name": "x", "start_date": baseline_forecast.scenario.start_date,
        "milestone": [{"name": "first_arrival", "date": baseline_forecast.scenario.date_of(y), "source": "s"}],
    })
    row = score(baseline_forecast, obs).iloc[0]
    filled = np.where(np.isnan(days), np.inf, days)
    assert row["pit_low"] == pytest.approx(np.mean(filled < y))
    assert row["pit_high"] == pytest.approx(np.mean(filled <= y))
    assert bool(row["in50"])


def test_paired_scores_of_a_forecast_with_itself_are_zero(baseline_forecast) -> None:
    table = score(baseline_forecast, load_observations(SHIPPED))
    result = paired(table, table, labels=("a", "b"))
    assert (result.differences["diff"] == 0).all()
    assert (result.means["mean_diff"] == 0).all()
    with pytest.raises(BacktestError, match="different observations"):
        paired(table, table.iloc[:3])


def test_a_forecast_with_another_day_0_is_refused(baseline_forecast) -> None:
    obs = observations_from_dict({"name": "x", "start_date": pd.Timestamp("2024-03-15").date()})
    with pytest.raises(BacktestError, match="same day 0"):
        score(baseline_forecast, obs)


@pytest.mark.slow
def test_backtest_end_to_end(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    stored = tmp_path / "run"
    assert main(["run", "baseline", "--runs", "20", "--seed", "5", "--out", str(stored), "--quiet",
                 "--no-plots"]) == 0
    out = tmp_path / "bt"
    code = main(["backtest", str(stored), "--observed", str(SHIPPED), "--against", "plan_as_announced",
                 "--runs", "20", "--seed", "5", "--out", str(out), "--quiet"])
    printed = capsys.readouterr()
    # A stored run fixes its runs and seed; the same --runs and --seed are accepted.
    assert code == 0, printed.err
    for name in ("backtest.csv", "backtest_summary.csv", "backtest_paired.csv", "backtest.png", "manifest.json"):
        assert (out / name).is_file(), name
    table = pd.read_csv(out / "backtest.csv")
    assert set(table["forecast"]) == {"baseline", "plan_as_announced"}
    assert (out / "backtest.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "Calibration over" in printed.out and "paired by observation" in printed.out
    # Never over a folder it did not write.
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "keep.txt").write_text("mine", encoding="utf-8")
    assert main(["backtest", "baseline", "--observed", str(SHIPPED), "--runs", "5", "--out", str(foreign),
                 "--force", "--quiet", "--no-plots"]) == 2
    assert (foreign / "keep.txt").read_text(encoding="utf-8") == "mine"
