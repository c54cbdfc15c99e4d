"""Figures: what each one draws is read back from its artists and compared with the results tables."""

from __future__ import annotations

import dataclasses
import io
import struct
import zlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.dates import date2num
from matplotlib.figure import Figure

from sim import MILESTONES, derive, load_scenario, run
from sim.batch.results import Results, censored_quantile
from sim.model.record import series_label
from sim.output.plots import (
    DEFAULT_MILESTONES,
    FIGURES,
    MIN_SHARE_SHOWN,
    SETBACK_MILESTONES,
    binding_chart,
    constraint_styles,
    contributors_chart,
    fan_chart,
    fund_fan,
    gantt,
    milestone_scurves,
    save_png,
)
from sim.output.provenance import footer_text, png_metadata
from sim.scenario.milestones import GATED_MILESTONES

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
    rows = {label.get_text() for label in ax.get_yticklabels()}
    # A chart with one row per milestone is labelled by its rows.
    assert ax.get_xlabel() and (ax.get_ylabel() or rows <= set(MILESTONES.values()))
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
        "milestones_gantt.png": gantt,
        "binding_shares.png": binding_chart,
    }


@pytest.mark.parametrize("draw", FIGURES.values(), ids=FIGURES.keys())
def test_every_figure_carries_the_provenance_footer_clear_of_everything_else(results, draw) -> None:
    fig = draw(results)
    (footer,) = [text for text in fig.texts if text.get_gid() == "provenance"]
    assert footer.get_text() == footer_text(results)
    assert f"seed {results.seed}" in footer.get_text() and "100 runs" in footer.get_text()
    fig.draw_without_rendering()
    box = footer.get_window_extent()
    assert fig.bbox.contains(box.x0, box.y0) and fig.bbox.contains(box.x1, box.y1)
    others = [ax.get_tightbbox() for ax in fig.axes] + [legend.get_window_extent() for legend in fig.legends]
    assert not any(box.overlaps(other) for other in others)


@pytest.mark.parametrize("draw", FIGURES.values(), ids=FIGURES.keys())
@pytest.mark.parametrize("batch", ["stalled", "no_base"])
def test_every_figure_renders_for_a_stalled_or_a_deterministic_batch(request, batch, draw) -> None:
    draw(request.getfixturevalue(batch)).savefig(io.BytesIO(), format="png")


def _png_text_chunks(data: bytes) -> dict[str, str]:
    """The tEXt (and zTXt, iTXt) chunks of a PNG, by keyword."""
    chunks, at = {}, 8
    while at < len(data):
        (length,) = struct.unpack(">I", data[at : at + 4])
        kind, body = data[at + 4 : at + 8], data[at + 8 : at + 8 + length]
        if kind == b"tEXt":
            key, value = body.split(b"\0", 1)
            chunks[key.decode("latin-1")] = value.decode("latin-1")
        elif kind == b"zTXt":
            key, rest = body.split(b"\0", 1)
            chunks[key.decode("latin-1")] = zlib.decompress(rest[1:]).decode("latin-1")
        elif kind == b"iTXt":
            key, rest = body.split(b"\0", 1)
            compressed, rest = rest[0], rest[2:]
            _language, _translated, text = rest.split(b"\0", 2)
            chunks[key.decode("latin-1")] = (zlib.decompress(text) if compressed else text).decode("utf-8")
        at += 12 + length
    return chunks


