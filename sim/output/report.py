"""One self-contained HTML report of stored runs: key findings in plain sentences, tables and figures.

Every number comes from the tables the rest of the package prints (:meth:`Results.milestone_summary`,
:meth:`Results.totals_summary`, :meth:`Results.binding_shares`) and each run's ``manifest.json``. The page
has inline CSS, figures embedded as PNG data URIs and no scripts, and its Content-Security-Policy forbids
any network fetch, so it reads the same offline, attached to an e-mail or years later. Given observations,
each run also gets a back-test section (:mod:`sim.analysis.backtest`: scores, calibration, forecast against
actual). The sentences and headings are written here; the page's structure and style sheet are Jinja2
templates in ``templates/`` (package data, autoescaped). The CLI's ``report`` command
(:mod:`sim.commands.report`) is the front end.
"""

from __future__ import annotations

import base64
import datetime as dt
import inspect
import io
import json
import math
import re
import struct
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import jinja2
import numpy as np
import pandas as pd

from sim.analysis.compare import config_diff, paired_differences
from sim.batch.results import Results, wilson_interval
from sim.batch.safeio import PathError, write_text
from sim.output import text
from sim.scenario.milestones import MILESTONES
from sim.scenario.observations import Observations

#: Milestones whose share by each deadline the deadline table shows, with the column heading.
DEADLINE_MILESTONES: dict[str, str] = {
    "first_arrival": "First contingent landed",
    "lead_50pct": "Half the lead pledge delivered",
    "lead_100pct": "All the lead pledge delivered",
    "mission_50pct": "Half the planned mission strength",
}
#: What each binding constraint means, as a reader would say it ("... held it back last").
CONSTRAINTS: dict[str, str] = {
    "administration": "waiting for a viable administration",
    "reconnaissance": "the reconnaissance",
    "recon_done": "the reconnaissance's findings",
    "hold": "a hold after a political setback",
    "mandate": "the mandate",
    "funding": "money in the trust fund",
    "base": "room at the base",
    "airlift": "airlift capacity",
    "airport": "the airport being closed",
    "training": "training",
    "lead_arrival": "waiting for the lead contributor to land",
    "partner readiness": "partners getting ready",
}
#: Captions of the standard figures (:data:`sim.output.plots.FIGURES`); ``{lead}`` is the lead contributor.
CAPTIONS: dict[str, str] = {
    "fan_in_theatre.png": "Officers in theatre, all contributors: the median run, and the band holding the "
    "middle 50% and 80% of runs on each day, against {lead}'s pledge, the planned mission strength and the "
    "base's capacity.",
    "milestones_scurve.png": "The share of runs that had reached each milestone by each date, with the P50 and "
    "P80 dates marked. A curve that levels off below 100% belongs to a milestone that some runs never reach "
    "within the horizon.",
    "fund_balance.png": "The trust fund's balance, in US$ millions: the median run and the bands holding the "
    "middle 50% and 80% of runs on each day. A median at zero means that more than half the runs have an empty "
    "fund on that day.",
    "in_theatre_by_contributor.png": "Median officers in theatre for each contributor, and the median of the "
    "total (which is not the sum of the contributors' medians).",
    "where_the_days_went.png": "Where the days went: each milestone's mean days, split by cause along its critical "
    "path, over the runs that reach it; the black tick is its P50 day over all runs.",
}
#: Resolution of the embedded figures; they are displayed at 100 px per inch, so this is a 1.5x image.
FIGURE_DPI = 150
_DISPLAY_DPI = 100
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
#: Constraints named one by one in a finding; the rest are summed as "other constraints".
_NAMED_SHARE = 0.05
_NAMED_MAX = 4
_VERSIONS_SHOWN = ("deploysim", "python", "simpy", "numpy", "pandas", "matplotlib")


class ReportError(ValueError):
    """A report that cannot be written as asked: a deadline outside a run's horizon, an existing file."""


@dataclass(frozen=True)
class Deadline:
    """A named calendar date by which the report gives each key milestone's chance of being reached."""

    name: str
    date: dt.date


@dataclass(frozen=True)
class Backtest:
    """A run scored against observations, for the report's back-test section.

    Attributes:
        results: The forecast with its per-replication series (:func:`sim.analysis.backtest.forecast`).
        table: Its scored observations (:func:`sim.analysis.backtest.score`).
        observations: The observations scored against.
        source: Where they were read from (a file name), as the section names it.
    """

    results: Results
    table: pd.DataFrame
    observations: Observations
    source: str


@dataclass(frozen=True)
class ReportFigure:
    """An image for the report: its file name, PNG bytes, caption and the scale it is shown at."""

    name: str
    png: bytes
    caption: str
    display_scale: float = 1.0


# ---------------------------------------------------------------------------------------------------------
# Numbers and how they read


def format_date(value: dt.date | pd.Timestamp | None) -> str:
    """A date as a person writes it: ``13 August 2024`` (locale-independent); ``after the horizon`` for None/NaT."""
    if value is None or pd.isna(value):
        return "after the horizon"
    return text.format_date(value)


def format_percent(share: float) -> str:
    """A share as a whole percentage that never rounds a shortfall up to 100% or a few runs down to 0%.

    ``0.82 -> '82%'``, ``0.996 -> 'over 99%'``, ``0.003 -> 'under 1%'``, ``1.0 -> '100%'``.
    """
    if share <= 0.0:
        return "0%"
    if share >= 1.0:
        return "100%"
    if share < 0.01:
        return "under 1%"
    if share > 0.99:
        return "over 99%"
    return f"{_whole_percent(share)}%"


def _whole_percent(share: float) -> int:
    # Half up, not Python's half to even, so 95.5% reads 96% as a reader rounding by hand expects.
    return math.floor(share * 100 + 0.5)


def _complement_percent(share: float) -> str:
    """The share of runs not reaching something, worded so that it and :func:`format_percent` add to 100%."""
    if 0.01 <= share <= 0.99:
        return f"{100 - _whole_percent(share)}%"
    return format_percent(1.0 - share)


def format_share(share: float) -> str:
    """A share for tables, to one decimal, with the same guards as :func:`format_percent`: ``82.4%``."""
    if share <= 0.0 or share >= 1.0:
        return f"{share:.0%}"
    return f"{min(max(share, 0.001), 0.999):.1%}"


