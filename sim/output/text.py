"""Formatting for people: dates, display names, shares, and the printed tables of a comparison.

Every date written for a person in the output layer goes through :func:`format_date`, which reads an English
month table: the C library's date formatting names months in the process's locale, and its flag for a day
without a leading zero exists only in glibc.
"""

from __future__ import annotations

import datetime as dt
import math
import textwrap
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal

import pandas as pd

from sim.scenario.milestones import MILESTONES

if TYPE_CHECKING:
    from sim.analysis.compare import Comparison


#: Month names, January first, whatever the locale.
MONTHS: tuple[str, ...] = ("January", "February", "March", "April", "May", "June", "July", "August", "September",
                           "October", "November", "December")
#: Three-letter month abbreviations, as :data:`MONTHS`.
MONTH_ABBREVIATIONS: tuple[str, ...] = tuple(name[:3] for name in MONTHS)
#: Words of a key that :func:`display_name` writes in capitals.
ACRONYMS: frozenset[str] = frozenset({"us", "usa", "un", "uk", "eu", "au", "oas", "caricom", "mss", "drc", "usd",
                                      "binuh", "ngo", "imf"})
#: Words of a key that :func:`display_name` leaves in lower case (unless first).
_SMALL_WORDS = frozenset({"and", "of", "the", "others", "other", "for", "to", "in"})

DateStyle = Literal["long", "short", "month", "month_long"]


def format_date(value: dt.date | dt.datetime | pd.Timestamp, style: DateStyle = "long",
                year: int | None = None) -> str:
    """A date as a person writes it, in English whatever the locale.

    Args:
        value: The date (a ``datetime`` or ``Timestamp`` is read for its date).
        style: ``long`` ``13 August 2024``; ``short`` ``13 Aug 2024``; ``month`` ``Aug 2024``;
            ``month_long`` ``August 2024``.
        year: Leave the year out when the date falls in this year (``13 Aug``).

    Raises:
        ValueError: If ``value`` is None or NaT (say what a missing date means where it is written).

    Example:
        >>> format_date(dt.date(2024, 8, 13)), format_date(dt.date(2024, 8, 13), "short", year=2024)
        ('13 August 2024', '13 Aug')
    """
    if value is None or pd.isna(value):
        raise ValueError("format_date needs a date, not None or NaT")
    if isinstance(value, pd.Timestamp):
        value = value.to_pydatetime()
    month = (MONTHS if style in ("long", "month_long") else MONTH_ABBREVIATIONS)[value.month - 1]
    tail = "" if year is not None and value.year == year else f" {value.year}"
    if style in ("month", "month_long"):
        return f"{month}{tail}"
    return f"{value.day} {month}{tail}"


def display_name(key: str, label: str | None = None) -> str:
    """How a contributor, donor or other scenario key reads in a legend or label.

    A ``label`` the scenario sets wins. Otherwise underscores become spaces and each word is capitalised,
    known acronyms (:data:`ACRONYMS`) in capitals, joining words (``and``, ``others``...) in lower case, and a
    word that already has a capital letter as written.

    Example:
        >>> display_name("caricom_others"), display_name("us_defense_support"), display_name("Kenya")
        ('CARICOM others', 'US Defense Support', 'Kenya')
    """
    if label:
        return label
    words = []
    for i, word in enumerate(key.replace("_", " ").split()):
        if word.lower() in ACRONYMS:
            words.append(word.upper())
        elif any(c.isupper() for c in word) or i and word in _SMALL_WORDS:
            words.append(word)
        else:
            words.append(word[:1].upper() + word[1:])
    return " ".join(words)


def share_text(share: float) -> str:
    """A share as a percentage that never rounds a shortfall up to 100% (or a few runs down to 0%)."""
    if share in (0.0, 1.0):
        return f"{share:.0%}"
    return f"{min(max(share, 0.001), 0.999):.1%}"


def date_text(value: object) -> str:
    """A milestone date as ``YYYY-MM-DD``, or ``after`` when it was not reached by the horizon."""
    if value is None or (isinstance(value, float) and math.isnan(value)) or pd.isna(value):
        return "after"
    return pd.Timestamp(value).date().isoformat()