def test_save_png_writes_the_provenance_into_the_metadata_atomically(results, tmp_path) -> None:
    path = save_png(gantt(results), tmp_path / "figures" / "gantt.png", results, dpi=60)
    assert path == tmp_path / "figures" / "gantt.png"
    assert [p.name for p in path.parent.iterdir()] == ["gantt.png"]
    data = path.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    chunks = _png_text_chunks(data)
    for key, value in png_metadata(results).items():
        assert chunks[key] == value
    assert chunks["Source"] == footer_text(results)
    try:
        from PIL import Image
    except ImportError:
        return
    with Image.open(path) as image:
        assert image.text["Description"] == png_metadata(results)["Description"]


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
    assert references(benin) == ["Benin's pledge (1,500)"]
    assert set(_line(benin, "Benin's pledge (1,500)").get_ydata()) == {
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
    assert labels[1].startswith(f"Benin ({share:.0%} of runs")
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


def _horizon(results: Results) -> float:
    return date2num(pd.Timestamp(results.scenario.start_date) + pd.Timedelta(days=results.scenario.horizon_days))


def _rows(fig: Figure) -> list[str]:
    return [label.get_text() for label in fig.axes[0].get_yticklabels()]


def test_gantt_draws_by_default_every_milestone_some_run_reaches_and_common_setbacks(results) -> None:
    replications = results.replications.copy()
    never = replications["replication"] >= 0
    replications.loc[never, ["mission_100pct_day", "lead_withdrawal_day", "mandate_lapsed_day"]] = np.nan
    # One run reaches full strength; a setback in 4% of runs is left out, one in 5% is drawn.
    replications.loc[replications["replication"] == 0, "mission_100pct_day"] = 300.0
    replications.loc[replications["replication"] < 4, "lead_withdrawal_day"] = 200.0
    replications.loc[replications["replication"] < 5, "mandate_lapsed_day"] = 250.0
    edited = dataclasses.replace(results, replications=replications)
    reached = [m for m in MILESTONES if m not in SETBACK_MILESTONES and not np.isnan(edited.milestone_days(m)).all()]
    assert "mission_100pct" in reached
    assert _rows(gantt(edited)) == [MILESTONES[m] for m in [*reached, "mandate_lapsed"]]
    assert MIN_SHARE_SHOWN == 0.05


def test_gantt_bars_run_from_the_censored_p10_to_p90_with_the_p50_tick_and_p80_marker(results) -> None:
    chosen = ["recon_done", "first_arrival", "lead_100pct", "mission_50pct"]
    fig = gantt(results, chosen)
    assert _rows(fig) == [MILESTONES[m] for m in chosen]
    summary = results.milestone_summary().set_index("milestone")
    horizon = _horizon(results)
    drawn_p50 = 0
    for row, milestone in enumerate(chosen):
        line = summary.loc[milestone]
        if pd.isna(line["p10_date"]):
            # Fewer than one run in ten reaches it (mission_50pct, near the 365-day horizon): no bar.
            assert _by_gid(fig, f"{milestone}_range") == []
            assert len(_by_gid(fig, f"{milestone}_not_reached")) == 1
            continue
        (bar,) = _by_gid(fig, f"{milestone}_range")
        p90 = horizon if pd.isna(line["p90_date"]) else date2num(line["p90_date"])
        np.testing.assert_array_equal(bar.get_xdata(), [date2num(line["p10_date"]), p90])
        np.testing.assert_array_equal(bar.get_ydata(), [row, row])
        for q in (50, 80):
            marks = _by_gid(fig, f"{milestone}_p{q}")
            if pd.isna(line[f"p{q}_date"]):
                assert marks == []
                continue
            (mark,) = marks
            assert mark.get_xdata() == [date2num(line[f"p{q}_date"])] and mark.get_ydata() == [row]
            drawn_p50 += q == 50
        (share,) = _by_gid(fig, f"{milestone}_share")
        assert share.get_text() == f"{line['share_reached']:.1%}".replace(".0%", "%")
    assert drawn_p50 >= 2


def test_gantt_dates_each_p50_tick(results) -> None:
    fig = gantt(results, ["first_arrival"])
    when = results.milestone_summary().set_index("milestone").loc["first_arrival", "p50_date"]
    (note,) = _by_gid(fig, "first_arrival_p50_date")
    assert note.get_text().startswith(f"{when.day} {when:%b}")


def test_a_p90_after_the_horizon_ends_in_an_arrow_at_the_horizon(results) -> None:
    milestone = "lead_100pct"
    assert np.isnan(censored_quantile(results.milestone_days(milestone), 0.9))
    fig = gantt(results, ["first_arrival", milestone])
    (bar,) = _by_gid(fig, f"{milestone}_range")
    (arrow,) = _by_gid(fig, f"{milestone}_after")
    assert bar.get_xdata()[1] == arrow.get_xdata()[0] == _horizon(results)
    assert arrow.get_marker() == ">"
    assert fig.axes[0].get_xlim()[1] > _horizon(results)
    fig.savefig(io.BytesIO(), format="png")


def test_a_milestone_with_its_p10_after_the_horizon_has_a_note_and_no_bar(stalled) -> None:
    fig = gantt(stalled, ["authority_named", "first_arrival"])
    (note,) = _by_gid(fig, "first_arrival_not_reached")
    assert note.get_text() == "not reached in most runs"
    assert note.get_position()[1] == 1
    assert _by_gid(fig, "first_arrival_range") == _by_gid(fig, "first_arrival_p50") == []
    assert _by_gid(fig, "authority_named_range")
    (share,) = _by_gid(fig, "first_arrival_share")
    assert share.get_text() == "0%"
    fig.savefig(io.BytesIO(), format="png")


def test_gantt_refuses_unknown_milestones(results) -> None:
    with pytest.raises(KeyError, match="unknown milestone"):
        gantt(results, ["peace"])


def _segments(fig: Figure, milestone: str) -> dict[str, object]:
    prefix = f"{milestone}:"
    return {
        patch.get_gid().removeprefix(prefix): patch
        for patch in fig.axes[0].patches
        if (patch.get_gid() or "").startswith(prefix)
    }


def test_binding_chart_draws_by_default_every_gated_milestone_enough_runs_reach(results) -> None:
    summary = results.milestone_summary().set_index("milestone")["share_reached"]
    expected = [m for m in GATED_MILESTONES if summary[m] >= MIN_SHARE_SHOWN]
    assert len(expected) >= 5
    assert _rows(binding_chart(results)) == [MILESTONES[m] for m in expected]


def test_each_binding_bar_splits_100_percent_as_binding_shares(results) -> None:
    fig = binding_chart(results)
    shares = results.binding_shares()
    summary = results.milestone_summary().set_index("milestone")["share_reached"]
    for row, milestone in enumerate(m for m in GATED_MILESTONES if summary[m] >= MIN_SHARE_SHOWN):
        segments = _segments(fig, milestone)
        expected = shares[shares["milestone"] == milestone].set_index("binding")["share"]
        assert set(segments) == set(expected.index)
        widths = {name: patch.get_width() for name, patch in segments.items()}
        assert sum(widths.values()) == pytest.approx(1.0)
        for name, width in widths.items():
            assert width == pytest.approx(expected[name])
        # Side by side, without gaps, in the row's place.
        ordered = sorted(segments.values(), key=lambda patch: patch.get_x())
        assert ordered[0].get_x() == 0.0
        for left, right in zip(ordered, ordered[1:], strict=False):
            assert right.get_x() == pytest.approx(left.get_x() + left.get_width())
        assert {patch.get_y() + patch.get_height() / 2 for patch in ordered} == {row}


def test_a_constraint_has_one_look_in_every_bar_and_no_two_share_one(results) -> None:
    fig = binding_chart(results)
    looks: dict[str, set] = {}
    order: dict[str, list[str]] = {}
    for patch in fig.axes[0].patches:
        milestone, constraint = patch.get_gid().split(":")
        looks.setdefault(constraint, set()).add((patch.get_facecolor(), patch.get_hatch()))
        order.setdefault(milestone, []).append(constraint)
    assert len(looks) >= 6
    assert all(len(look) == 1 for look in looks.values())
    assert len({next(iter(look)) for look in looks.values()}) == len(looks)
    # Segments are stacked in one order in every bar.
    stacking = list(constraint_styles(results, looks))
    for constraints in order.values():
        assert constraints == [c for c in stacking if c in constraints]
    legend = [text.get_text() for text in fig.legends[0].get_texts()]
    assert len(legend) == len(looks)
    assert "gate: legal clearance" in legend


def test_a_constraint_s_style_does_not_depend_on_which_others_are_present(results) -> None:
    everything = constraint_styles(results, ["administration", "base", "partner readiness", "legal_clearance", "odd"])
    for name, style in everything.items():
        assert constraint_styles(results, [name]) == {name: style}
    assert everything["administration"][1] == ""
    assert everything["legal_clearance"][1] and everything["odd"][1]


def test_binding_percentages_are_written_inside_segments_wide_enough(results) -> None:
    fig = binding_chart(results)
    fig.draw_without_rendering()
    labels = [text for text in fig.axes[0].texts if (text.get_gid() or "").endswith(":label")]
    assert labels
    segments = {patch.get_gid(): patch for patch in fig.axes[0].patches}
    for label in labels:
        segment = segments[label.get_gid().removesuffix(":label")]
        assert label.get_text() == f"{segment.get_width():.0%}"
        text, box = label.get_window_extent(), segment.get_window_extent()
        assert box.x0 <= text.x0 and text.x1 <= box.x1


def test_binding_chart_refuses_unknown_and_ungated_milestones(results) -> None:
    with pytest.raises(KeyError, match="unknown milestone"):
        binding_chart(results, ["peace"])
    with pytest.raises(ValueError, match="authority_named"):
        binding_chart(results, ["authority_named"])
    assert _rows(binding_chart(results, ["first_arrival"])) == [MILESTONES["first_arrival"]]


def test_binding_chart_without_gated_milestones_says_so(stalled) -> None:
    fig = binding_chart(stalled)
    assert _rows(fig) == []
    assert any("No gated milestone" in text.get_text() for text in fig.axes[0].texts)
    fig.savefig(io.BytesIO(), format="png")