def share_by(results: Results, milestone: str, date: dt.date) -> tuple[float, float, float]:
    """Share of runs that reached ``milestone`` on or before ``date``, with its 95% Wilson interval.

    A milestone reached during a day counts as reached on that day's date, as in every table.

    Returns:
        ``(share, low, high)``.
    """
    days = results.milestone_days(milestone)
    deadline_day = results.scenario.day_of(date)
    reached = int(np.sum(np.floor(np.nan_to_num(days, nan=np.inf)) <= deadline_day))
    low, high = wilson_interval(reached, days.size)
    return reached / days.size, low, high


Deadlines = Mapping[str, dt.date] | Sequence[Deadline] | None


def as_deadlines(deadlines: Deadlines) -> list[Deadline]:
    """Deadlines given as ``{name: date}`` or as :class:`Deadline` objects, as a list.

    An underscore in a name given as a mapping key reads as a space (``mandate_end`` -> "mandate end"),
    so names written for ``--deadline`` in :mod:`sim.analysis.compare`'s spelling read well in a sentence.
    """
    if deadlines is None:
        return []
    if isinstance(deadlines, Mapping):
        return [Deadline(name.replace("_", " "), date) for name, date in deadlines.items()]
    return list(deadlines)


def run_deadlines(results: Results, deadlines: Deadlines = None) -> list[Deadline]:
    """The deadlines a run's report uses: those given; then those the run was stored with (``deploysim run
    --deadline`` writes them to ``deadlines.csv``); then the mandate's first expiry if the scenario has one
    within the horizon. A deadline on the date of an earlier one is left out.

    Raises:
        ReportError: If a given deadline falls before the start date or after the horizon.
    """
    scenario = results.scenario
    end = scenario.date_of(scenario.horizon_days)
    chosen = as_deadlines(deadlines)
    for deadline in as_deadlines(_stored_deadlines(results)):
        if all(d.date != deadline.date for d in chosen):
            chosen.append(deadline)
    for deadline in chosen:
        if not scenario.start_date <= deadline.date <= end:
            raise ReportError(
                f"deadline '{deadline.name}' ({deadline.date}) is outside run {_run_name(results)}, which covers "
                f"{scenario.start_date} to {end}"
            )
    mandate = scenario.mandate
    if mandate is not None and scenario.start_date <= mandate.expires_on <= end and all(
        d.date != mandate.expires_on for d in chosen
    ):
        chosen.append(Deadline("the mandate's first expiry", mandate.expires_on))
    return chosen


def _stored_deadlines(results: Results) -> dict[str, dt.date]:
    """The named deadlines in the run folder's ``deadlines.csv``, if it has one."""
    path = Path(results.path) / "deadlines.csv" if results.path is not None else None
    if path is None or not path.is_file():
        return {}
    table = pd.read_csv(path)
    if not {"deadline", "deadline_date"} <= set(table.columns):
        return {}
    pairs = table[["deadline", "deadline_date"]].drop_duplicates()
    return {str(name): pd.Timestamp(date).date() for name, date in pairs.itertuples(index=False)}


# ---------------------------------------------------------------------------------------------------------
# Key findings


def key_findings(results: Results, deadlines: Deadlines = None) -> list[str]:
    """Plain sentences drawn from a run's numbers: when the lead lands and delivers, what held it back, money,
    the mandate, each deadline and the peak strength. Each number is one the report's tables show too.

    Args:
        results: The run.
        deadlines: Named dates, as ``{name: date}`` or :class:`Deadline` objects (see :func:`run_deadlines`).

    Example:
        >>> key_findings(results, {"one year on": dt.date(2025, 3, 14)})[0]  # doctest: +SKIP
        "In half the runs Kenya's first contingent lands by 12 August 2024; in 80% of runs by ..."

    Raises:
        ReportError: As :func:`run_deadlines`.
    """
    scenario = results.scenario
    lead = scenario.force.lead_contributor
    summary = results.milestone_summary().set_index("milestone")
    totals = results.totals_summary().set_index("total")
    # The horizon's date is given once; later sentences refer back to it.
    horizon = f"within the simulated {_span(scenario.horizon_days)} (to {format_date(_horizon_date(results))})"
    within = f"within the simulated {_span(scenario.horizon_days)}"
    findings = [
        _when_sentence(summary.loc["first_arrival"], f"{_possessive(lead)} first contingent lands", "it lands",
                       "it has not landed by then", horizon),
        _when_sentence(
            summary.loc["lead_100pct"],
            f"all of {_possessive(lead)} pledge ({scenario.force.pledged_officers:,} officers) is delivered",
            "it is delivered", "it is not", within,
        ),
    ]
    shares = results.binding_shares()
    for milestone, what in (("first_arrival", "the first landing"),
                            ("lead_100pct", f"delivery of all of {_possessive(lead)} pledge")):
        sentence = _binding_sentence(results, shares, milestone, what, summary.loc[milestone, "share_reached"])
        if sentence:
            findings.append(sentence)
    if results.has("delays"):
        for milestone, what in (("first_arrival", "the first landing"),
                                ("lead_100pct", f"delivery of all of {_possessive(lead)} pledge")):
            sentence = _delay_sentence(results, milestone, what)
            if sentence:
                findings.append(sentence)
    findings.extend(_money_sentences(results, totals))
    if scenario.mandate is not None:
        lapsed = float(summary.loc["mandate_lapsed", "share_reached"])
        findings.append(
            f"The mandate lapses without renewal {within} in {format_percent(lapsed)} of runs "
            f"(each expiry renewed with probability {scenario.mandate.renewal_probability:.0%})."
        )
    for deadline in run_deadlines(results, deadlines):
        landed = share_by(results, "first_arrival", deadline.date)
        delivered = share_by(results, "lead_100pct", deadline.date)
        findings.append(
            f"By {deadline.name} ({format_date(deadline.date)}) {_possessive(lead)} first contingent has landed in "
            f"{format_percent(landed[0])} of runs ({_ci_text(landed)}), and all of its pledge has been delivered in "
            f"{format_percent(delivered[0])} ({_ci_text(delivered)})."
        )
    if "peak_in_theatre" in totals.index:
        peak = totals.loc["peak_in_theatre"]
        half = summary.loc["mission_50pct", "share_reached"]
        findings.append(
            f"The most officers in theatre at once, all contributors together, averages "
            f"{_count(peak['mean'])} over the runs (95% CI {_count(peak['ci95_low'])}–{_count(peak['ci95_high'])}); "
            f"half the planned mission strength ({scenario.mission_size_officers // 2:,} of "
            f"{scenario.mission_size_officers:,} officers) is reached {within} in {format_percent(half)} of runs."
        )
    return findings


