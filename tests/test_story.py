"""The story of one replication: its text lists the trace in order, its timeline draws exactly the record."""

from __future__ import annotations

import datetime as dt
import functools
import io
import math
import re
from pathlib import Path

import numpy as np
import pytest
from matplotlib.dates import date2num
from matplotlib.figure import Figure

from sim import MILESTONES, Record, Scenario, load_scenario, simulate
from sim.analysis.story import format_story
from sim.output.timeline import timeline

ROOT = Path(__file__).resolve().parents[1]
BASELINE = ROOT / "scenarios" / "baseline.toml"
DETERMINISTIC = Path(__file__).resolve().parent / "data" / "deterministic.toml"
# "* 2024-05-07  day   54  milestone       First contingent lands - binding: ..."
EVENT_LINE = re.compile(
    r"^(?P<mark>[ *]) (?P<date>\d{4}-\d{2}-\d{2})  day +(?P<day>\d+)  (?P<subsystem>\S+) +(?P<text>.*)$"
)
# "    First contingent lands    2024-05-07 (day 54)  binding: ..." or "...  not reached by 2026-03-14"
SUMMARY_LINE = re.compile(
    r"^    (?P<label>.+?) {2,}(?P<when>\d{4}-\d{2}-\d{2} \(day \d+\)|not reached by \d{4}-\d{2}-\d{2})"
)


@functools.cache
def _traced(path: Path, replication: int) -> tuple[Record, Scenario]:
    scenario = load_scenario(path)
    return simulate(scenario, seed=1, replication=replication, trace=True), scenario


@pytest.fixture(params=[0, 2, 3], ids=lambda k: f"baseline-rep{k}")
def traced(request) -> tuple[Record, Scenario]:
    """Traced baseline replications: holds, gates, arrears, partners and a base, in varying mixes."""
    return _traced(BASELINE, request.param)


@pytest.fixture
def fixed() -> tuple[Record, Scenario]:
    """The fixed scenario: every duration fixed, no shocks, no base, no partners."""
    return _traced(DETERMINISTIC, 0)


@pytest.fixture(params=[(BASELINE, 0), (BASELINE, 2), (BASELINE, 3), (DETERMINISTIC, 0)],
                ids=["baseline-rep0", "baseline-rep2", "baseline-rep3", "deterministic"])
def case(request) -> tuple[Record, Scenario]:
    return _traced(*request.param)


def _events(story: str) -> list[re.Match]:
    return [m for line in story.splitlines() if (m := EVENT_LINE.match(line))]


def _summary(story: str) -> dict[str, str]:
    part = story[story.index("\nSummary at the horizon"):]
    return {m["label"]: m["when"] for line in part.splitlines() if (m := SUMMARY_LINE.match(line))}


def _origin(scenario: Scenario) -> float:
    return date2num(dt.datetime.combine(scenario.start_date, dt.time()))


# --- the story as text -------------------------------------------------------------------------


def test_an_untraced_record_has_no_story() -> None:
    baseline = load_scenario(BASELINE)
    record = simulate(baseline, seed=1)
    with pytest.raises(ValueError, match="trace=True"):
        format_story(record, baseline)
    with pytest.raises(ValueError, match="trace=True"):
        timeline(record, baseline)


def test_the_header_names_scenario_seed_and_replication(traced) -> None:
    record, scenario = traced
    first = format_story(record, scenario).splitlines()[0]
    assert first == f"Story of scenario 'baseline', seed 1, replication {record.replication}"


def test_events_are_listed_in_day_order_with_their_calendar_dates(case) -> None:
    record, scenario = case
    events = _events(format_story(record, scenario))
    days = [int(m["day"]) for m in events]
    assert days == sorted(days)
    for m in events:
        assert m["date"] == scenario.date_of(int(m["day"])).isoformat()


