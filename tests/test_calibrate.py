"""Calibration by ABC (sim.analysis.calibrate): it recovers a value that generated the observations, its pieces
give known answers, and the command writes a calibrated scenario that loads, refusing bad input in one line."""

from __future__ import annotations

import datetime as dt
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sim import load_scenario, run, simulate
from sim.analysis.calibrate import (
    MIN_SCALE_DAYS,
    Target,
    calibrate,
    check_params,
    discrepancies,
    effective_sample_size,
    targets_of,
    weighted_quantile,
)
from sim.analysis.sweep import derive_values
from sim.commands.main import main
from sim.scenario.distributions import Empirical
from sim.scenario.errors import ScenarioError
from sim.scenario.observations import Observations, observations_from_dict

DETERMINISTIC = Path(__file__).parent / "data" / "deterministic.toml"
KEY = "governance.viable_administration_days"
PRIOR = {"dist": "uniform", "low": 10, "high": 200}
TRUTH = 80.0
MILESTONES = ("administration_viable", "recon_started", "first_arrival", "lead_100pct")


def synthetic(scenario_overrides: dict, seed: int = 99, replication: int = 0) -> Observations:
    """Observations of the milestones one replication of the scenario, with KEY at TRUTH, reaches."""
    truth = load_scenario(DETERMINISTIC, {**scenario_overrides, KEY: TRUTH})
    days = run(truth, runs=replication + 1, seed=seed, progress=False).replications.iloc[replication]
    entries = [{"name": m, "date": truth.date_of(int(math.floor(days[f"{m}_day"]))), "source": "synthetic"}
               for m in MILESTONES]
    return observations_from_dict({"name": "synthetic", "start_date": truth.start_date, "milestone": entries})


def prior_width() -> float:
    return (200 - 10) * 0.9


# -- recovery -------------------------------------------------------------------------------------------------


def test_recovers_the_value_that_made_deterministic_observations() -> None:
    scenario = load_scenario(DETERMINISTIC, {KEY: PRIOR})
    obs = synthetic({})
    # With every other duration fixed, administration_viable is 20 + the value: 80 gives day 100.
    assert obs.milestone[0].date == scenario.date_of(100)
    fit = calibrate(scenario, obs, [KEY], draws=200, runs_per_draw=1, seed=3, rounds=1)
    row = fit.summary().iloc[0]
    assert row.posterior_p05 <= TRUTH <= row.posterior_p95
    assert row.posterior_p95 - row.posterior_p05 < 0.3 * prior_width()
    assert (row.prior_p05, row.prior_p95) == (pytest.approx(19.5), pytest.approx(190.5))
    assert fit.simulations == 200 * 1 * 2
    assert math.isclose(fit.weights.sum(), 1.0) and fit.ess == pytest.approx(effective_sample_size(fit.weights))
    assert fit.ess >= 10
    assert fit.thresholds[1] <= fit.thresholds[0]