# -- comparisons ---------------------------------------------------------------------------------


def format_comparison(comparison: Comparison) -> str:
    """The printed comparison: the run, each scenario's changed settings, milestones and deadlines."""
    base = comparison.base
    s = base.scenario
    labels = comparison.labels
    width = max(24, *(len(label) + 2 for label in labels))
    lines = [
        f"Comparing {', '.join(repr(label) for label in labels)}: {base.runs:,} runs each, seed {base.seed}, "
        f"from {s.start_date} to {s.date_of(s.horizon_days)}",
        "Same seed: replication k of every scenario shares its draws subsystem by subsystem, so the changes "
        "below are paired.",
    ]
    for label in labels[1:]:
        diff = comparison.config_diffs[comparison.config_diffs["scenario"] == label]
        lines += ["", f"Settings of '{label}' that differ from '{labels[0]}':"]
        if diff.empty:
            lines.append("  (none: the same resolved configuration)")
        key_width = max(len(k) for k in diff["key"]) if len(diff) else 0
        for row in diff.itertuples():
            lines.append(f"  {row.key:<{key_width}}  {row.old} -> {row.new}")

    lines += [
        "",
        f"Milestones: P50 and P80 dates, share of runs reaching it by the horizon, and the change against "
        f"'{labels[0]}' with its 95% CI",
        "(all runs: change in the restricted mean day, a run that never reaches the milestone counting as the "
        "horizon; if both reach: mean over the runs where both reach it, of the difference in the same run, "
        "pairs = such runs)",
        "",
        f"{'':<{width}} {'P50':>10} {'P80':>10} {'reached':>8}   {'all runs: days (95% CI)':<26} "
        f"{'if both reach: days (95% CI)':<29} {'pairs':>5}   change in reached (95% CI)",
    ]
    table = comparison.milestone_table()
    for milestone, rows in table.groupby("milestone", sort=False):
        lines.append(MILESTONES[milestone])
        for row in rows.itertuples():
            text = (f"  {row.scenario:<{width - 2}} {date_text(row.p50_date):>10} {date_text(row.p80_date):>10} "
                    f"{share_text(row.share_reached):>8}")
            if row.scenario != labels[0]:
                rmean = _days_ci_text(row.rmean_diff_days, row.rmean_ci95_low, row.rmean_ci95_high)
                days = _days_ci_text(row.mean_diff_days, row.ci95_low, row.ci95_high)
                share = _points_ci_text(row.share_change, row.share_change_ci95_low, row.share_change_ci95_high)
                text += f"   {rmean:<26} {days:<29} {int(row.n_pairs):>5}   {share}"
            lines.append(text.rstrip())
    lines.append("")
    lines.append(f"'after' = not reached by the horizon ({s.date_of(s.horizon_days)}) in that share of runs; "
                 "pts = percentage points.")
    if comparison.deadlines is not None:
        lines += ["", format_deadlines(comparison.deadlines, labels)]
    return "\n".join(lines)


def format_strength_deadlines(table: pd.DataFrame, labels: Sequence[str] | None = None) -> str:
    """Officers-present targets as printed: per target, the probability per scenario.

    Args:
        table: Rows of :func:`sim.analysis.compare.strength_probabilities` (one batch or several).
        labels: Scenario order (default: order of appearance); the first is the reference of ``change``.
    """
    labels = list(labels) if labels is not None else list(dict.fromkeys(table["scenario"]))
    paired = len(labels) > 1 and "change" in table
    out = ["Probability of at least so many officers in theatre at the end of a date, with its 95% CI"
           + (f", and the change against '{labels[0]}'" if paired else "")]
    width = max(24, *(len(label) + 2 for label in labels))
    for _, rows in table.groupby("target", sort=False):
        first = rows.iloc[0]
        who = "all contributors" if first["contributor"] == "all" else str(first["contributor"])
        date = pd.Timestamp(first["date"]).date()
        title = f"{int(first['officers']):,} or more officers of {who} on {date}"
        if len(labels) == 1:
            out.append(f"  {title:<52} {_probability_text(first):>22}")
            continue
        out.append(f"  {title}")
        rows = rows.set_index("scenario")
        for label in labels:
            if label not in rows.index:
                continue
            row = rows.loc[label]
            text = f"    {label:<{width - 2}} {_probability_text(row):<22}"
            if paired and label != labels[0]:
                text += f" change {row['change']:+.0%} [{row['change_ci95_low']:+.0%}, {row['change_ci95_high']:+.0%}]"
            out.append(text)
    return "\n".join(out)