def test_every_trace_event_is_told_and_attrition_of_one_instant_shares_a_line(case) -> None:
    record, scenario = case
    lines = [m.group(0) for m in _events(format_story(record, scenario))]
    losses = [e for e in record.trace if e.event.endswith(" loses officers")]
    others = [e for e in record.trace if not e.event.endswith(" loses officers")]
    assert len(lines) == len(others) + len({e.day for e in losses})
    for event in others:
        date = scenario.date_of(event.day).isoformat()
        assert any(line[2:12] == date and event.event in line for line in lines), event
    for event in losses:
        contingent = event.event.removesuffix(" loses officers")
        date = scenario.date_of(event.day).isoformat()
        told = [line for line in lines if line[2:12] == date and "lost this interval" in line]
        assert any(f"from {contingent})" in line or f"from {contingent}," in line for line in told), event


def test_every_milestone_reached_stands_out_with_its_date_and_binding(case) -> None:
    record, scenario = case
    starred = [m for m in _events(format_story(record, scenario)) if m["mark"] == "*"]
    assert len(starred) == len(record.milestones)
    for name, day in record.milestones.items():
        (line,) = [m for m in starred if m["text"].startswith(MILESTONES[name])]
        assert line["date"] == scenario.date_of(day).isoformat()
        assert int(line["day"]) == int(day)
        binding = record.binding.get(name)
        assert (f"binding: {binding} (it last waited for " in line["text"]) == (binding is not None)


def test_the_summary_gives_each_milestone_s_date_or_says_it_was_not_reached(case) -> None:
    record, scenario = case
    summary = _summary(format_story(record, scenario))
    assert set(summary) == set(MILESTONES.values())
    horizon = scenario.date_of(scenario.horizon_days).isoformat()
    for name, label in MILESTONES.items():
        day = record.milestones.get(name, math.nan)
        expected = f"not reached by {horizon}" if math.isnan(day) else f"{scenario.date_of(day)} (day {int(day)})"
        assert summary[label] == expected


def test_the_summary_gives_the_key_totals(traced) -> None:
    record, scenario = traced
    story = format_story(record, scenario)
    t = record.totals
    assert f"Peak in theatre: {t['peak_in_theatre']:,.0f} officers" in story
    assert f"Holds: {t['holds']:.0f}, {t['hold_days']:.0f} days on hold" in story
    assert f"Airport closed: {t['airport_closed_days']:.0f} days" in story
    assert f"Arrears: {t['arrears_days']:.0f} days" in story
    assert f"Rotations: {t['rotations']:.0f} contingents relieved" in story
    losses = t["injuries"] + t["casualties"] + t["resignations"]
    assert f"Losses: {losses:,.0f} officers ({t['injuries']:.0f} injured" in story


def test_fixed_scenario_story_follows_from_its_durations(fixed) -> None:
    """Authority on day 20, viable 35, recon out 45 to 53, five contingents trained by day 30, one flight
    every 4 days from day 53, each landing a day later."""
    record, scenario = fixed
    story = format_story(record, scenario)
    milestones = [(m["date"], int(m["day"]), m["text"]) for m in _events(story) if m["mark"] == "*"]
    admin = " - binding: administration (it last waited for a viable administration)"
    recon = " - binding: reconnaissance (it last waited for the reconnaissance to report)"
    airlift = " - binding: airlift (it last waited for an aircraft)"
    assert milestones == [
        ("2024-03-14", 0, "First base stage ready (no base modelled: housing never binds)"),
        ("2024-04-03", 20, "Transitional authority named"),
        ("2024-04-18", 35, "Viable administration installed"),
        ("2024-04-28", 45, "Reconnaissance leaves" + admin),
        ("2024-05-06", 53, "Reconnaissance done" + admin),
        ("2024-05-06", 53, "First contingent departs" + recon),
        ("2024-05-07", 54, "First contingent lands" + recon),
        ("2024-05-11", 58, "25% of the lead pledge delivered" + airlift),
        ("2024-05-15", 62, "50% of the lead pledge delivered" + airlift),
        ("2024-05-19", 66, "75% of the lead pledge delivered" + airlift),
        ("2024-05-23", 70, "All of the lead pledge delivered" + airlift),
    ]
    flights = [int(m["day"]) for m in _events(story) if m["text"].startswith("flight leaves with")]
    assert flights == [53, 57, 61, 65, 69]
    # Why each contingent waited: the first for the recon, the next ones for the one ahead, then the aircraft.
    assert "Kenya #1 funded (balance $999999.8M) - waited 23 d since trained, until: team back and reported" in story
    assert ("Kenya #2 funded (balance $999999.6M) - waited 23 d since trained, "
            "until its turn came, once Kenya #1 had left") in story
    assert "flight leaves with Kenya #2 (200 officers) - waited 4 d after funding, for the aircraft" in story
    assert "Peak in theatre: 1,000 officers (Kenya 1,000)" in story
    assert "Still waiting at the horizon" not in story