def _when_sentence(row: pd.Series, subject: str, it_does: str, it_does_not: str, horizon: str) -> str:
    """When a milestone is reached: P50, P80 and P90 dates as far as the share reaching it allows."""
    share = float(row["share_reached"])
    p50, p80, p90 = (row[f"p{q}_date"] for q in (50, 80, 90))
    if share == 0.0:
        return f"{_capital(subject)} in no run {horizon}."
    if pd.isna(p50):
        return f"{_capital(subject)} {horizon} in only {format_percent(share)} of runs: too few for a median date."
    sentence = f"In half the runs {subject} by {format_date(p50)}"
    if pd.isna(p80):
        return f"{sentence}; {it_does} {horizon} in only {format_percent(share)} of runs, too few for an 80% date."
    sentence += f"; in 80% of runs by {format_date(p80)}"
    sentence += f", and in 90% by {format_date(p90)}." if not pd.isna(p90) else "."
    if share == 1.0:
        return f"{sentence} {_capital(it_does)} {horizon} in every run."
    return (f"{sentence} {_capital(it_does)} {horizon} in {format_percent(share)} of runs; in "
            f"{_complement_percent(share)} {it_does_not}.")


def _binding_sentence(results: Results, shares: pd.DataFrame, milestone: str, what: str, reached: float) -> str:
    """What held a milestone back last, the main constraints by name, money always, the rest summed."""
    rows = shares[shares["milestone"] == milestone].sort_values("share", ascending=False, kind="stable")
    if rows.empty:
        return ""
    by_constraint = dict(zip(rows["binding"], rows["share"].astype(float), strict=True))
    named = [k for k, v in by_constraint.items() if v >= _NAMED_SHARE][:_NAMED_MAX] or [next(iter(by_constraint))]
    parts = [f"{_constraint(results, k)} in {format_percent(by_constraint[k])}" for k in named]
    parts[0] += " of runs" if reached >= 1.0 else " of them"
    where = "" if reached >= 1.0 else f", in the {format_percent(reached)} of runs where it happened"
    sentence = f"What held {what} back last{where}: {_join(parts)}"
    if "funding" not in named:
        # Money is the question donors ask first, so it is always answered, even when small or nil.
        money = by_constraint.get("funding", 0.0)
        sentence += f"; {_constraint(results, 'funding')} in {format_percent(money)}" if money else (
            f"; never {_constraint(results, 'funding')}")
        named.append("funding")
    rest = 1.0 - sum(by_constraint.get(k, 0.0) for k in named)
    if rest > 1e-9:
        sentence += f"; other constraints together in {format_percent(rest)}"
    return sentence + "."


def _money_sentences(results: Results, totals: pd.DataFrame) -> list[str]:
    reps = results.replications
    scenario = results.scenario
    sentences: list[str] = []
    if "received_usd" in totals.index and "pledged_usd" in totals.index:
        received, pledged = totals.loc["received_usd"], totals.loc["pledged_usd"]
        of = (f"the {_usd(pledged['mean'])} pledged" if pledged["p10"] == pledged["p90"]
              else f"a mean of {_usd(pledged['mean'])} pledged")
        sentences.append(
            f"The trust fund receives a mean of {_usd(received['mean'])} by the horizon (95% CI "
            f"{_usd_range(received['ci95_low'], received['ci95_high'])}), of {of}."
        )
    if "arrears_days" in reps:
        arrears = reps["arrears_days"].to_numpy(dtype=float)
        ever = arrears > 0
        sentence = f"Running costs go unpaid for a time in {format_percent(float(ever.mean()))} of runs"
        if ever.any():
            sentence += f" (for a median of {np.median(arrears[ever]):,.0f} days in those runs)"
        if "arrears_usd_at_horizon" in reps:
            unpaid = float((reps["arrears_usd_at_horizon"] > 0).mean())
            sentence += f", and some are still unpaid at the horizon in {format_percent(unpaid)}"
        sentences.append(sentence + ".")
    threshold = scenario.force.withdraw_after_arrears_days
    response = scenario.force.arrears_response
    graded = response is not None and response.withdrawal_hazard_per_year > 0
    lead = scenario.force.lead_contributor
    if threshold is not None or graded:
        withdrew = float(np.mean(~np.isnan(results.milestone_days("lead_withdrawal"))))
        rules = []
        if graded:
            assert response is not None
            rules.append(f"ever more likely the longer arrears last, from {response.hazard_starts_after_days:,.0f} "
                         "days on")
        if threshold is not None:
            rules.append(f"at the latest after {threshold:,.0f} days of arrears without a break")
        sentences.append(f"{lead} withdraws over unpaid running costs ({'; '.join(rules)}) "
                         f"in {format_percent(withdrew)} of runs.")
    if response is not None and response.pause_departures_after_days is not None and "arrears_pause_days" in reps:
        paused = reps["arrears_pause_days"].to_numpy(dtype=float)
        sentences.append(f"Unpaid costs pause new departures (after {response.pause_departures_after_days:,.0f} days "
                         f"of arrears) in {format_percent(float((paused > 0).mean()))} of runs.")
    return sentences


# ---------------------------------------------------------------------------------------------------------
# The page, as data for the templates in sim/output/templates/


@dataclass(frozen=True)
class Cell:
    """One table cell: its text, an optional note set under it (a confidence interval), a link or code."""

    text: str
    note: str | None = None
    href: str | None = None
    code: bool = False


@dataclass(frozen=True)
class Table:
    """A table for ``macros.html.j2``: columns from ``numeric_from`` (to ``numeric_to``) align right."""

    head: Sequence[str]
    rows: Sequence[Sequence[Cell]]
    numeric_from: int
    caption: str = ""
    css: str = ""
    row_ids: Sequence[str] | None = None
    numeric_to: int | None = None


