"""Sensitivity: uncertain inputs, the tornado on constructed cases with a known ranking, Sobol indices, the CLI.

The constructed cases make inputs of tests/data/deterministic.toml uncertain: there the first arrival
is the sum of the transition, the recon's lead time and its duration plus fixed steps, so each
input's effect on the median is exactly its own P90 minus P10.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sim import load_scenario
from sim.analysis.sensitivity import (
    WORLD,
    global_inputs,
    pin_values,
    scenario_distributions,
    sobol_indices,
    tornado,
    uncertain_inputs,
)
from sim.analysis.sweep import derive_values, run_batches
from sim.commands.main import main
from sim.output.analysis_figures import tornado_figure
from sim.scenario.distributions import Bernoulli, Fixed, Uniform
from sim.scenario.loader import ScenarioError

ROOT = Path(__file__).resolve().parents[1]
BASELINE = ROOT / "scenarios" / "baseline.toml"
DETERMINISTIC = ROOT / "tests" / "data" / "deterministic.toml"

#: Spreads chosen so the ranking (lead time, duration, authority) differs from the schema's order.
ADDITIVE = {
    "governance.transitional_authority_days": {"dist": "uniform", "low": 10, "high": 30},
    "reconnaissance.lead_time_days": {"dist": "uniform", "low": 0, "high": 100},
    "reconnaissance.duration_days": {"dist": "uniform", "low": 5, "high": 45},
    # Training (done by day 20) finishes before the recon can (day 30 at the earliest): no effect.
    "force.training.duration_days": {"dist": "uniform", "low": 1, "high": 20},
}


@pytest.fixture(scope="module")
def additive():
    return load_scenario(DETERMINISTIC, ADDITIVE)


@pytest.fixture(scope="module")
def additive_tornado(additive):
    return tornado(additive, "first_arrival", runs=40, seed=5)


def test_uncertain_inputs_walk_named_entries_and_lists() -> None:
    baseline = load_scenario(BASELINE)
    keys = uncertain_inputs(baseline)
    assert "funding.pledges.canada.tranche_lag_days" in keys
    assert "base.stages.2.duration_days" in keys
    assert "contributors.benin.delay_days" in keys
    assert "logistics.airlift.flight_days" not in keys  # a fixed value
    dists = scenario_distributions(baseline)
    assert set(keys) == {k for k, d in dists.items() if not isinstance(d, Fixed)}
    # Every input can be pinned, and pinning changes that input only.
    for key in keys:
        pinned = scenario_distributions(derive_values(baseline, {key: dists[key].quantile(0.5)}))
        assert pinned[key] == Fixed(value=dists[key].quantile(0.5))
        assert {k: v for k, v in pinned.items() if k != key} == {k: v for k, v in dists.items() if k != key}


def test_pins_are_the_p10_and_p90_and_a_yes_no_input_is_held_at_no_and_yes() -> None:
    assert pin_values(Uniform(dist="uniform", low=0, high=100)) == (10.0, 90.0)
    assert pin_values(Bernoulli(dist="bernoulli", p=0.95)) == (0.0, 1.0)


def test_tornado_ranks_inputs_by_their_known_spread(additive_tornado) -> None:
    assert list(additive_tornado["input"]) == [
        "reconnaissance.lead_time_days",
        "reconnaissance.duration_days",
        "governance.transitional_authority_days",
        "force.training.duration_days",
    ]
    assert list(additive_tornado["rank"]) == [1, 2, 3, 4]


def test_each_swing_is_exactly_the_inputs_quantile_difference(additive, additive_tornado) -> None:
    dists = scenario_distributions(additive)
    for row in additive_tornado.itertuples():
        dist = dists[row.input]
        on_path = row.input != "force.training.duration_days"
        expected = dist.quantile(0.9) - dist.quantile(0.1) if on_path else 0.0
        assert row.swing == pytest.approx(expected, abs=1e-9)
        assert row.high_median - row.low_median == pytest.approx(expected, abs=1e-9)
        assert (row.low_value, row.high_value) == (dist.quantile(0.1), dist.quantile(0.9))
        assert not row.censored
    assert additive_tornado.attrs["unit"] == "days"


def test_each_swing_carries_its_monte_carlo_error(additive, additive_tornado) -> None:
    """On the additive case every replication moves by exactly the quantile difference, so a swing's
    paired interval is that single value; an input off the critical path has none and is no noise."""
    dists = scenario_distributions(additive)
    for row in additive_tornado.itertuples():
        dist = dists[row.input]
        if row.input == "force.training.duration_days":
            assert (row.swing_ci95_low, row.swing_ci95_high) == (0.0, 0.0)
            assert not row.within_noise and np.isnan(row.runs_to_resolve)
            continue
        expected = dist.quantile(0.9) - dist.quantile(0.1)
        assert row.swing_ci95_low == pytest.approx(expected, abs=1e-9)
        assert row.swing_ci95_high == pytest.approx(expected, abs=1e-9)
        assert row.low_delta_ci95_low <= row.low_delta <= row.low_delta_ci95_high
        assert not row.within_noise and np.isnan(row.runs_to_resolve)


def test_a_swing_the_batch_cannot_resolve_is_marked_with_the_runs_it_would_take() -> None:
    from sim.analysis.sensitivity import _runs_to_resolve, swing_noise

    n = 200
    resamples = np.random.default_rng(0).integers(0, n, size=(500, n))
    base = low = np.zeros(n)
    # Pinning high moves half the runs a day earlier and half a day later: no effect on the median
    # that the batch can tell from noise.
    noise = swing_noise(base, low, np.tile([-1.0, 1.0], n // 2), resamples)
    assert noise["swing_ci95_low"] < 0 < noise["swing_ci95_high"] and noise["within_noise"]
    row = {**noise, "swing": 0.25}
    half = (noise["swing_ci95_high"] - noise["swing_ci95_low"]) / 2
    assert _runs_to_resolve(row, n) == np.ceil(n * (half / 0.25) ** 2) > n
    # Moving every run five days later is resolved whatever the resampling.
    clear = swing_noise(base, low, np.full(n, 5.0) + np.tile([-1.0, 1.0], n // 2), resamples)
    assert clear["swing_ci95_low"] > 0 and not clear["within_noise"]


def test_pinning_one_input_leaves_every_other_draw_where_it_was() -> None:
    baseline = load_scenario(BASELINE, ["horizon_days=365"])
    key = "governance.transitional_authority_days"
    p90 = scenario_distributions(baseline)[key].quantile(0.9)
    free, pinned = run_batches([baseline, derive_values(baseline, {key: p90})], runs=30, seed=11)
    a, b = free.replications, pinned.replications
    assert (b["authority_named_day"] == p90).all()
    assert not (a["authority_named_day"] == p90).any()
    # The next draw of the same stream (the time to a viable administration) is unchanged...
    pd.testing.assert_series_equal(
        b["administration_viable_day"] - b["authority_named_day"],
        a["administration_viable_day"] - a["authority_named_day"],
    )
    # ...and so is every draw of another subsystem (the airport's closures).
    pd.testing.assert_series_equal(b["airport_closed_days"], a["airport_closed_days"])


def test_a_median_after_the_horizon_counts_at_the_horizon_and_is_flagged() -> None:
    # First arrival = authority + 34 days: day 54 at the P10 (authority 20 days); at the P90 (100 days)
    # it would be day 134, after the 120-day horizon.
    scenario = load_scenario(
        DETERMINISTIC,
        {"horizon_days": 120, "governance.transitional_authority_days": {"dist": "uniform", "low": 10, "high": 110}},
    )
    table = tornado(scenario, runs=41, seed=2)
    (row,) = table.itertuples()
    assert np.isnan(row.high_median) and row.censored
    assert row.low_median == pytest.approx(54.0) and row.baseline_median < 120
    assert row.high_delta == pytest.approx(120 - row.baseline_median) and row.swing == pytest.approx(120 - 54.0)
    fig = tornado_figure(table)
    (bar,) = fig.axes[0].findobj(lambda a: a.get_gid() == f"high:{row.input}")
    assert bar.get_hatch() == "///"


def test_tornado_figure_draws_each_change_from_the_baseline(additive_tornado) -> None:
    fig = tornado_figure(additive_tornado, top=3)
    ax = fig.axes[0]
    baseline = additive_tornado.attrs["baseline_median"]
    for row in additive_tornado.head(3).itertuples():
        for which in ("low", "high"):
            (bar,) = ax.findobj(lambda a, gid=f"{which}:{row.input}": a.get_gid() == gid)
            assert bar.get_x() == pytest.approx(baseline)
            assert bar.get_width() == pytest.approx(getattr(row, f"{which}_delta"))
    assert not ax.findobj(lambda a: a.get_gid() == "low:force.training.duration_days")
    assert "1 more input" in ax.get_title(loc="left").replace("\n", " ")
    labels = {label.get_position()[1]: label.get_text() for label in ax.get_yticklabels()}
    assert labels[max(labels)] == "Recon: lead time (days): 10 → 90"  # rank 1 at the top
    with pytest.raises(ValueError, match="lacks the attrs"):
        tornado_figure(pd.DataFrame(additive_tornado))


def test_a_total_can_be_the_outcome(additive) -> None:
    table = tornado(additive, "officer_days", inputs=["reconnaissance.lead_time_days"], runs=20, seed=5)
    (row,) = table.itertuples()
    # A later recon delays every arrival, which costs officer-days in theatre before the horizon.
    assert row.low_delta > 0 > row.high_delta


def test_unknown_outcome_or_input_is_a_scenario_error(additive) -> None:
    with pytest.raises(ScenarioError, match="did you mean 'first_arrival'"):
        tornado(additive, "first_arival", runs=1)
    with pytest.raises(ScenarioError, match="did you mean 'reconnaissance.lead_time_days'"):
        tornado(additive, inputs=["reconnaissance.lead_time_dayz"], runs=1)


def test_sobol_total_indices_follow_the_variances_on_an_additive_case(additive) -> None:
    inputs = ["governance.transitional_authority_days", "reconnaissance.lead_time_days",
              "reconnaissance.duration_days"]
    table = sobol_indices(additive, "first_arrival", inputs, n=64, replications=1, seed=3)
    # The model's randomness (an input of its own) moves nothing here: every duration is an input.
    assert list(table["input"]) == [inputs[1], inputs[2], inputs[0], WORLD]
    # Uniform spreads 100, 40 and 20: variances in the ratio 100^2 : 40^2 : 20^2.
    shares = np.array([100.0, 40.0, 20.0, 0.0]) ** 2 / (100.0**2 + 40.0**2 + 20.0**2)
    np.testing.assert_allclose(table["ST"], shares, atol=0.1)
    assert abs(table.attrs["randomness_share"]) < 0.02
    assert (table["ST_conf"] >= 0).all() and table.attrs["evaluations"] == 64 * 6


def test_sobol_gives_the_model_s_own_randomness_its_share(additive) -> None:
    """With setbacks that hold the recon for drawn times, the outcome varies with the world as well as
    with the inputs: the world's total index is the share of variance only the randomness explains."""
    noisy = derive_values(additive, {"governance.setbacks_per_year": 6.0,
                                     "governance.hold_days": {"dist": "uniform", "low": 0, "high": 60}})
    only_world = sobol_indices(noisy, "first_arrival", ["force.training.duration_days"], n=256, seed=3)
    # Training never binds: all of the variance is the model's own (1 within the estimate's 95% interval).
    row = only_world.set_index("input").loc[WORLD]
    assert abs(row["ST"] - 1.0) <= row["ST_conf"] + 0.02 and abs(row["S1"] - 1.0) <= row["S1_conf"] + 0.02
    training = only_world.set_index("input").loc["force.training.duration_days"]
    assert abs(training["ST"]) <= training["ST_conf"] + 0.02
    both = sobol_indices(noisy, "first_arrival", ["reconnaissance.lead_time_days"], n=128, seed=3)
    assert 0.05 < both.attrs["randomness_share"] < 0.95
    assert "governance.hold_days" not in global_inputs(noisy)