@pytest.mark.slow
def test_matches_the_exact_posterior_through_noise_in_another_input() -> None:
    # Reconnaissance lasts 5 to 15 days (not calibrated), so the observed first arrival carries noise of its own;
    # the observation comes from a replication of another seed than the calibration's.
    noise = {"reconnaissance.duration_days": {"dist": "uniform", "low": 5, "high": 15}}
    scenario = load_scenario(DETERMINISTIC, {**noise, KEY: PRIOR})
    obs = synthetic(noise, seed=7, replication=3)
    obs = obs.model_copy(update={"milestone": tuple(m for m in obs.milestone if m.name == "first_arrival")})
    days = simulate(load_scenario(DETERMINISTIC, {**noise, KEY: TRUTH}), 7, 3).milestones
    recon = days["recon_done"] - days["recon_started"]
    # The first arrival is day c + value + reconnaissance days, observed as a whole day y: the exact posterior
    # density of the value v is the prior's (uniform) times P(y <= c + v + R < y + 1), R uniform on [5, 15].
    c = days["first_arrival"] - TRUTH - recon
    y = math.floor(days["first_arrival"])
    v = np.linspace(10, 200, 190_001)
    density = np.clip(np.minimum(y + 1 - c - v, 15) - np.maximum(y - c - v, 5), 0, None)
    cdf = np.cumsum(density) / density.sum()
    exact_low, exact_high = v[np.searchsorted(cdf, 0.05)], v[np.searchsorted(cdf, 0.95)]
    exact_mean = float(np.dot(v, density) / density.sum())
    # A posterior from R shared random worlds is a mixture around the values that fit each world, so R is 20.
    fit = calibrate(scenario, obs, [KEY], draws=100, runs_per_draw=20, seed=3, rounds=1)
    row = fit.summary().iloc[0]
    # Within 1.5 days of the exact posterior: the acceptance threshold is about a day, and 20 worlds place the
    # interval's ends to within about 10 / 21 days each.
    assert row.posterior_p05 == pytest.approx(exact_low, abs=1.5)
    assert row.posterior_p95 == pytest.approx(exact_high, abs=1.5)
    assert row.posterior_mean == pytest.approx(exact_mean, abs=1.5)
    assert row.posterior_p95 - row.posterior_p05 < 0.3 * prior_width()


# -- the pieces -----------------------------------------------------------------------------------------------


def test_discrepancies_of_known_values() -> None:
    targets = [Target("milestone", "first_arrival", 100, 100, 100, 10.0),
               Target("not_reached", "lead_50pct", 200, 200, 200, 20.0),
               Target("strength", "all", 150, 380, 400, 1000.0)]
    values = np.array([[110.0, 250.0, 390.0],   # 10 days late; reached after the date; inside the range
                       [95.0, 190.0, 500.0],    # 5 days early; reached 11 days before the end of the date; 100 over
                       [100.0, 200.0, 0.0]])    # exact; reached on the date itself (counts as reached: 1 day)
    expected = np.array([[1.0, 0.0, 0.0], [0.5, 11 / 20, 0.1], [0.0, 1 / 20, 0.38]])
    assert np.allclose(discrepancies(values, targets), expected)


def test_targets_censor_what_comes_after_until() -> None:
    scenario = load_scenario(DETERMINISTIC)
    obs = observations_from_dict({"name": "x", "start_date": scenario.start_date, "milestone": [
        {"name": "administration_viable", "date": scenario.date_of(35), "source": "s"},
        {"name": "first_arrival", "date": scenario.date_of(90), "source": "s"}],
        "strength": [{"date": scenario.date_of(95), "officers": 200, "source": "s"}]})
    targets = targets_of(scenario, obs, until=scenario.date_of(60))
    # Reached on day 90, after the date: known only as not reached by day 60; the strength on day 95 is left out.
    assert [(t.kind, t.name, t.day) for t in targets] == [("milestone", "administration_viable", 35),
                                                         ("not_reached", "first_arrival", 60)]


def test_no_usable_observation_is_refused() -> None:
    from sim.analysis.calibrate import CalibrationError

    scenario = load_scenario(DETERMINISTIC)
    obs = observations_from_dict({"name": "x", "start_date": scenario.start_date, "event": [
        {"date": scenario.date_of(35), "kind": "other", "source": "s"}]})
    with pytest.raises(CalibrationError, match="hold no milestone or strength up to"):
        targets_of(scenario, obs, until=scenario.date_of(60))


def test_weighted_quantile_and_ess() -> None:
    values = np.array([3.0, 1.0, 2.0, 4.0])
    assert weighted_quantile(values, np.ones(4), 0.5) == 2.0
    assert weighted_quantile(values, np.array([0.0, 0.0, 0.0, 1.0]), 0.05) == 4.0
    assert effective_sample_size(np.ones(10)) == pytest.approx(10)
    assert effective_sample_size(np.array([1.0, 0.0, 0.0])) == pytest.approx(1)
    assert effective_sample_size(np.array([2.0, 1.0, 1.0])) == pytest.approx(16 / 6)