@dataclass(frozen=True)
class Block:
    """A heading over one or more of: findings, an about list, a table, paragraphs (notes if ``note``), figures."""

    heading: str = ""
    findings: Sequence[str] = ()
    about: Sequence[tuple[str, str]] = ()
    table: Table | None = None
    paragraphs: Sequence[str] = ()
    note: bool = False
    figures: Sequence[FigureView] = ()


@dataclass(frozen=True)
class Section:
    """A ``<section>``: heading at ``level`` (none if empty), lede, then blocks headed one level below."""

    blocks: Sequence[Block]
    level: int = 2
    heading: str = ""
    lede: str = ""
    anchor: str = ""
    css: str = ""


@dataclass(frozen=True)
class FigureView:
    """An embedded figure as the page shows it: a data URI and its display size in CSS pixels."""

    stem: str
    src: str
    width: int
    height: int
    caption: str


_TEMPLATES = jinja2.Environment(
    loader=jinja2.PackageLoader("sim.output", "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    keep_trailing_newline=True,
)


def build_report(
    results_list: Sequence[Results],
    deadlines: Deadlines = None,
    title: str | None = None,
    backtests: Sequence[Backtest] = (),
) -> str:
    """The HTML of a report on one run, or on several with a comparison of each against the first.

    The page is rendered from the Jinja2 templates shipped in ``sim/output/templates/`` (autoescaped: every
    text is escaped where it is written); the sentences and headings are written here.

    Args:
        results_list: The runs, first the one the others are compared with. Runs loaded from the store
            (with ``path`` set) also show their manifest (versions, commit, command) and any figures
            already in their ``figures/`` folder besides the standard ones.
        deadlines: Named dates (e.g. ``{"the mandate's end": date(2024, 10, 2)}``, see :func:`as_deadlines`);
            for each the report gives the chance of each key milestone by then. The mandate's first expiry is
            always added when the scenario has one.
        title: The page's heading (default: from the scenario names).
        backtests: Runs scored against observations (see :func:`backtest_of`); each adds a section
            "Back-test against observations" after the runs' sections.

    Returns:
        A complete HTML document: inline CSS, images as data URIs, no scripts, no external addresses.

    Raises:
        ValueError: If ``results_list`` is empty.
        ReportError: If a deadline falls outside a run's start date and horizon.
    """
    runs = list(results_list)
    if not runs:
        raise ValueError("build_report needs at least one run")
    given = as_deadlines(deadlines)
    names = [_run_name(r) for r in runs]
    title = title or (f"Forecast report: {names[0]}" if len(runs) == 1 else "Forecast report: " + ", ".join(names))
    from sim import __version__

    if len(runs) > 1:
        sections = [_overview(runs, given)]
        sections.extend(_comparison(runs[0], other) for other in runs[1:])
        sections.extend(_run_section(r, given, level=2, anchor=f"run-{i + 1}") for i, r in enumerate(runs))
    else:
        sections = [_run_section(runs[0], given, level=1, anchor="run-1")]
    sections.extend(_backtest_section(b, named=len(runs) > 1, anchor=f"backtest-{i + 1}")
                    for i, b in enumerate(backtests))
    return _TEMPLATES.get_template("page.html.j2").render(
        title=title,
        version=__version__,
        lede=_description(runs[0]) if len(runs) == 1 else "",
        reading_note=_reading_note(runs),
        sections=sections,
        footer=f"Written by deploysim {__version__}. Every figure and number on this page is computed from the "
        "runs named above.",
    )


def write_report(
    results_dirs: Sequence[str | Path],
    out_path: str | Path | None = None,
    deadlines: Deadlines = None,
    force: bool = False,
    observed: str | Path | None = None,
) -> Path:
    """Load stored runs, build their report and write it atomically (temporary file, then rename).

    Args:
        results_dirs: Run folders; the first is the base of any comparison.
        out_path: The HTML file (default ``<first folder>/report.html``).
        deadlines: As :func:`build_report`.
        force: Replace an existing file.
        observed: An observations file (TOML, :mod:`sim.scenario.observations`): each run is scored against it
            (rerun with its seed to get its daily series, as ``deploysim backtest`` does) and gets a back-test
            section.

    Returns:
        The file written.

    Raises:
        sim.batch.store.StoreError: If a folder is missing or holds no complete run.
        sim.scenario.errors.ScenarioError: If the observations file is invalid.
        ReportError: If the file exists and ``force`` is false, the path is a folder, a deadline is outside
            a run, or a run cannot be scored against the observations (another start date, another model).
    """
    from sim.batch.store import load_results

    if not results_dirs:
        raise ReportError("name at least one results folder")
    out = Path(out_path) if out_path is not None else Path(results_dirs[0]) / "report.html"
    _check_writable(out, force)
    runs = [load_results(folder) for folder in results_dirs]
    backtests = [] if observed is None else backtest_of(results_dirs, observed)
    text = build_report(runs, deadlines, backtests=backtests)
    _check_writable(out, force)
    try:
        return write_text(out, text, force=force, is_ours=_is_report, kind="report")
    except PathError as exc:
        raise ReportError(str(exc)) from None


def backtest_of(results_dirs: Sequence[str | Path], observed: str | Path) -> list[Backtest]:
    """Each stored run scored against an observations file (each run is rerun with its seed for its series).

    Raises:
        sim.scenario.errors.ScenarioError: If the observations file is invalid.
        ReportError: If a run cannot be scored (see :class:`sim.analysis.backtest.BacktestError`).
    """
    from sim.analysis.backtest import BacktestError, forecast, score
    from sim.scenario.observations import load_observations

    observations = load_observations(observed)
    out = []
    for folder in results_dirs:
        try:
            results = forecast(folder)
            out.append(Backtest(results, score(results, observations), observations, Path(observed).name))
        except BacktestError as exc:
            raise ReportError(str(exc)) from None
    return out


def _backtest_section(backtest: Backtest, named: bool, anchor: str) -> Section:
    """The back-test section: the score table as ``deploysim backtest`` prints it, the calibration summary
    where there are enough observations for one, and the forecast-against-actual figure."""
    from sim.analysis.backtest import enough_for_calibration, summary
    from sim.output.backtest import SCORE_HEADINGS, SCORE_NOTE, backtest_figure, calibration_lines, score_cells
    from sim.output.provenance import png_metadata

    results, table, observations = backtest.results, backtest.table, backtest.observations
    rows = [[Cell(text) for text in cells] for cells in score_cells(table)]
    skipped = int((~table["scored"]).sum())
    caption = SCORE_NOTE + (f" {skipped} entries are not scored (events, money outside the trust-fund balance, "
                            "or dates outside the forecast)." if skipped else "")
    blocks = [Block("Scores", table=Table(list(SCORE_HEADINGS), rows, numeric_from=2, caption=caption,
                                          css="backtest"))]
    if enough_for_calibration(table):
        first, *rest = calibration_lines(table, summary(table))
        blocks.append(Block("Calibration", findings=[line.strip() for line in rest], paragraphs=[first], note=True))
    else:
        blocks.append(Block("Calibration", paragraphs=calibration_lines(table, summary(table)), note=True))
    figure = backtest_figure(results, table)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=FIGURE_DPI, metadata=png_metadata(results))
    caption = ("Forecast against actual: officers in theatre (the median run and the middle 50% and 80% of runs) "
               "with the observed strength, and the share of runs that had reached each observed milestone by "
               "each date, with the observed date marked on its curve.")
    view = _figure_view(ReportFigure("backtest.png", buffer.getvalue(), caption, _DISPLAY_DPI / FIGURE_DPI))
    blocks.append(Block("Forecast against actual", figures=[view]))
    lede = (f"The forecast '{results.name}' ({results.runs:,} runs, seed {results.seed}) scored against the "
            f"observations '{observations.name}' ({backtest.source}), complete up to "
            f"{format_date(observations.until)}: where each observation fell in the forecast (its PIT), its "
            "CRPS (lower is better, in the observation's unit), the Brier score of 'reached by the date' and "
            "whether it fell inside the forecast's central 50% and 90% intervals.")
    heading = "Back-test against observations" + (f": {_run_name(backtest.results)}" if named else "")
    return Section(blocks, level=2, heading=heading, lede=lede, anchor=anchor)


