"""Parameter sweeps: one Monte Carlo batch per point of a grid of scenario values, all with the same seed.

:func:`parse_vary` reads ``--vary KEY=V1,V2,...`` into values; :func:`sweep` derives one scenario per
grid point (validated exactly as ``--set``) and runs each with the same seed, so the points differ
only by the varied values (common random numbers). The tidy table and :func:`sweep_figure` read the
batches. :mod:`sim.sensitivity` reuses :func:`derive_values` and :func:`run_batches`.
"""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt
import itertools
import os
import textwrap
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.dates import AutoDateLocator, DateFormatter, date2num
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

from sim.loader import Problem, ScenarioError, derive, parse_value, unknown_key
from sim.plots import OKABE_ITO, new_figure
from sim.provenance import add_footer, describe
from sim.record import MILESTONES
from sim.results import Results, censored_quantile
from sim.runner import make_executor, run
from sim.scenario import Scenario

# The loader's own value parser and key message, so --vary reads and reports exactly as --set does.
from sim.text import share_text

#: Seed of a sweep or sensitivity analysis when none is given (the CLI's default too).
DEFAULT_SEED = 20240314
#: Milestone quantiles a sweep's table reports.
SWEEP_QUANTILES = (10, 50, 90)


# -- parsing --vary ------------------------------------------------------------------------------


def parse_vary(items: Iterable[str]) -> dict[str, list[Any]]:
    """Read ``KEY=V1,V2,...`` strings into the values of each key, in the order given.

    Each value is parsed as TOML, as ``--set`` does: a number, a date, a quoted string or a table
    such as ``{dist="pert",low=5,mode=8,high=15}``; a bare word that is not TOML is taken as text.
    Values are split on commas at the top level only, never inside braces, brackets or quotes.

    Raises:
        ScenarioError: If an item has no ``=``, no key or an empty value, unbalanced braces or
            quotes, a key is given twice, or a key repeats a value. Keys are checked against the
            scenario later, by :func:`sweep`.

    Example:
        >>> parse_vary(["funding.runway_days=30,60", 'governance.hold_days={dist="uniform",low=1,high=9},5'])
        {'funding.runway_days': [30, 60], 'governance.hold_days': [{'dist': 'uniform', 'low': 1, 'high': 9}, 5]}
    """
    vary: dict[str, list[Any]] = {}
    for item in items:
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ScenarioError([Problem("--vary", item, "expected KEY=V1,V2,..., e.g. funding.runway_days=30,60,90")])
        if key in vary:
            raise ScenarioError([Problem("--vary", key, "given twice; list all its values in one --vary")])
        values = []
        for part in _split_top_level(text, key):
            if not part.strip():
                raise ScenarioError([Problem("--vary", key, f"empty value in {text!r}")])
            try:
                value = parse_value(part.strip())
            except ValueError as exc:
                raise ScenarioError([Problem("--vary", key, str(exc))]) from None
            if value in values:
                raise ScenarioError([Problem("--vary", key, f"value {part.strip()} is given twice")])
            values.append(value)
        vary[key] = values
    return vary


def _split_top_level(text: str, key: str) -> list[str]:
    """``text`` split on the commas outside braces, brackets and quotes."""
    parts, depth, quote, start = [], 0, "", 0
    for i, char in enumerate(text):
        if quote:
            quote = "" if char == quote else quote
        elif char in "\"'":
            quote = char
        elif char in "{[":
            depth += 1
        elif char in "}]":
            depth -= 1
            if depth < 0:
                raise ScenarioError([Problem("--vary", key, f"unbalanced '{char}' in {text!r}")])
        elif char == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    if depth or quote:
        what = "quote" if quote else "brace or bracket"
        raise ScenarioError([Problem("--vary", key, f"unclosed {what} in {text!r}")])
    parts.append(text[start:])
    return parts