# --- the timeline --------------------------------------------------------------------------------


def test_timeline_has_two_panels_on_one_date_axis(case) -> None:
    record, scenario = case
    fig = timeline(record, scenario)
    assert isinstance(fig, Figure)
    assert fig.canvas.manager is None  # built without pyplot
    gantt, strength = fig.axes
    assert gantt.get_shared_x_axes().joined(gantt, strength)
    origin = _origin(scenario)
    assert strength.get_xlim() == pytest.approx((origin, origin + scenario.horizon_days))
    assert strength.get_ylabel() == "Officers in theatre"


def test_gantt_has_one_row_per_lane_and_bars_spanning_the_intervals(case) -> None:
    record, scenario = case
    gantt = timeline(record, scenario).axes[0]
    lanes = [label.get_text() for label in gantt.get_yticklabels()]
    assert sorted(lanes) == sorted({lane for lane, *_ in record.intervals})
    origin = _origin(scenario)
    bars = [p for p in gantt.patches if p.get_gid() in lanes]
    drawn = sorted((p.get_gid(), p.get_x(), p.get_x() + p.get_width()) for p in bars)
    expected = sorted((lane, origin + start, origin + end) for lane, start, end, _ in record.intervals)
    assert [d[0] for d in drawn] == [e[0] for e in expected]
    np.testing.assert_allclose([d[1:] for d in drawn], [e[1:] for e in expected], rtol=0, atol=1e-6)
    for bar in bars:
        row = lanes.index(bar.get_gid())
        assert row - 0.5 < bar.get_y() and bar.get_y() + bar.get_height() < row + 0.5


def test_bar_labels_that_show_fit_inside_their_bars(traced) -> None:
    record, scenario = traced
    fig = timeline(record, scenario)
    fig.draw_without_rendering()
    gantt = fig.axes[0]
    bars = [p.get_window_extent() for p in gantt.patches if p.get_gid()]
    shown = [t for t in gantt.texts if t.get_visible() and t.get_text() and not t.get_gid()]
    assert shown
    for text in shown:
        box = text.get_window_extent()
        assert any(bar.x0 <= box.x0 and box.x1 <= bar.x1 for bar in bars), text.get_text()


def test_bottom_panel_draws_the_record_s_series_to_the_horizon(case) -> None:
    record, scenario = case
    strength = timeline(record, scenario).axes[1]
    origin = _origin(scenario)
    lines = {ln.get_gid(): ln for ln in strength.get_lines() if ln.get_gid() and ":" not in ln.get_gid()}
    sent = [name for name, (_, values) in record.series.items() if name.startswith("in_theatre.") and values.any()]
    expected = {"in_theatre", *sent} | ({"base_capacity"} if not scenario.unlimited_base else set())
    assert set(lines) == expected
    for name in expected:
        days, values = record.series[name]
        x, y = np.asarray(lines[name].get_xdata()), np.asarray(lines[name].get_ydata())
        assert lines[name].get_drawstyle() == "steps-post"
        np.testing.assert_allclose(x[:-1], origin + days, rtol=0, atol=1e-6)
        np.testing.assert_array_equal(y[:-1], values)
        assert (x[-1], y[-1]) == (pytest.approx(origin + scenario.horizon_days), values[-1])
    assert lines["in_theatre"].get_linewidth() > max(lines[n].get_linewidth() for n in sent)