@pytest.mark.parametrize(("key", "message"), [
    ("governance.viable_administraton_days", "unknown key; did you mean 'governance.viable_administration_days'?"),
    ("horizon_days", "not a distribution"),
    ("governance.transitional_authority_days", "a fixed value (20), not a distribution"),
])
def test_keys_that_cannot_be_calibrated_are_named(key: str, message: str) -> None:
    scenario = load_scenario(DETERMINISTIC, {KEY: PRIOR})
    with pytest.raises(ScenarioError) as raised:
        check_params(scenario, [key])
    assert str(raised.value).count("\n") == 0 and key in str(raised.value) and message in str(raised.value)


def test_the_calibrated_scenario_holds_the_posterior() -> None:
    scenario = load_scenario(DETERMINISTIC, {KEY: PRIOR})
    fit = calibrate(scenario, synthetic({}), [KEY], draws=60, runs_per_draw=1, seed=3, rounds=0)
    calibrated = fit.calibrated_scenario()
    dist = calibrated.governance.viable_administration_days
    assert isinstance(dist, Empirical) and len(dist.values) == len(fit.posterior)
    assert dist.mean() == pytest.approx(fit.summary().iloc[0].posterior_mean, rel=1e-5)
    assert min(t.scale for t in fit.targets) >= MIN_SCALE_DAYS


def test_a_scenario_without_its_file_is_written_whole(tmp_path: Path) -> None:
    from sim.output.calibrate import calibrated_toml

    scenario = load_scenario(DETERMINISTIC, {KEY: PRIOR})
    fit = calibrate(scenario, synthetic({}), [KEY], draws=30, runs_per_draw=1, seed=3, rounds=0)
    path = tmp_path / "whole.toml"
    path.write_text(calibrated_toml(fit, None), encoding="utf-8")
    loaded = load_scenario(path)
    assert loaded.name == "deterministic_calibrated"
    assert loaded.governance.viable_administration_days == fit.empirical(KEY)
    assert loaded.model_copy(update={"name": scenario.name, "governance": scenario.governance}) == scenario


# -- the command ----------------------------------------------------------------------------------------------


def _write_observations(path: Path, obs: Observations) -> Path:
    lines = [f'name = "{obs.name}"', f"start_date = {obs.start_date}", ""]
    for m in obs.milestone:
        lines += ["[[milestone]]", f'name = "{m.name}"', f"date = {m.date}", 'source = "synthetic"', ""]
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


