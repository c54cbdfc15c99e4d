"""Parameter sweeps: one Monte Carlo batch per point of a grid of scenario values, all with the same seed.

:func:`parse_vary` reads ``--vary KEY=V1,V2,...`` into values; :func:`sweep` derives one scenario per
grid point (validated exactly as ``--set``) and runs each with the same seed, so the points differ
only by the varied values (common random numbers). The tidy table and :func:`sweep_figure` read the
batches. :mod:`sim.analysis.sensitivity` reuses :func:`derive_values` and :func:`run_batches`.
"""

from __future__ import annotations

import contextlib
import copy
import itertools
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from sim.batch.defaults import DEFAULT_SEED
from sim.batch.progress import Progress, progress_callback
from sim.batch.results import Results
from sim.batch.runner import as_executor, make_executor, run

# The loader's own value parser and key message, so --vary reads and reports exactly as --set does.
from sim.scenario.loader import Problem, ScenarioError, derive, parse_value, unknown_key
from sim.scenario.milestones import check_milestone
from sim.scenario.schema import Scenario
from sim.scenario.toml import toml_value

#: Seed of a sweep or sensitivity analysis when none is given (the CLI's default too).
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


#: The package's one TOML value writer (:func:`sim.scenario.toml.toml_value`), under its older name.
toml_text = toml_value


# -- deriving and running many scenarios ---------------------------------------------------------


def derive_values(scenario: Scenario, values: Mapping[str, Any], source: str = "derive") -> Scenario:
    """:func:`sim.scenario.loader.derive`, also accepting keys into lists such as ``base.stages.0.duration_days``.

    ``derive`` sets tables key by key but cannot index a list, so a key through a list entry
    replaces the whole list with a copy in which only that entry's value differs.

    Args:
        scenario: The scenario to start from; never changed.
        values: Dotted keys and their new values.
        source: What the error messages name as the origin of the values (``derive`` from Python;
            the command line passes ``--set`` or ``--vary``).

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
    return derive(scenario, {**plain, **lists}, source=source)


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
    progress: Progress = True,
    executor: Any = None,
    max_failures: int | None = None,
    fail_fast: bool = False,
) -> list[Results]:
    """Run one batch per scenario, every one with the same seed, on one shared set of workers.

    Args:
        scenarios: The resolved scenarios.
        runs: Replications per batch.
        seed: The seed of every batch: replication ``k`` draws the same numbers in each.
        workers: Worker processes (1: in this process; ``None`` or 0: one per CPU). Ignored when
            ``executor`` is given.
        progress: True: one progress bar over all batches (see :mod:`sim.batch.progress`); False: none;
            a function: called with the number of replications finished so far, over all batches.
        executor: Where the batches run (see :func:`sim.batch.runner.run`); default: one made from
            ``workers`` for this call. Every scenario is announced to it first, so a pool installs
            them all in its workers once.
        max_failures: Failed replications each batch tolerates (see :func:`sim.batch.runner.run`).
        fail_fast: Stop at the first failed replication.

    Returns:
        One :class:`sim.batch.results.Results` per scenario, in order; each equals ``run(scenario, runs, seed)``.
    """
    out = []
    own = executor is None
    chosen = make_executor(resolve_workers(workers)) if own else as_executor(executor)
    with (chosen if own else contextlib.nullcontext(chosen)) as active, \
            progress_callback(progress, runs * len(scenarios)) as report:
        share = getattr(active, "share", None)
        if share is not None:
            share(list(scenarios))
        for i, scenario in enumerate(scenarios):
            done = i * runs
            step = False if report is None else (lambda n, done=done: report(done + n))
            out.append(run(scenario, runs=runs, seed=seed, executor=active, progress=step,
                           max_failures=max_failures, fail_fast=fail_fast))
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
        check_milestone(milestone)
        return self.table[self.table["milestone"] == milestone].reset_index(drop=True)


def sweep(
    scenario: Scenario,
    vary: Mapping[str, Sequence[Any]],
    runs: int = 500,
    seed: int = DEFAULT_SEED,
    workers: int | None = 1,
    progress: Progress = True,
    executor: Any = None,
    max_failures: int | None = None,
    fail_fast: bool = False,
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
        progress: True: a progress bar over all points once the sweep has run a second; False: none;
            a function: called with the number of replications finished so far, over all points.
        executor: Where the batches run (see :func:`run_batches`); ``workers`` is then ignored.
        max_failures: Failed replications each point tolerates (see :func:`sim.batch.runner.run`).
        fail_fast: Stop at the first failed replication.

    Returns:
        The :class:`SweepResult`.

    Raises:
        ScenarioError: If a key is unknown (with a did-you-mean) or a value invalid.
        ValueError: If ``vary`` is empty or a key has no values.

    Example:
        >>> from sim import load_scenario
        >>> s = sweep(load_scenario("baseline"), {"funding.runway_days": [30, 90]}, runs=20)
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
    results = run_batches(scenarios, runs, seed, workers, progress, executor=executor, max_failures=max_failures,
                          fail_fast=fail_fast)
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
    return toml_value(value) if isinstance(value, Mapping | list | tuple) else value


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

















__all__ = [
    "SWEEP_QUANTILES",
    "SweepResult",
    "derive_values",
    "key_label",
    "parse_vary",
    "resolve_workers",
    "run_batches",
    "sweep",
    "toml_text",
]
