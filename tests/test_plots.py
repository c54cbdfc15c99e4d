"""Figures: what each one draws is read back from its artists and compared with the results tables."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.dates import date2num
from matplotlib.figure import Figure

from sim import MILESTONES, derive, load_scenario, run
from sim.plots import DEFAULT_MILESTONES, FIGURES, contributors_chart, fan_chart, fund_fan, milestone_scurves
from sim.record import series_label
from sim.results import Results, censored_quantile

BASELINE = Path(__file__).resolve().parents[1] / "scenarios" / "baseline.toml"
DETERMINISTIC = Path(__file__).resolve().parent / "data" / "deterministic.toml"


@pytest.fixture(scope="module")
def results() -> Results:
    return run(derive(load_scenario(BASELINE), {"horizon_days": 365}), runs=100, seed=3)


@pytest.fixture(scope="module")
def stalled() -> Results:
    """No viable administration within the horizon, so nothing after the authority is reached."""
    scenario = derive(
        load_scenario(BASELINE), {"horizon_days": 365, "governance.viable_administration_days": 10000}
    )
    return run(scenario, runs=40, seed=3)


@pytest.fixture(scope="module")
def no_base() -> Results:
    """A scenario that models no base (housing never binds) and has no partner contributors."""
    return run(load_scenario(DETERMINISTIC), runs=2, seed=3)


def _line(fig: Figure, label: str):
    (line,) = [line for line in fig.axes[0].get_lines() if line.get_label() == label]
    return line


def _by_gid(fig: Figure, gid: str) -> list:
    return fig.axes[0].findobj(lambda artist: artist.get_gid() == gid)


@pytest.mark.parametrize("draw", FIGURES.values(), ids=FIGURES.keys())
def test_every_figure_is_a_labelled_standalone_figure(results, draw) -> None:
    fig = draw(results)
    assert isinstance(fig, Figure)
    # Built without pyplot: no figure manager, so no GUI window and no global figure list.
    assert fig.canvas.manager is None
    (ax,) = fig.axes
    assert ax.get_xlabel() and ax.get_ylabel()
    assert "baseline" in ax.get_title(loc="left")
    assert ax.get_legend() is not None or fig.legends


@pytest.mark.parametrize("filename", FIGURES)
def test_every_figure_renders_to_png(results, filename) -> None:
    buffer = io.BytesIO()
    FIGURES[filename](results).savefig(buffer, format="png")
    assert buffer.getvalue().startswith(b"\x89PNG\r\n\x1a\n")


def test_registry_names_the_cli_files() -> None:
    assert dict(FIGURES) == {
        "fan_in_theatre.png": fan_chart,
        "milestones_scurve.png": milestone_scurves,
        "fund_balance.png": fund_fan,
        "in_theatre_by_contributor.png": contributors_chart,
    }


def test_fan_chart_median_is_the_p50_band(results) -> None:
    band = results.series_band("in_theatre")
    median = _line(fan_chart(results), "Median")
    np.testing.assert_array_equal(median.get_ydata(), band["p50"].to_numpy())
    np.testing.assert_array_equal(date2num(median.get_xdata()), date2num(band["date"]))


def test_fan_chart_draws_the_pledge_and_the_planned_strength_as_dashed_lines(results) -> None:
    fig = fan_chart(results)
    pledge = _line(fig, "Kenya's pledge (1,000)")
    planned = _line(fig, "Planned mission strength (2,500)")
    for line, officers in ((pledge, 1000), (planned, results.scenario.mission_size_officers)):
        assert line.get_linestyle() == "--"
        assert set(line.get_ydata()) == {officers}
    assert fig.axes[0].get_ylabel() == series_label("in_theatre") == "Officers in theatre, all contributors"
    assert fig.axes[0].get_ylim()[1] > 2500


def test_fan_chart_draws_the_median_base_capacity_when_a_base_is_modelled(results, no_base) -> None:
    assert not results.scenario.unlimited_base
    capacity = _line(fan_chart(results), "Base capacity (median)")
    assert capacity.get_linestyle() == ":"
    assert capacity.get_drawstyle() == "steps-post"
    np.testing.assert_array_equal(capacity.get_ydata(), results.series_band("base_capacity")["p50"].to_numpy())

    assert no_base.scenario.unlimited_base
    labels = [line.get_label() for line in fan_chart(no_base).axes[0].get_lines()]
    assert "Base capacity (median)" not in labels
    assert "Kenya's pledge (1,000)" in labels


def test_a_contributor_fan_chart_draws_only_that_contributor_s_pledge(results) -> None:
    def references(fig: Figure) -> list[str]:
        return [line.get_label() for line in fig.axes[0].get_lines() if line.get_linestyle() == "--"]

    kenya = fan_chart(results, "in_theatre.Kenya")
    assert references(kenya) == ["Kenya's pledge (1,000)"]
    assert kenya.axes[0].get_ylabel() == series_label("in_theatre.Kenya")
    benin = fan_chart(results, "in_theatre.benin")
    assert references(benin) == ["benin's pledge (1,500)"]
    assert set(_line(benin, "benin's pledge (1,500)").get_ydata()) == {
        results.scenario.contributors["benin"].pledged_officers
    }
    assert "Base capacity (median)" not in [line.get_label() for line in benin.axes[0].get_lines()]
    np.testing.assert_array_equal(
        _line(benin, "Median").get_ydata(), results.series_band("in_theatre.benin")["p50"].to_numpy()
    )


def test_contributors_chart_draws_each_contributor_s_median_and_the_total_s(results) -> None:
    fig = contributors_chart(results)
    scenario = results.scenario
    names = ["in_theatre", *(f"in_theatre.{c}" for c in [scenario.force.lead_contributor, *scenario.contributors])]
    for name in names:
        (line,) = _by_gid(fig, name)
        band = results.series_band(name)
        np.testing.assert_array_equal(line.get_ydata(), band["p50"].to_numpy())
        np.testing.assert_array_equal(date2num(line.get_xdata()), date2num(band["date"]))
        assert line.get_drawstyle() == "steps-post"
    colours = [_by_gid(fig, name)[0].get_color() for name in names]
    assert len(set(colours)) == len(colours)
    labels = [text.get_text() for text in fig.legends[0].get_texts()]
    assert labels[0] == "Kenya"
    share = float((results.replications["peak_in_theatre.benin"] > 0).mean())
    assert labels[1].startswith(f"benin ({share:.0%} of runs")
    assert labels[-1].startswith("All contributors")


def test_fan_chart_labels_both_bands(results) -> None:
    labels = [text.get_text() for text in fan_chart(results).axes[0].get_legend().get_texts()]
    assert any(label.startswith("P25–P75") for label in labels)
    assert any(label.startswith("P10–P90") for label in labels)


def test_fund_fan_is_in_millions_without_a_pledge_line(results) -> None:
    fig = fund_fan(results)
    band = results.series_band("fund_balance_usd")
    np.testing.assert_allclose(_line(fig, "Median").get_ydata(), band["p50"].to_numpy() / 1e6)
    assert fig.axes[0].get_ylabel() == "Trust-fund balance (US$ M)"
    assert not [line for line in fig.axes[0].get_lines() if "pledge" in line.get_label()]


def test_observed_points_are_drawn_in_the_series_unit(results) -> None:
    observed = pd.DataFrame({"date": pd.to_datetime(["2024-06-25", "2024-07-16"]), "value": [200.0, 400.0]})
    points = _line(fan_chart(results, observed=observed), "Observed")
    np.testing.assert_array_equal(points.get_ydata(), [200.0, 400.0])
    np.testing.assert_array_equal(date2num(points.get_xdata()), date2num(observed["date"]))
    assert points.get_linestyle() == "None"

    money = pd.DataFrame({"date": ["2024-04-01"], "value": [25e6]})
    np.testing.assert_allclose(_line(fan_chart(results, "fund_balance_usd", money), "Observed").get_ydata(), [25.0])


def test_observed_points_outside_the_horizon_widen_the_date_axis(results) -> None:
    observed = pd.DataFrame({"date": pd.to_datetime(["2025-06-01"]), "value": [1000.0]})
    right = fan_chart(results, observed=observed).axes[0].get_xlim()[1]
    assert right >= date2num(pd.Timestamp("2025-06-01"))


def test_fan_chart_rejects_bad_input(results) -> None:
    with pytest.raises(ValueError, match="date"):
        fan_chart(results, observed=pd.DataFrame({"when": [], "value": []}))
    with pytest.raises(KeyError, match="unknown series"):
        fan_chart(results, "morale")


def test_each_s_curve_rises_from_zero_to_the_share_reached(results) -> None:
    fig = milestone_scurves(results)
    summary = results.milestone_summary().set_index("milestone")
    for milestone in DEFAULT_MILESTONES:
        (curve,) = _by_gid(fig, milestone)
        y = np.asarray(curve.get_ydata())
        assert y[0] == 0.0
        assert np.all(np.diff(y) >= 0)
        assert y[-1] == pytest.approx(summary.loc[milestone, "share_reached"])
        assert curve.get_label().startswith(MILESTONES[milestone])


def test_s_curve_spans_start_to_horizon(results) -> None:
    (curve,) = _by_gid(milestone_scurves(results), "first_arrival")
    x = date2num(curve.get_xdata())
    start = pd.Timestamp(results.scenario.start_date)
    assert x[0] == date2num(start)
    assert x[-1] == date2num(start + pd.Timedelta(days=results.scenario.horizon_days))


def test_p50_and_p80_markers_sit_at_the_censored_quantiles(results) -> None:
    fig = milestone_scurves(results, ["first_arrival"])
    days = results.milestone_days("first_arrival")
    start = pd.Timestamp(results.scenario.start_date)
    for q in (0.5, 0.8):
        day = censored_quantile(days, q)
        marker, note = _by_gid(fig, f"first_arrival_p{round(q * 100)}")
        assert date2num(marker.get_xdata())[0] == pytest.approx(date2num(start + pd.Timedelta(days=day)))
        assert marker.get_ydata()[0] == q
        when = results.date_of(day)
        assert note.get_text().startswith(f"{when.day} {when:%b}")


def test_milestones_can_be_chosen_and_unknown_ones_are_refused(results) -> None:
    fig = milestone_scurves(results, ["authority_named"])
    assert [line.get_gid() for line in fig.axes[0].get_lines() if line.get_gid() in MILESTONES] == [
        "authority_named"
    ]
    with pytest.raises(KeyError, match="unknown milestone"):
        milestone_scurves(results, ["peace"])


def test_a_milestone_never_reached_is_flat_zero_without_markers(stalled) -> None:
    fig = milestone_scurves(stalled)
    for milestone in DEFAULT_MILESTONES:
        (curve,) = _by_gid(fig, milestone)
        assert set(curve.get_ydata()) == {0.0}
        assert "not reached" in curve.get_label()
        assert _by_gid(fig, f"{milestone}_p50") == []
        assert _by_gid(fig, f"{milestone}_p80") == []
    fig.savefig(io.BytesIO(), format="png")


def test_date_notes_do_not_overlap(results) -> None:
    fig = milestone_scurves(results)
    fig.draw_without_rendering()
    notes = [text for text in fig.axes[0].texts if text.get_gid()]
    boxes = [note.get_window_extent() for note in notes]
    frame = fig.axes[0].get_window_extent()
    # One note per quantile a milestone reaches (a P80 needs at least 80% of runs to reach it).
    expected = sum(
        not np.isnan(censored_quantile(results.milestone_days(m), q)) for m in DEFAULT_MILESTONES for q in (0.5, 0.8)
    )
    assert expected >= len(DEFAULT_MILESTONES)
    assert len(notes) == expected
    for i, box in enumerate(boxes):
        assert frame.contains(box.x0, box.y0) and frame.contains(box.x1, box.y1)
        assert not any(box.overlaps(other) for other in boxes[i + 1 :])