@pytest.mark.slow
def test_cli_end_to_end(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    observed = _write_observations(tmp_path / "obs.toml", synthetic({}))
    (tmp_path / "base.toml").write_text(DETERMINISTIC.read_text(encoding="utf-8"), encoding="utf-8")
    child = tmp_path / "child.toml"
    child.write_text('# a child scenario\nextends = "base.toml"\nname = "child"\n\n[governance]\n'
                     'viable_administration_days = { dist = "uniform", low = 10, high = 200 }  # the prior\n',
                     encoding="utf-8")
    out = tmp_path / "out"
    args = ["calibrate", str(child), "--observed", str(observed), "--params", KEY, "--draws", "100", "--runs", "1",
            "--out", str(out), "--quiet"]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "Calibration of 'child' against 'synthetic'" in printed and KEY in printed
    for name in ("child_calibrated.toml", "posterior.csv", "draws.csv", "calibration.json", "calibration.png",
                 "manifest.json"):
        assert (out / name).is_file(), name
    record = json.loads((out / "calibration.json").read_text(encoding="utf-8"))
    assert record["simulations"] == 200 and record["parameters"][KEY]["prior_90"] == [19.5, 190.5]
    low, high = record["parameters"][KEY]["posterior_90"]
    assert low <= TRUTH <= high
    posterior = pd.read_csv(out / "posterior.csv")
    assert posterior["weight"].sum() == pytest.approx(1.0)
    text = (out / "child_calibrated.toml").read_text(encoding="utf-8")
    assert text.startswith("# Calibrated from child.toml") and "ESS" in text and "# a child scenario" in text
    # The file is written elsewhere than its parent, so its extends is now absolute; it loads and runs.
    calibrated = load_scenario(out / "child_calibrated.toml")
    assert calibrated.name == "child_calibrated"
    assert isinstance(calibrated.governance.viable_administration_days, Empirical)
    days = run(calibrated, runs=50, seed=1, progress=False).milestone_days("administration_viable")
    # (The file keeps six significant digits of each value.)
    assert 20 + low - 1e-3 <= days.min() and days.max() <= 20 + high + 1e-3
    # An existing folder is refused without --force, and replaced with it.
    assert main(args) == 2
    assert "already exists" in capsys.readouterr().err
    assert main([*args, "--force", "--no-plots"]) == 0
    assert not (out / "calibration.png").exists()


@pytest.mark.parametrize(("extra", "message"), [
    (["--params", "governance.viable_administraton_days"], "did you mean 'governance.viable_administration_days'"),
    (["--params", "horizon_days"], "horizon_days: not a distribution"),
    (["--params", "governance.transitional_authority_days"], "a fixed value (20), not a distribution"),
    (["--params", KEY, "--until", "2024-02-30"], "expected a date YYYY-MM-DD"),
    (["--params", KEY, "--until", "2030-01-01"], "is outside the scenario's days"),
    (["--params", KEY, "--accept", "0"], "expected a share above 0 and at most 1"),
])
def test_cli_bad_input_is_one_line(tmp_path: Path, extra: list[str], message: str,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    observed = _write_observations(tmp_path / "obs.toml", synthetic({}))
    out = tmp_path / "out"
    code = main(["calibrate", str(DETERMINISTIC), "--set", f"{KEY}={{dist='uniform',low=10,high=200}}",
                 "--observed", str(observed), "--draws", "10", "--runs", "1", "--out", str(out), "--quiet", *extra])
    err = capsys.readouterr().err
    assert code == 2 and message in err, err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert not out.exists()


def test_cli_refuses_observations_of_another_day_0(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    obs = synthetic({})
    later = obs.model_copy(update={"start_date": dt.date(2024, 3, 1)})
    observed = _write_observations(tmp_path / "obs.toml", later)
    code = main(["calibrate", str(DETERMINISTIC), "--set", f"{KEY}={{dist='uniform',low=10,high=200}}",
                 "--observed", str(observed), "--params", KEY, "--draws", "10", "--runs", "1",
                 "--out", str(tmp_path / "out"), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and "calibrate with the same day 0" in err and err.count("\n") == 1


def test_derive_values_pins_as_the_calibration_does() -> None:
    # A pinned value is a fixed distribution: the scenario the calibration simulates at a point.
    scenario = load_scenario(DETERMINISTIC, {KEY: PRIOR})
    pinned = derive_values(scenario, {KEY: {"dist": "fixed", "value": TRUTH}})
    days = run(pinned, runs=1, seed=1, progress=False).milestone_days("administration_viable")
    assert days[0] == pytest.approx(20 + TRUTH)


@pytest.mark.slow
def test_workers_give_the_same_calibration() -> None:
    scenario = load_scenario(DETERMINISTIC, {KEY: PRIOR})
    obs = synthetic({})
    one = calibrate(scenario, obs, [KEY], draws=40, runs_per_draw=2, seed=3, rounds=1, workers=1)
    two = calibrate(scenario, obs, [KEY], draws=40, runs_per_draw=2, seed=3, rounds=1, workers=2)
    pd.testing.assert_frame_equal(one.draws, two.draws)
    assert one.ess == two.ess and one.thresholds == two.thresholds