def toml_text(value: Any) -> str:
    """A value written as TOML, for tables and labels: ``30``, ``2024-05-01``, ``{dist = "pert", ...}``."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        short = f"{value:g}"
        return short if float(short) == value else repr(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{k} = {toml_text(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(toml_text(v) for v in value) + "]"
    return f'"{value}"'


# -- deriving and running many scenarios ---------------------------------------------------------


def derive_values(scenario: Scenario, values: Mapping[str, Any], source: str = "--set") -> Scenario:
    """:func:`sim.loader.derive`, also accepting keys into lists such as ``base.stages.0.duration_days``.

    ``derive`` sets tables key by key but cannot index a list, so a key through a list entry
    replaces the whole list with a copy in which only that entry's value differs.

    Args:
        scenario: The scenario to start from; never changed.
        values: Dotted keys and their new values.
        source: What the error messages name as the origin of the values (``--set``, ``--vary``).

    Raises:
        ScenarioError: If a key is unknown (with a did-you-mean), an index is out of range or a
            value is invalid.
    """
    plain: dict[str, Any] = {}
    lists: dict[str, list[Any]] = {}
    raw: dict[str, Any] | None = None
    for key, value in values.items():
        parts = key.split(".")
        at = next((i for i, part in enumerate(parts) if part.isdigit()), None)
        if at is None:
            plain[key] = value
            continue
        list_key = ".".join(parts[:at])
        if list_key not in lists:
            raw = raw if raw is not None else scenario.model_dump(mode="python", by_alias=True)
            node: Any = raw
            for part in parts[:at]:
                node = node.get(part) if isinstance(node, Mapping) else None
            if not isinstance(node, list | tuple):
                message = f"'{list_key}' is not a list, so '{parts[at]}' cannot index it"
                raise ScenarioError([Problem(source, key, message)])
            lists[list_key] = copy.deepcopy(list(node))
        entries, index = lists[list_key], int(parts[at])
        if index >= len(entries):
            raise ScenarioError(
                [Problem(source, key, f"index {index} is out of range: {list_key} has {len(entries)} entries")]
            )
        if at == len(parts) - 1:
            entries[index] = value
            continue
        entry = entries[index]
        if isinstance(entry, Mapping) and parts[at + 1] not in entry:
            # derive() cannot suggest keys inside a list entry; every key of one is in its dump.
            raise ScenarioError([Problem(source, key, unknown_key(parts[at + 1], entry))])
        for part in parts[at + 1 : -1]:
            entry = entry.setdefault(part, {}) if isinstance(entry, dict) else {}
        if not isinstance(entry, dict):
            raise ScenarioError([Problem(source, key, f"entry {index} of {list_key} is not a table")])
        entry[parts[-1]] = value
    try:
        return derive(scenario, {**plain, **lists})
    except ScenarioError as exc:
        if source == "--set":
            raise
        raise ScenarioError(
            [dataclasses.replace(p, source=source) if p.source == "--set" else p for p in exc.problems]
        ) from None


def resolve_workers(workers: int | None) -> int:
    """Worker processes to use: ``None`` or 0 means one per CPU.

    Raises:
        ValueError: If ``workers`` is negative.
    """
    if workers is not None and workers < 0:
        raise ValueError(f"workers must be 0 (one per CPU) or more, got {workers}")
    return workers or os.cpu_count() or 1


def run_batches(
    scenarios: Sequence[Scenario],
    runs: int,
    seed: int,
    workers: int | None = 1,
    progress: Callable[[int], None] | None = None,
) -> list[Results]:
    """Run one batch per scenario, every one with the same seed, on one shared pool of workers.

    Args:
        scenarios: The resolved scenarios.
        runs: Replications per batch.
        seed: The seed of every batch: replication ``k`` draws the same numbers in each.
        workers: Worker processes (1: in this process; ``None`` or 0: one per CPU).
        progress: Called with the number of replications finished so far, over all batches.

    Returns:
        One :class:`sim.results.Results` per scenario, in order; each equals ``run(scenario, runs, seed)``.
    """
    out = []
    with make_executor(resolve_workers(workers)) as executor:
        for i, scenario in enumerate(scenarios):
            done = i * runs
            step = None if progress is None else (lambda n, done=done: progress(done + n))
            out.append(run(scenario, runs=runs, seed=seed, executor=executor, progress=step))
    return out


# -- the sweep -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class SweepResult:
    """A sweep's batches and its tidy table.

    Attributes:
        scenario: The scenario every point was derived from.
        vary: The varied keys and their values, in grid order.
        seed: The seed every point ran with.
        runs: Replications per point.
        points: The values of each grid point, in the order of ``results``.
        scenarios: The derived scenario of each point.
        results: The batch of each point.
        table: One row per grid point and milestone: ``point``, one column per varied key,
            ``milestone``, ``label``, ``p10_day``, ``p50_day``, ``p90_day`` (NaN: after the
            horizon), ``p10_date``, ``p50_date``, ``p90_date`` and ``share_reached``.
    """

    scenario: Scenario
    vary: dict[str, list[Any]]
    seed: int
    runs: int
    points: list[dict[str, Any]]
    scenarios: list[Scenario]
    results: list[Results]
    table: pd.DataFrame

    def results_at(self, values: Mapping[str, Any]) -> Results:
        """The batch of the grid point with these values (every varied key given).

        Raises:
            KeyError: If no grid point has exactly these values.
        """
        for point, results in zip(self.points, self.results, strict=True):
            if point == dict(values):
                return results
        raise KeyError(f"no grid point {dict(values)!r}; points: {self.points!r}")

    def milestone_table(self, milestone: str) -> pd.DataFrame:
        """The rows of one milestone, one per grid point.

        Raises:
            KeyError: If the milestone is unknown.
        """
        _check_milestone(milestone)
        return self.table[self.table["milestone"] == milestone].reset_index(drop=True)


def sweep(
    scenario: Scenario,
    vary: Mapping[str, Sequence[Any]],
    runs: int = 500,
    seed: int = DEFAULT_SEED,
    workers: int | None = 1,
    progress: Callable[[int], None] | None = None,
) -> SweepResult:
    """Run the scenario at every point of the grid of varied values, every point with the same seed.

    Every grid point is derived and validated before anything runs, so a bad key or value fails
    at once. Replication ``k`` of every point draws the same random numbers (common random numbers),
    so differences between points come from the varied values, not from sampling.

    Args:
        scenario: The scenario to vary; never changed.
        vary: Dotted keys (as for ``--set``; entries of lists as ``base.stages.0.duration_days``)
            and the values each takes. The grid is their Cartesian product, the first key slowest.
        runs: Replications per point.
        seed: The seed of every point.
        workers: Worker processes (1: in this process; ``None`` or 0: one per CPU).
        progress: Called with the number of replications finished so far, over all points.

    Returns:
        The :class:`SweepResult`.

    Raises:
        ScenarioError: If a key is unknown (with a did-you-mean) or a value invalid.
        ValueError: If ``vary`` is empty or a key has no values.

    Example:
        >>> from sim import load_scenario
        >>> s = sweep(load_scenario("scenarios/baseline.toml"), {"funding.runway_days": [30, 90]}, runs=20)
        >>> list(s.milestone_table("first_arrival")["funding.runway_days"])
        [30, 90]
    """
    if not vary:
        raise ValueError("vary must name at least one key")
    empty = [key for key, values in vary.items() if len(values) == 0]
    if empty:
        raise ValueError(f"no values given for {', '.join(empty)}")
    keys = list(vary)
    points = [dict(zip(keys, combo, strict=True)) for combo in itertools.product(*(vary[k] for k in keys))]
    scenarios = [derive_values(scenario, point, source="--vary") for point in points]
    results = run_batches(scenarios, runs, seed, workers, progress)
    return SweepResult(
        scenario=scenario,
        vary={k: list(v) for k, v in vary.items()},
        seed=seed,
        runs=runs,
        points=points,
        scenarios=scenarios,
        results=results,
        table=_sweep_table(points, results),
    )


def _sweep_table(points: list[dict[str, Any]], results: list[Results]) -> pd.DataFrame:
    columns = ["milestone", "label"]
    columns += [f"p{q}_day" for q in SWEEP_QUANTILES] + [f"p{q}_date" for q in SWEEP_QUANTILES] + ["share_reached"]
    frames = []
    for i, (point, res) in enumerate(zip(points, results, strict=True)):
        frame = res.milestone_summary()[columns]
        keys = {key: [_table_value(value)] * len(frame) for key, value in point.items()}
        frames.append(pd.concat([pd.DataFrame({"point": i, **keys}), frame], axis=1))
    return pd.concat(frames, ignore_index=True)


def _table_value(value: Any) -> Any:
    """A varied value as a table cell: numbers, dates and text as they are, tables as TOML text."""
    return toml_text(value) if isinstance(value, Mapping | list | tuple) else value


def _check_milestone(milestone: str) -> None:
    if milestone not in MILESTONES:
        raise KeyError(f"unknown milestone {milestone!r}; known: {', '.join(MILESTONES)}")


# -- labels --------------------------------------------------------------------------------------

_SECTION_LABELS = {
    "governance": "",
    "reconnaissance": "Recon",
    "funding": "Funding",
    "funding.costs": "Cost",
    "force": "Force",
    "force.training": "Training",
    "mandate": "Mandate",
    "base": "Base",
    "attrition": "Attrition",
    "logistics.airport": "Airport",
    "logistics.airlift": "Airlift",
    "steps": "Steps",
}


def key_label(key: str) -> str:
    """A readable name for a scenario key: ``funding.pledges.canada.tranche_lag_days`` ->
    ``Canada pledge: tranche lag (days)``; unit suffixes become brackets."""
    parts = key.split(".")
    field, context = parts[-1], parts[:-1]
    unit = ""
    for suffix, name in (("_days", "days"), ("_usd", "US$"), ("_officers", "officers")):
        if field.endswith(suffix) and field != suffix.lstrip("_"):
            field, unit = field.removesuffix(suffix), name
    text = field.replace("_", " ")
    prefix = _context_label(context)
    text = f"{prefix}: {text}" if prefix else text[:1].upper() + text[1:]
    return f"{text} ({unit})" if unit else text


def _context_label(context: list[str]) -> str:
    if not context:
        return ""
    joined = ".".join(context)
    if joined in _SECTION_LABELS:
        return _SECTION_LABELS[joined]
    head, rest = context[0], context[1:]
    if head == "funding" and rest[:1] == ["pledges"] and len(rest) == 2:
        return f"{_name(rest[1])} pledge"
    if head == "contributors" and len(rest) == 1:
        return _name(rest[0])
    if head == "gates" and len(rest) == 1:
        return f"{_name(rest[0])} gate"
    if head == "base" and rest[:1] == ["stages"] and len(rest) == 2 and rest[1].isdigit():
        return f"Base stage {int(rest[1]) + 1}"
    return joined


#: Words written in capitals when an identifier becomes a label.
_ACRONYMS = {"us": "US", "un": "UN", "uk": "UK", "eu": "EU", "caricom": "CARICOM", "oas": "OAS"}


def _name(identifier: str) -> str:
    words = [_ACRONYMS.get(word, word) for word in identifier.split("_")]
    text = " ".join(words)
    return text[:1].upper() + text[1:]



# -- the figure ----------------------------------------------------------------------------------

_TITLE_SIZE = 13
_LABEL_SIZE = 11
_TICK_SIZE = 10
_LEGEND_SIZE = 9.5
_NOTE_SIZE = 8.5
#: Average width of a character in ems, for wrapping text to a width in points.
_EM = 0.56
_LINE_COLOURS = ("blue", "vermillion", "bluish_green", "orange", "reddish_purple", "sky_blue", "black")


def set_titles(fig: Figure, ax: Axes, title: str, subtitle: str) -> None:
    """A title over a smaller grey subtitle, both left-aligned with the axes and wrapped to its width.

    Lays the figure out once to learn where the axes sit (long tick labels move its left edge).
    """
    heading = fig.suptitle(title, x=0.01, ha="left", fontsize=_TITLE_SIZE)
    note = ax.set_title(subtitle, loc="left", fontsize=_NOTE_SIZE, color="0.3", wrap=False)
    note.set_text(_wrap(subtitle, int(0.5 * fig.get_figwidth() * 72 / (_NOTE_SIZE * _EM))))
    fig.draw_without_rendering()
    box = ax.get_position()
    heading.set_x(box.x0)
    note.set_text(_wrap(subtitle, int(box.width * fig.get_figwidth() * 72 / (_NOTE_SIZE * _EM))))


def unique_batches(results: Iterable[Results]) -> list[Results]:
    """Batches with distinct descriptions, for a footer that names each kind once."""
    seen: dict[str, Results] = {}
    for res in results:
        seen.setdefault(describe(res), res)
    return list(seen.values())


def sweep_figure(result: SweepResult, milestone: str = "first_arrival", x: str | None = None,
                 by: str | None = None) -> Figure:
    """A milestone's median date, with its P10-P90 band, against a varied value.

    With a second varied key (``by``) there is one line per value of it. Any further varied key is
    held at its first value, as the subtitle says. Under each median the share of runs that reached
    the milestone by the horizon is written; a quantile beyond the horizon is drawn at the horizon
    with an open marker.

    Args:
        result: The sweep.
        milestone: A key of :data:`sim.record.MILESTONES`.
        x: The varied key on the horizontal axis (default: the first one).
        by: The varied key that splits the lines (default: the second one, if any).

    Returns:
        A new figure. The median line of each value ``v`` of ``by`` has gid ``median:v`` (``median``
        without ``by``), its band ``band:v`` (``band``).

    Raises:
        KeyError: If the milestone is unknown or ``x`` or ``by`` is not a varied key.
    """
    _check_milestone(milestone)
    keys = list(result.vary)
    x = keys[0] if x is None else x
    if by is None:
        by = next((k for k in keys if k != x), None)
    for key in (x, by):
        if key is not None and key not in result.vary:
            raise KeyError(f"{key!r} is not a varied key; varied: {', '.join(keys)}")
    if by == x:
        raise KeyError(f"x and by must differ, both are {x!r}")
    held = {k: result.vary[k][0] for k in keys if k not in (x, by)}
    scenario = result.scenario
    start = date2num(scenario.start_date)
    horizon = scenario.horizon_days
    xs_values = result.vary[x]
    positions, tick_labels = _x_positions(xs_values)

    fig, ax = new_figure()
    groups = [None] if by is None else list(result.vary[by])
    span = float(positions.max() - positions.min()) or 1.0
    # Several lines: P10-P90 as whiskers, nudged apart, since overlapping bands turn muddy.
    nudge = 0.0 if len(groups) == 1 else min(0.025 * span, 0.3 * float(np.diff(positions).min()) / len(groups))
    beyond = False
    used: list[Results] = []
    for g, group in enumerate(groups):
        colour = OKABE_ITO[_LINE_COLOURS[g % len(_LINE_COLOURS)]]
        rows = []
        for value in xs_values:
            point = {**held, x: value} if group is None else {**held, x: value, by: group}
            res = result.results_at({k: point[k] for k in keys})
            used.append(res)
            days = res.milestone_days(milestone)
            rows.append([censored_quantile(days, q / 100) for q in SWEEP_QUANTILES] + [float(np.mean(~np.isnan(days)))])
        table = np.array(rows)
        p10, p50, p90, share = (table[:, i] for i in range(4))
        beyond = beyond or bool(np.isnan(table[:, :3]).any())
        low, mid, high = (np.where(np.isnan(q), horizon, q) + start for q in (p10, p50, p90))
        at = positions + (g - (len(groups) - 1) / 2) * nudge
        suffix = "" if group is None else f":{toml_text(group)}"
        if group is None:
            ax.fill_between(at, low, high, color=colour, alpha=0.22, linewidth=0, gid="band",
                            label="P10–P90: 80% of runs fall in the band")
            label = "Median"
        else:
            ax.vlines(at, low, high, color=colour, linewidth=2.2, alpha=0.55, gid=f"band{suffix}")
            label = f"{by} = {format_value(by, group)}"
        ax.plot(at, mid, color=colour, linewidth=2.0, marker="o", markersize=6, gid=f"median{suffix}", label=label)
        late = np.isnan(p50)
        if late.any():
            ax.plot(at[late], mid[late], linestyle="none", marker="o", markersize=7, markerfacecolor="white",
                    markeredgecolor=colour, zorder=4)
        # Alternate sides with several lines, so each label sits beside its own marker.
        side = -1 if len(groups) > 1 and g % 2 == 0 else 1
        for px, py, reached in zip(at, mid, share, strict=True):
            ax.annotate(share_text(reached), xy=(px, py), xytext=(6 * side, -6), textcoords="offset points",
                        ha="left" if side > 0 else "right", va="top", fontsize=_NOTE_SIZE, color=colour, zorder=5,
                        bbox={"boxstyle": "round,pad=0.1", "facecolor": "white", "edgecolor": "none", "alpha": 0.8})
    if beyond:
        ax.axhline(start + horizon, color="0.45", linestyle="--", linewidth=1.0,
                   label=f"Horizon ({_day_text(scenario.date_of(horizon))}): quantiles after it drawn on it")

    if tick_labels is not None:
        ax.set_xticks(positions, tick_labels)
        ax.set_xlim(positions.min() - 0.5, positions.max() + 0.5)
    else:
        if all(isinstance(v, dt.date) for v in xs_values):
            ax.xaxis.set_major_formatter(DateFormatter("%-d %b %Y"))
        else:
            ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: format_value(x, v)))
        ax.set_xticks(positions)
        ax.set_xlim(positions.min() - 0.08 * span, positions.max() + 0.08 * span)
    ax.set_xlabel(f"{key_label(x)}   [{x}]", fontsize=_LABEL_SIZE)
    ax.yaxis.set_major_locator(AutoDateLocator(minticks=4, maxticks=10))
    ax.yaxis.set_major_formatter(DateFormatter("%b %Y"))
    ax.set_ylabel(f"{MILESTONES[milestone]} (date)", fontsize=_LABEL_SIZE)
    whiskers = "" if by is None else " Bars: P10–P90 (80% of runs)."
    subtitle = (f"Scenario '{scenario.name}' from {_day_text(scenario.start_date)}, {result.runs:,} runs per point, "
                f"the same seed ({result.seed}) at every point.{whiskers} Percentages: share of runs in which it "
                f"happens by {_day_text(scenario.date_of(horizon))}.")
    if held:
        subtitle += " Held at: " + "; ".join(f"{k} = {toml_text(v)}" for k, v in held.items()) + "."
    set_titles(fig, ax, f"{MILESTONES[milestone]}: median and P10–P90 by {x}", subtitle)
    ax.legend(loc="best", fontsize=_LEGEND_SIZE, framealpha=0.9)
    add_footer(fig, unique_batches(used))
    return fig


def _x_positions(values: list[Any]) -> tuple[np.ndarray, list[str] | None]:
    """Where each varied value sits on the axis, and tick labels when the values are not numbers."""
    if all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
        return np.asarray(values, dtype=float), None
    if all(isinstance(v, dt.date) for v in values):
        return np.asarray([date2num(v) for v in values], dtype=float), None
    return np.arange(len(values), dtype=float), [_wrap(toml_text(v)) for v in values]


def format_value(key: str, value: Any) -> str:
    """A value of ``key`` for a label: US dollars in k or M, shares in percent, else a short number."""
    if not isinstance(value, int | float) or isinstance(value, bool):
        return toml_text(value)
    if key.endswith("_usd"):
        size = abs(value)
        if size >= 1e6:
            return f"${value / 1e6:,.3g}M"
        return f"${value / 1e3:,.3g}k" if size >= 1e3 else f"${value:,.0f}"
    if key.rsplit(".", 1)[-1] in ("paid_share", "share_delivered"):
        return f"{value:.0%}"
    return f"{value:,.3g}" if abs(value) < 1e4 else f"{value:,.0f}"


def _wrap(text: str, width: int = 28) -> str:
    return "\n".join(textwrap.wrap(text, width)) or text


def _day_text(date: dt.date) -> str:
    return f"{date.day} {date:%b %Y}"


__all__ = [
    "DEFAULT_SEED",
    "SWEEP_QUANTILES",
    "SweepResult",
    "derive_values",
    "format_value",
    "key_label",
    "parse_vary",
    "resolve_workers",
    "run_batches",
    "set_titles",
    "sweep",
    "sweep_figure",
    "toml_text",
    "unique_batches",
]