def _is_report(path: Path) -> bool:
    """Whether ``path`` holds an HTML report this program wrote (only those are replaced)."""
    try:
        with open(path, "rb") as stream:
            head = stream.read(4096)
    except OSError:
        return False
    return head.lstrip().lower().startswith(b"<!doctype html") and b"deploysim" in head


def _check_writable(out: Path, force: bool) -> None:
    if out.is_dir():
        raise ReportError(f"{out} is a folder; give a file name such as {out / 'report.html'}")
    if out.exists() and not force:
        raise ReportError(f"{out} already exists; pass --force to replace it")


def _run_section(results: Results, deadlines: Sequence[Deadline], level: int, anchor: str) -> Section:
    chosen = run_deadlines(results, deadlines)
    blocks = [
        Block("Key findings", findings=key_findings(results, deadlines)),
        Block("About this run", about=_about(results)),
    ]
    if chosen:
        blocks.append(Block("Deadlines", table=_deadline_table(results, chosen)))
    blocks += [
        Block("Milestones", table=_milestone_table(results)),
        *([Block("Officers present against plan", table=_strength_table(results))]
          if results.has("strength") else []),
        *([Block("Where the days went", table=_delay_table(results),
                 paragraphs=[_DELAY_NOTE], note=True)] if results.has("delays") else []),
        Block("What held each milestone back", table=_binding_table(results)),
        Block("Totals", table=_totals_table(results)),
        _parameter_block(results),
        Block("Figures", figures=[_figure_view(figure) for figure in report_figures(results)]),
    ]
    if level > 1:
        return Section(blocks, level=level, heading=_run_name(results), lede=_description(results), anchor=anchor)
    return Section(blocks, level=level, anchor=anchor)


def _description(results: Results) -> str:
    return " ".join(results.scenario.description.split())


def _reading_note(runs: Sequence[Results]) -> str:
    counts = " and ".join(f"{n:,}" for n in sorted({r.runs for r in runs}))
    counted = f"{counts} runs" + (" per scenario" if len(runs) > 1 else "")
    return (
        f"Each run is one possible course of events drawn from the scenario's distributions ({counted}). "
        "“In 80% of runs by a date” means that 80% of these simulated courses reached the milestone on or before "
        "that date. Confidence intervals (CI) show only the sampling error of a finite number of runs, not the "
        "uncertainty in the scenario's own assumptions. “After the horizon” means too few runs reached the "
        "milestone within the simulated period for that quantile to be given."
    )


def _about(results: Results) -> list[tuple[str, str]]:
    scenario = results.scenario
    manifest = _manifest(results)
    rows: list[tuple[str, str]] = [
        ("Scenario", scenario.name),
        ("Forecast from", format_date(scenario.start_date)),
        *([] if results.as_of is None else [(
            "Re-forecast as of",
            f"{format_date(results.as_of.date)}, holding fixed what {results.as_of.source} records before it "
            f"({len(results.as_of.reached)} milestones on their observed days, {len(results.as_of.not_before)} "
            "not reached by a date, officers in theatre, the trust fund's money)",
        )]),
        ("Horizon", f"{scenario.horizon_days:,} days, to {format_date(_horizon_date(results))}"),
        ("Runs", f"{results.runs:,}"),
        ("Seed", str(results.seed)),
        ("Run id", results.run_id or "not stored"),
    ]
    if results.path is not None:
        rows.append(("Folder", str(results.path)))
    if manifest.get("created_utc"):
        rows.append(("Run on (UTC)", str(manifest["created_utc"])))
    if results.wall_time_s is not None:
        rows.append(("Wall time", f"{results.wall_time_s:,.1f} s"))
    if manifest.get("git_commit"):
        rows.append(("Git commit", str(manifest["git_commit"])))
    versions = manifest.get("versions") or {}
    if isinstance(versions, dict) and versions:
        shown = [f"{name} {versions[name]}" for name in _VERSIONS_SHOWN if versions.get(name)]
        rows.append(("Versions", ", ".join(shown)))
    if isinstance(manifest.get("command"), list):
        rows.append(("Command", " ".join(str(a) for a in manifest["command"])))
    return rows


def _manifest(results: Results) -> dict:
    if results.path is None:
        return {}
    path = Path(results.path) / "manifest.json"
    try:
        manifest = json.loads(path.read_text())
    except (OSError, ValueError, RecursionError):
        return {}
    return manifest if isinstance(manifest, dict) else {}