def format_strength(table: pd.DataFrame) -> str:
    """Officers present against plan at each checkpoint date (:meth:`Results.strength_summary`)."""
    out = ["Officers in theatre (present, not cumulative) against plan, at the end of each date",
           f"  {'date':<10}  {'who':<18} {'plan':>6} {'P10':>6} {'P50':>6} {'P90':>6} {'P50/plan':>9} {'at plan':>8}"]
    for row in table.itertuples():
        out.append(f"  {pd.Timestamp(row.date).date()!s:<10}  {row.contributor!s:<18} {row.plan:>6,} {row.p10:>6,.0f} "
                   f"{row.p50:>6,.0f} {row.p90:>6,.0f} {row.p50_share_of_plan:>9.0%} {row.p_at_plan:>8.0%}")
    return "\n".join(out)


def format_deadlines(table: pd.DataFrame, labels: Sequence[str] | None = None) -> str:
    """Deadline probabilities as printed: per deadline, each milestone's probability per scenario.

    Args:
        table: Rows of :func:`deadline_probabilities` (one batch, or several with ``scenario`` labels).
        labels: Scenario order (default: order of appearance); the first is the reference of ``change``.
    """
    labels = list(labels) if labels is not None else list(dict.fromkeys(table["scenario"]))
    width = max(24, *(len(label) + 2 for label in labels))
    paired = len(labels) > 1 and "change" in table
    out: list[str] = []
    for deadline, at in table.groupby("deadline", sort=False):
        date = pd.Timestamp(at["deadline_date"].iloc[0]).date()
        if out:
            out.append("")
        out.append(f"Probability of reaching each milestone by {deadline} ({date}), with its 95% CI"
                   + (f", and the change against '{labels[0]}'" if paired else ""))
        never = []
        for milestone, rows in at.groupby("milestone", sort=False):
            if (rows["probability"] == 0).all():
                never.append(MILESTONES[milestone])
                continue
            if len(labels) == 1:
                row = rows.iloc[0]
                out.append(f"  {MILESTONES[milestone]:<44} {_probability_text(row):>22}")
                continue
            out.append(f"  {MILESTONES[milestone]}")
            rows = rows.set_index("scenario").loc[[label for label in labels if label in set(rows["scenario"])]]
            for label, row in rows.iterrows():
                text = f"    {label:<{width - 2}} {_probability_text(row):<22}"
                if paired and label != labels[0]:
                    text += f"   {_points_ci_text(row['change'], row['change_ci95_low'], row['change_ci95_high'])}"
                out.append(text.rstrip())
        if never:
            out += textwrap.wrap(f"Reached by {date} in no run: {'; '.join(never)}.", width=110,
                                 initial_indent="  ", subsequent_indent="    ")
    return "\n".join(out)


def _probability_text(row: Any) -> str:
    return f"{share_text(row['probability'])} ({100 * row['ci95_low']:.1f} to {100 * row['ci95_high']:.1f})"


def _days_ci_text(mean: float, low: float, high: float) -> str:
    if math.isnan(mean):
        return "never both reach it"
    if math.isnan(low):
        return f"{_signed(mean)} (one pair)"
    if mean == low == high == 0.0:
        return "0 (same in every run)"
    return f"{_signed(mean)} ({_signed(low)} to {_signed(high)})"


def _points_ci_text(change: float, low: float, high: float) -> str:
    if math.isnan(change):
        return ""
    if change == low == high == 0.0:
        return "0 (same in every run)"
    return f"{_signed(100 * change)} pts ({_signed(100 * low)} to {_signed(100 * high)})"


def _signed(x: float) -> str:
    """``+1.5``, ``-0.3``, and ``0.0`` rather than ``-0.0`` for a value that rounds to zero."""
    text = f"{x:+.1f}"
    return "0.0" if text in ("+0.0", "-0.0") else text