def test_sobol_rejects_a_sample_size_that_is_not_a_power_of_two(additive) -> None:
    with pytest.raises(ValueError, match="power of two"):
        sobol_indices(additive, n=48)


# -- command line --------------------------------------------------------------------------------


def _sets() -> list[str]:
    out = []
    for key, dist in ADDITIVE.items():
        body = ",".join(f"{k}={v!r}".replace("'", '"') for k, v in dist.items())
        out += ["--set", f"{key}={{{body}}}"]
    return out


def test_cli_writes_tornado_and_sobol(tmp_path: Path, capsys) -> None:
    out = tmp_path / "sens"
    argv = ["sensitivity", str(DETERMINISTIC), *_sets(), "--runs", "10", "--method", "sobol", "--sobol-n", "8",
            "--sobol-replications", "1", "--out", str(out), "--quiet"]
    assert main(argv) == 0
    assert {p.name for p in out.iterdir()} == {"tornado.csv", "tornado.png", "sobol.csv", "sobol.png",
                                               "manifest.json"}
    ranked = pd.read_csv(out / "tornado.csv")
    assert list(ranked["input"][:3]) == ["reconnaissance.lead_time_days", "reconnaissance.duration_days",
                                         "governance.transitional_authority_days"]
    printed = capsys.readouterr().out
    assert "Baseline median:" in printed and "Sobol indices" in printed
    assert main(argv) == 2  # exists, no --force


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        (["--inputs", "governance.hold_dayz"],
         "deploysim: error: --inputs: governance.hold_dayz: not a distribution of the scenario; "
         "did you mean 'governance.hold_days'?"),
        (["--outcome", "first_arival"],
         "deploysim: error: --outcome: first_arival: unknown outcome; did you mean 'first_arrival'?"),
        (["--set", "funding.runway_dayz=3"],
         "deploysim: error: --set: funding.runway_dayz: unknown key 'runway_dayz'; did you mean 'runway_days'?"),
        (["--method", "sobol", "--sobol-n", "48"],
         "deploysim: error: --sobol-n must be a power of two (2, 4, ..., 64, 128...), got 48"),
    ],
)
def test_cli_bad_input_gives_one_line_and_exit_code_2(tmp_path: Path, capsys, extra, expected) -> None:
    code = main(["sensitivity", str(BASELINE), "--runs", "2", "--out", str(tmp_path / "x"), *extra])
    assert code == 2
    assert capsys.readouterr().err.splitlines() == [expected]
    assert not (tmp_path / "x").exists()


def test_the_tornado_says_which_swings_are_within_noise(additive) -> None:
    from sim.output.tables import format_tornado

    table = tornado(additive, "first_arrival", runs=20, seed=5)
    table.loc[table["input"] == "reconnaissance.duration_days", ["within_noise", "runs_to_resolve"]] = [True, 812.0]
    text = format_tornado(table, additive)
    line = next(row for row in text.splitlines() if "reconnaissance.duration_days" in row)
    assert "noise (~812 runs)" in line
    assert "cannot tell it from Monte Carlo error" in text
    fig = tornado_figure(table)
    labels = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert sum("(within noise)" in label for label in labels) == 1
    faint = [p for p in fig.axes[0].patches if p.get_gid() == "low:reconnaissance.duration_days"]
    assert faint and faint[0].get_alpha() == 0.35