def _deadline_table(results: Results, deadlines: Sequence[Deadline]) -> Table:
    head = ["Deadline", "Date"] + list(DEADLINE_MILESTONES.values())
    rows = []
    for deadline in deadlines:
        cells = [Cell(deadline.name), Cell(format_date(deadline.date))]
        for milestone in DEADLINE_MILESTONES:
            share = share_by(results, milestone, deadline.date)
            cells.append(Cell(format_share(share[0]), note=_ci_text(share, table=True)))
        rows.append(cells)
    return Table(head, rows, numeric_from=1, caption="Share of runs that had reached each milestone by the "
                 "deadline, with its 95% confidence interval.", css="deadlines")


def _milestone_table(results: Results) -> Table:
    table = results.milestone_summary()
    rows = [
        [Cell(row.label), *(Cell(format_date(getattr(row, f"p{q}_date"))) for q in (10, 50, 80, 90)),
         Cell(format_share(row.share_reached))]
        for row in table.itertuples()
    ]
    end = format_date(_horizon_date(results))
    return Table(
        ["Milestone", "P10", "P50", "P80", "P90", "Reached by the horizon"], rows, numeric_from=1,
        caption=f"Dates by which 10%, 50%, 80% and 90% of runs had reached each milestone, and the share of runs "
        f"reaching it by the horizon ({end}).", css="milestones",
        row_ids=[f"milestone-{m}" for m in table["milestone"]],
    )


#: Milestones whose days the report splits by cause.
DELAY_MILESTONES = ("first_arrival", "lead_100pct")
_DELAY_NOTE = ("Each milestone's days from the start date are split along its critical path: a step that waited "
               "for a task (the administration, the reconnaissance, a base stage) takes on that task's own path, so "
               "a late administration shows as the administration, not as the base it delayed; a wait for something "
               "simply open or shut (the airport, a hold, money, an aircraft) counts the days waited. The mean days "
               "of a milestone's causes add up to its mean day over the runs that reach it.")


def _strength_table(results: Results) -> Table:
    """Per checkpoint date, all contributors and the lead: officers in theatre against plan."""
    table = results.strength_summary()
    table = table[table["contributor"].isin(["all", results.scenario.force.lead_contributor])]
    rows = [[Cell(format_date(row.date)),
             Cell("all contributors" if row.contributor == "all" else str(row.contributor)),
             Cell(f"{row.plan:,}"), Cell(f"{row.p10:,.0f}"), Cell(f"{row.p50:,.0f}"), Cell(f"{row.p90:,.0f}"),
             Cell(format_share(row.p50_share_of_plan)), Cell(format_share(row.p_at_plan))]
            for row in table.itertuples()]
    return Table(
        ["Date", "Who", "Plan", "P10", "P50", "P90", "Median against plan", "Runs at plan"], rows, numeric_from=2,
        css="strength",
        caption="Officers in theatre at the end of each date (present, not landed so far): the plan is the "
        "mission's planned strength for all contributors and the pledge for the lead.",
    )


def _delay_table(results: Results) -> Table:
    """Per key milestone and cause: mean days, share of runs where it took any, P50/P90 among those runs."""
    table = results.delay_summary(list(DELAY_MILESTONES))
    rows, ids = [], []
    for row in table.itertuples():
        rows.append([Cell(row.label), Cell(row.cause), Cell(f"{row.mean_days:.1f}"),
                     Cell(format_share(row.share_with_days)), Cell(f"{row.p50_days:.0f}"), Cell(f"{row.p90_days:.0f}")])
        ids.append(f"delay-{row.milestone}-{row.cause.replace(' ', '-')}")
    return Table(
        ["Milestone", "Cause", "Mean days", "Runs where it took days", "P50 days (those runs)",
         "P90 days (those runs)"], rows, numeric_from=2, css="delays", row_ids=ids,
        caption="Where the days to each milestone went, cause by cause, over the runs that reach it.",
    )


def _delay_sentence(results: Results, milestone: str, what: str) -> str:
    """The largest causes of a milestone's days, in mean days over the runs that reach it."""
    table = results.delay_summary([milestone])
    if table.empty:
        return ""
    top = [f"{r.cause} {r.mean_days:.0f}" for r in table.head(4).itertuples() if r.mean_days >= 0.5]
    return (f"Of the {table['milestone_mean_day'].iloc[0]:.0f} days {what} takes on average (over the runs that reach "
            f"it), the largest shares go to {_join(top)} days.")


def _parameter_block(results: Results) -> Block:
    """Every value of the run's scenario with its unit and its source or "judgement", when the run's
    scenario is a library scenario as shipped (the table reads the comments beside each value)."""
    from sim.scenario.library import library_names
    from sim.scenario.loader import load_scenario
    from sim.scenario.parameters import parameter_table

    name = results.scenario.name
    if name not in library_names() or load_scenario(name) != results.scenario:
        return Block("Parameters", paragraphs=[
            "This run's scenario is not a library scenario as shipped, so its sources are not at hand here: "
            "deploysim show SCENARIO --table lists every value with the comment beside it in the file."], note=True)
    table = parameter_table(name)
    rows = [[Cell(r.key), Cell(r.value), Cell(r.unit), Cell(r.basis), Cell(r.source)] for r in table.itertuples()]
    return Block("Parameters", table=Table(
        ["Key", "Value", "Unit", "Basis", "Source or reasoning (the comment beside the value)"], rows, numeric_from=5,
        css="parameters", caption=f"Every value of scenario '{name}' and what it rests on, read from "
        f"{table.attrs['file']} and the files it extends.", row_ids=[f"parameter-{k}" for k in table["key"]]))


def _binding_table(results: Results) -> Table:
    shares = results.binding_shares()
    summary = results.milestone_summary().set_index("milestone")
    rows, ids = [], []
    for milestone in dict.fromkeys(shares["milestone"]):
        part = shares[shares["milestone"] == milestone].sort_values("share", ascending=False, kind="stable")
        text = ", ".join(f"{_constraint(results, r.binding)} {format_share(r.share)}" for r in part.itertuples())
        rows.append([Cell(MILESTONES.get(milestone, milestone)),
                     Cell(format_share(summary.loc[milestone, "share_reached"])), Cell(text)])
        ids.append(f"binding-{milestone}")
    return Table(
        ["Milestone", "Runs reaching it", "What held it back last (share of the runs reaching it)"], rows,
        numeric_from=1, numeric_to=2, css="binding", row_ids=ids,
        caption="The last condition to be met before each milestone, in the runs that reached it.",
    )