def test_milestones_are_marked_in_both_panels_with_labels_that_do_not_overlap(case) -> None:
    record, scenario = case
    fig = timeline(record, scenario)
    fig.draw_without_rendering()
    gantt, strength = fig.axes
    origin = _origin(scenario)
    for name in ("first_arrival", "lead_100pct"):
        if name not in record.milestones:
            continue
        for ax in (gantt, strength):
            (line,) = [ln for ln in ax.get_lines() if ln.get_gid() == f"milestone:{name}"]
            assert line.get_xdata()[0] == pytest.approx(origin + record.milestones[name])
        (note,) = [t for t in gantt.texts if t.get_gid() == name]
        date = scenario.date_of(record.milestones[name])
        assert f"{date.day} {date:%b}" in note.get_text()
    notes = [t for t in gantt.texts if t.get_gid() in MILESTONES]
    assert notes
    boxes = [note.get_window_extent() for note in notes]
    for i, box in enumerate(boxes):
        assert not any(box.overlaps(other) for other in boxes[i + 1 :])


def test_timeline_renders_to_png(traced) -> None:
    record, scenario = traced
    buffer = io.BytesIO()
    timeline(record, scenario).savefig(buffer, format="png", dpi=80)
    assert buffer.getvalue().startswith(b"\x89PNG\r\n\x1a\n")


def test_trace_events_carry_their_meaning_as_data(case: tuple[Record, Scenario]) -> None:
    """Every event names its kind; contingent steps, waits and flights name their contingent and what they wait for,
    so the story never parses its own words."""
    record, _ = case
    frame = record.trace_frame()
    assert (frame["kind"] != "").all(), frame.loc[frame["kind"] == "", "event"].tolist()
    steps = frame[frame["kind"].isin(["trained", "ready", "funded", "flight_leaves", "flight_lands", "waits"])]
    assert len(steps) and steps["contingent"].notna().all()
    assert (steps["contingent"].str.fullmatch(r".+ #\d+")).all()
    waits = frame[frame["kind"] == "waits"]
    assert waits["condition"].notna().all()
    assert (waits["event"] == waits["contingent"] + " waits").all()
    milestones = frame[frame["subsystem"] == "milestone"]
    assert set(milestones["name"]) <= set(MILESTONES)
    assert (milestones["event"] == milestones["name"].map(MILESTONES)).all()
    for row in milestones.itertuples():
        assert record.milestones[row.name] == row.day


def test_the_story_spells_out_the_critical_path_of_the_first_landing(fixed: tuple[Record, Scenario]) -> None:
    record, scenario = fixed
    story = format_story(record, scenario)
    part = story[story.index("Where the days went"):]
    assert "First contingent lands, day 54:" in part
    assert "      transition: 2024-03-14 to 2024-04-03, 20 d" in part
    assert "      administration: 2024-04-03 to 2024-04-18, 15 d" in part
    assert "      flight: 2024-05-06 to 2024-05-07, 1 d" in part


def test_the_timeline_draws_the_first_landing_s_critical_path_above_the_lanes(case) -> None:
    record, scenario = case
    gantt = timeline(record, scenario).axes[0]
    origin = _origin(scenario)
    bars = [p for p in gantt.patches if (p.get_gid() or "").startswith("critical:")]
    drawn = [(p.get_gid().removeprefix("critical:"), p.get_x() - origin, p.get_x() + p.get_width() - origin)
             for p in bars]
    expected = list(record.critical_paths.get("first_arrival", ()))
    assert [d[0] for d in drawn] == [e[0] for e in expected]
    np.testing.assert_allclose([d[1:] for d in drawn], [e[1:] for e in expected], atol=1e-6)
    assert all(p.get_y() + p.get_height() < -0.5 for p in bars), "the band sits above the first lane"