def _totals_table(results: Results) -> Table:
    rows = []
    for row in results.totals_summary().itertuples():
        if (results.replications[row.total] >= 0).all():
            # A normal-approximation interval can dip below zero; a mean of non-negative values cannot.
            row = row._replace(ci95_low=max(row.ci95_low, 0.0))
        money = "_usd" in row.total
        fmt = _usd if money else _count
        interval = _usd_range(row.ci95_low, row.ci95_high) if money else f"{fmt(row.ci95_low)}–{fmt(row.ci95_high)}"
        rows.append([Cell(row.label), Cell(fmt(row.mean)), Cell(interval),
                     Cell(fmt(row.p10)), Cell(fmt(row.p50)), Cell(fmt(row.p90))])
    return Table(
        ["Total (up to the horizon)", "Mean", "95% CI of the mean", "P10", "P50", "P90"], rows, numeric_from=1,
        caption="Per-run totals: the mean over runs with a normal-approximation confidence interval, and "
        "the 10th, 50th and 90th percentiles across runs.", css="totals",
    )


def _overview(runs: Sequence[Results], deadlines: Sequence[Deadline]) -> Section:
    head = ["Run", "Runs", "Seed", "First landing P50", "First landing P80", "All the lead pledge P50",
            "All the lead pledge by the horizon"]
    rows = []
    for i, results in enumerate(runs):
        summary = results.milestone_summary().set_index("milestone")
        first, pledge = summary.loc["first_arrival"], summary.loc["lead_100pct"]
        rows.append([Cell(_run_name(results), href=f"#run-{i + 1}"), Cell(f"{results.runs:,}"),
                     Cell(str(results.seed)), Cell(format_date(first["p50_date"])),
                     Cell(format_date(first["p80_date"])), Cell(format_date(pledge["p50_date"])),
                     Cell(format_share(pledge["share_reached"]))])
    note = ("Each run's own quantiles, side by side. Differences between quantiles are not paired differences; "
            "see the comparison sections for those." if len(runs) > 1 else "")
    paragraphs = ["Deadlines: " + "; ".join(f"{d.name} ({format_date(d.date)})" for d in deadlines) + "."] \
        if deadlines else []
    table = Table(head, rows, numeric_from=1, caption=note, css="overview")
    return Section([Block(table=table, paragraphs=paragraphs)], heading="Overview", anchor="overview")


def _comparison(base: Results, other: Results) -> Section:
    """A section comparing ``other`` with ``base`` through :mod:`sim.analysis.compare`: what the scenarios set
    differently, sentences on the key milestones and the paired-difference table."""
    diff = config_diff(base.scenario, other.scenario)
    blocks = [Block("What the scenarios set differently", **_config_block(diff, base, other))]
    try:
        table = paired_differences(base, other)
    except ValueError as exc:
        # Runs with different seeds, horizons or numbers of runs cannot be paired; say so and go on.
        blocks.append(Block("Paired differences", paragraphs=[f"Paired differences could not be computed: {exc}"],
                            note=True))
    else:
        blocks.append(_paired_block(table, base, other))
    return Section(blocks, heading=f"{_run_name(other)} compared with {_run_name(base)}", css="comparison")


def _config_block(diff: pd.DataFrame, base: Results, other: Results) -> dict:
    if diff.empty:
        return {"paragraphs": ["The resolved scenarios set every value alike (names and descriptions aside)."]}
    rows = [[Cell(str(r.key), code=True), Cell(str(r.old)), Cell(str(r.new))] for r in diff.itertuples()]
    return {"table": Table(["Setting", base.name, other.name], rows, numeric_from=3, css="config")}


def _paired_block(table: pd.DataFrame, base: Results, other: Results) -> Block:
    frame = table.set_index("milestone")
    sentences = []
    lead = base.scenario.force.lead_contributor
    for milestone, what in (("first_arrival", f"{_possessive(lead)} first contingent lands"),
                            ("lead_100pct", f"all of {_possessive(lead)} pledge is delivered")):
        if milestone in frame.index:
            sentences.append(_paired_sentence(frame.loc[milestone], what, base.name, other.name))
    rows = []
    for r in table.itertuples():
        mean, interval = _days_change(r.mean_diff_days, r.ci95_low, r.ci95_high)
        note = "; ".join(t for t in (interval, f"{r.n_pairs:,} pairs") if t)
        rows.append([
            Cell(r.label), Cell(format_date(r.base_p50_date)), Cell(format_date(r.p50_date)), Cell(mean, note=note),
            Cell(f"{format_share(r.base_share_reached)} → {format_share(r.share_reached)}",
                 note=_points_change(r.share_change, r.share_change_ci95_low, r.share_change_ci95_high)),
        ])
    caption = (f"Paired: replication k of {other.name} is the same simulated world as replication k of {base.name} "
               "except for what the scenarios set differently. The day difference is averaged over the pairs in "
               "which both runs reach the milestone, with its 95% CI; the share change counts every pair.")
    return Block(
        "Paired differences", findings=[t for t in sentences if t],
        table=Table(["Milestone", f"P50 {base.name}", f"P50 {other.name}", "Mean change, same runs (95% CI)",
                     "Reached by the horizon (change, 95% CI)"], rows, numeric_from=1, caption=caption, css="paired"),
    )


def _paired_sentence(row: pd.Series, what: str, base: str, other: str) -> str:
    """One milestone's paired change in plain words: days in the pairs where both reach it, then the share."""
    parts = []
    if row["n_pairs"] > 0 and not math.isnan(row["mean_diff_days"]):
        mean, interval = _days_change(row["mean_diff_days"], row["ci95_low"], row["ci95_high"])
        compared = f"as under {base}" if mean.startswith("on the same day") else f"than under {base}"
        parts.append(f"In the runs where it happens under both, {what} {mean} under {other} {compared} "
                     f"({interval}{'; ' if interval else ''}{row['n_pairs']:,} pairs)")
    change = _points_change(row["share_change"], row["share_change_ci95_low"], row["share_change_ci95_high"])
    parts.append(f"it happens within the horizon in {format_percent(row['share_reached'])} of runs under {other} "
                 f"against {format_percent(row['base_share_reached'])} under {base}, a change of {change}")
    return _capital("; ".join(parts)) + "."


def _days_change(mean: float, low: float, high: float) -> tuple[str, str]:
    """A paired mean difference in days and its interval: ``("12 days later on average", "95% CI 9 to 15
    days later")``; an interval across zero says so."""
    if math.isnan(mean):
        return "–", ""

    def days(value: float) -> str:
        n = round(abs(value))
        return f"{n:,} day{'' if n == 1 else 's'}"

    def direction(value: float) -> str:
        return "later" if value > 0 else "earlier"

    text = f"{days(mean)} {direction(mean)} on average" if round(abs(mean)) else "on the same day on average"
    if math.isnan(low) or math.isnan(high):
        return text, ""
    if low == high:
        return text, "the same difference in every pair"
    if low <= 0 <= high:
        return text, (f"95% CI {days(low)} {direction(low)} to {days(high)} {direction(high)}: "
                      "no clear difference")
    near, far = sorted((abs(low), abs(high)))
    return text, f"95% CI {near:,.0f} to {far:,.0f} days {direction(mean)}"


def _points_change(change: float, low: float, high: float) -> str:
    """A change in a share in percentage points: ``−14 points (95% CI −16 to −12)``."""
    if math.isnan(change):
        return "–"

    def points(value: float) -> str:
        text = f"{value * 100:+.0f}".replace("-", "−")
        return "0" if text in ("+0", "−0") else text

    unit = "percentage point" if points(change) in ("+1", "−1") else "percentage points"
    if math.isnan(low) or math.isnan(high):
        return f"{points(change)} {unit}"
    return f"{points(change)} {unit} (95% CI {points(low)} to {points(high)})"


# ---------------------------------------------------------------------------------------------------------
# Figures


def report_figures(results: Results) -> list[ReportFigure]:
    """Every figure of :data:`sim.output.plots.FIGURES` drawn afresh, then any other PNG in the run's ``figures/``."""
    from sim.output.plots import FIGURES
    from sim.output.provenance import add_footer, png_metadata

    lead = results.scenario.force.lead_contributor
    figures = []
    from sim.output.delays import delays_chart

    drawn = dict(FIGURES)
    if results.has("delays"):
        drawn["where_the_days_went.png"] = delays_chart
    for filename, draw in drawn.items():
        figure = draw(results)
        if not any(artist.get_gid() == "provenance" for artist in figure.texts):
            add_footer(figure, results)
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png", dpi=FIGURE_DPI, metadata=png_metadata(results))
        caption = CAPTIONS.get(filename) or _summary_line(draw) or Path(filename).stem.replace("_", " ").capitalize()
        figures.append(ReportFigure(filename, buffer.getvalue(), caption.format(lead=lead), _DISPLAY_DPI / FIGURE_DPI))
    if results.path is not None:
        for path in sorted((Path(results.path) / "figures").glob("*.png")):
            if path.name in drawn:
                continue
            data = path.read_bytes()
            if data.startswith(_PNG_SIGNATURE):
                figures.append(ReportFigure(path.name, data, f"From the run's folder: figures/{path.name}."))
    return figures


def _summary_line(function: Callable) -> str:
    """The first sentence of a plot function's docstring, without reStructuredText roles."""
    doc = inspect.getdoc(function) or ""
    first = " ".join(doc.split("\n\n")[0].split())
    return re.sub(r":\w+:`~?([^`]+)`", r"\1", first)


def _figure_view(figure: ReportFigure) -> FigureView:
    width, height = _png_size(figure.png)
    scale = figure.display_scale
    encoded = base64.b64encode(figure.png).decode("ascii")
    return FigureView(Path(figure.name).stem, f"data:image/png;base64,{encoded}", round(width * scale),
                      round(height * scale), figure.caption)


def _png_size(data: bytes) -> tuple[int, int]:
    """Width and height in pixels, from the PNG's header chunk."""
    width, height = struct.unpack(">II", data[16:24])
    return width, height


# ---------------------------------------------------------------------------------------------------------
# Small wording helpers


def _run_name(results: Results) -> str:
    return f"{results.name} ({results.run_id})" if results.run_id else results.name


def _horizon_date(results: Results) -> dt.date:
    return results.scenario.date_of(results.scenario.horizon_days)


def _span(days: int) -> str:
    years = {365: "year", 366: "year", 730: "two years", 731: "two years", 1095: "three years", 1096: "three years"}
    return years.get(days, f"{days:,} days")


def _possessive(name: str) -> str:
    return f"{name}'" if name.endswith("s") else f"{name}'s"


def _constraint(results: Results, key: str) -> str:
    if key in CONSTRAINTS:
        return CONSTRAINTS[key]
    if key in results.scenario.gates:
        return f"the {key.replace('_', ' ')} gate"
    return key.replace("_", " ")


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]


def _join(parts: Sequence[str]) -> str:
    if len(parts) <= 2:
        return " and ".join(parts)
    return ", ".join(parts[:-1]) + " and " + parts[-1]


def _ci_text(share: tuple[float, float, float], table: bool = False) -> str:
    low, high = f"{share[1] * 100:.0f}", f"{share[2] * 100:.0f}"
    if low == high:
        # A narrow interval near 0% or 100% would read "0–0%"; one decimal shows its real width.
        low, high = f"{share[1] * 100:.1f}", f"{share[2] * 100:.1f}"
    return f"{low}–{high}%" if table else f"95% CI {low}–{high}%"


def _count(value: float) -> str:
    if value is None or math.isnan(value):
        return "–"
    if 0 < abs(value) < 1:
        return f"{value:.2g}"
    text = f"{value:,.0f}" if float(value).is_integer() or abs(value) >= 100 else f"{value:,.1f}"
    return "0" if text in ("-0", "-0.0", "0.0") else text


def _usd(value: float) -> str:
    if value is None or math.isnan(value):
        return "–"
    text = f"US${value / 1e6:,.1f} million" if abs(value) >= 1e6 else f"US${value:,.0f}"
    return text.replace("US$-", "−US$")


def _usd_range(low: float, high: float) -> str:
    """``US$236.2–240.6 million``: one unit for both ends when both are in millions."""
    if min(abs(low), abs(high)) >= 1e6 and low >= 0:
        return f"US${low / 1e6:,.1f}–{high / 1e6:,.1f} million"
    return f"{_usd(low)} to {_usd(high)}"
