"""Sensitivity of an outcome to the scenario's uncertain inputs: one at a time (a tornado) and global (Sobol).

:func:`uncertain_inputs` lists every distribution of a scenario that is not a fixed value.
:func:`tornado` holds each in turn at its P10 and at its P90 and reruns the batch with the same seed:
a fixed value uses the same one uniform draw as the distribution it replaces, so every other draw
stays where it was and the change in the outcome's median is the input's alone. :func:`sobol_indices`
varies all of them at once over their distributions with SALib. Batches run through
:func:`sim.analysis.sweep.run_batches`; figures follow :mod:`sim.output.plots`.
"""

from __future__ import annotations

import contextlib
import difflib
import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from sim.analysis.sweep import derive_values, key_label, resolve_workers, run_batches
from sim.batch.defaults import DEFAULT_SEED
from sim.batch.executors import as_executor, make_executor
from sim.batch.progress import Progress, progress_callback
from sim.batch.results import Results, censored_quantile
from sim.model import simulate
from sim.model.record import TOTALS
from sim.scenario.distributions import DIST_KINDS, Bernoulli, Fixed
from sim.scenario.loader import Problem, ScenarioError
from sim.scenario.milestones import MILESTONES
from sim.scenario.schema import Scenario
from sim.scenario.walk import leaves

# -- inputs and outcomes -------------------------------------------------------------------------


def scenario_distributions(scenario: Scenario) -> dict[str, Any]:
    """Every distribution in the scenario, fixed values included, by dotted key.

    Keys follow the scenario file: named entries by name (``funding.pledges.canada.tranche_lag_days``),
    list entries by index (``base.stages.0.duration_days``, settable through
    :func:`sim.analysis.sweep.derive_values`).
    """
    return {leaf.key: leaf.value for leaf in leaves(scenario) if isinstance(leaf.value, DIST_KINDS)}


def uncertain_inputs(scenario: Scenario) -> list[str]:
    """Dotted keys of every distribution in the scenario that is not a fixed value, in the schema's order.

    Example:
        >>> from sim import load_scenario
        >>> uncertain_inputs(load_scenario("baseline"))[:2]
        ['governance.transitional_authority_days', 'governance.viable_administration_days']
    """
    return [key for key, dist in scenario_distributions(scenario).items() if not isinstance(dist, Fixed)]


def pin_values(dist: Any, low: float = 0.1, high: float = 0.9) -> tuple[float, float]:
    """The values an input is held at: its ``low`` and ``high`` quantiles (P10 and P90).

    A Bernoulli input (a yes/no event) is held at 0 (no) and 1 (yes) whatever its probability,
    so a rare event's effect is not hidden by both quantiles being the same answer.
    """
    if isinstance(dist, Bernoulli):
        return 0.0, 1.0
    return dist.quantile(low), dist.quantile(high)


def outcome_names(scenario: Scenario) -> list[str]:
    """Outcomes a scenario's batch reports: every milestone and every total."""
    forces = [scenario.force.lead_contributor, *scenario.contributors]
    return [*MILESTONES, *TOTALS, *(f"peak_in_theatre.{name}" for name in forces)]


def check_outcome(scenario: Scenario, outcome: str) -> None:
    """Raise a ScenarioError (with a did-you-mean) unless ``outcome`` is a milestone or total of the scenario."""
    known = outcome_names(scenario)
    if outcome not in known:
        close = difflib.get_close_matches(outcome, known, n=1, cutoff=0.6)
        hint = f"did you mean '{close[0]}'?" if close else f"expected a milestone ({', '.join(MILESTONES)}) or a total"
        raise ScenarioError([Problem("--outcome", outcome, f"unknown outcome; {hint}")])


def outcome_label(outcome: str) -> str:
    """What an outcome measures, for titles."""
    if outcome in MILESTONES:
        return MILESTONES[outcome]
    if outcome in TOTALS:
        return TOTALS[outcome]
    return f"Most of {outcome.removeprefix('peak_in_theatre.')}'s officers in theatre at once"


def outcome_unit(outcome: str) -> str:
    """The unit of an outcome's values: ``days`` (after the start date, for a milestone), ``US$`` or ``""``."""
    if outcome in MILESTONES or outcome.endswith("_days"):
        return "days"
    return "US$" if outcome.endswith("_usd") else ""


def outcome_values(results: Results, outcome: str) -> np.ndarray:
    """Each replication's value of an outcome: a milestone's day (NaN: not reached) or a total."""
    if outcome in MILESTONES:
        return results.milestone_days(outcome)
    return results.replications[outcome].to_numpy(dtype=float)


def outcome_median(results: Results, outcome: str) -> float:
    """The median of an outcome; for a milestone NaN when fewer than half the runs reach it."""
    values = outcome_values(results, outcome)
    return censored_quantile(values, 0.5) if outcome in MILESTONES else float(np.median(values))


def _check_inputs(inputs: Sequence[str], dists: dict[str, Any]) -> list[str]:
    keys = list(dict.fromkeys(inputs))
    for key in keys:
        if key not in dists:
            close = difflib.get_close_matches(key, list(dists), n=1, cutoff=0.6)
            hint = f"; did you mean '{close[0]}'?" if close else "; list them with uncertain_inputs()"
            raise ScenarioError([Problem("--inputs", key, f"not a distribution of the scenario{hint}")])
    return keys


# -- one at a time: the tornado ------------------------------------------------------------------


def tornado(
    scenario: Scenario,
    outcome: str = "first_arrival",
    inputs: Sequence[str] | None = None,
    runs: int = 200,
    seed: int = DEFAULT_SEED,
    workers: int | None = 1,
    low: float = 0.1,
    high: float = 0.9,
    progress: Progress = True,
    executor: Any = None,
) -> pd.DataFrame:
    """How far an outcome's median moves when each input is held at its P10 and at its P90.

    The baseline batch and one batch per input and pin all run with the same seed. Holding an input
    at a fixed value keeps every other draw of every replication where it was (a fixed value uses
    the same one uniform draw as the distribution it replaces), so the differences come from the
    pinned input alone, not from sampling noise. An input drawn many times (each airport closure's
    length) is held at that value every time.

    A milestone's median is the censored median (not reached counts as later than the horizon). When
    it falls after the horizon it is NaN in ``*_median`` and counted as the horizon day in the deltas
    and the swing (so they are lower bounds); ``censored`` marks such rows.

    Args:
        scenario: The scenario; never changed.
        outcome: A milestone (its day after the start date) or a total (see :func:`outcome_names`).
        inputs: Dotted keys of the distributions to pin (default: :func:`uncertain_inputs`).
        runs: Replications per batch.
        seed: The seed of every batch.
        workers: Worker processes (1: in this process; ``None`` or 0: one per CPU).
        low: The low quantile an input is held at.
        high: The high quantile.
        progress: True: a progress bar once the analysis has run a second; False: none; a function:
            called with the number of replications finished so far.
        executor: Where the batches run (see :func:`sim.batch.runner.run`); ``workers`` is then ignored.

    Returns:
        One row per input, ranked by swing (largest first): ``rank``, ``input``, ``label``,
        ``low_value`` and ``high_value`` (the pinned values; a Bernoulli input's are 0 and 1),
        ``baseline_median``, ``low_median``, ``high_median``, ``low_delta`` and ``high_delta`` (each
        median minus the baseline's), ``swing`` (``|high_delta - low_delta|``) and ``censored``;
        the Monte Carlo error: ``*_ci95_low/high`` of the two deltas and of the signed swing (a
        paired bootstrap, see :func:`swing_noise`), ``within_noise`` (the swing's interval holds 0) and
        ``runs_to_resolve`` (runs per batch that would likely resolve a swing within noise).
        ``attrs`` holds ``outcome``, ``label``, ``unit``, ``baseline_median``, ``share_reached``
        (milestones), ``scenario``, ``seed``, ``runs``, ``low`` and ``high``.

    Raises:
        ScenarioError: If the outcome or an input is unknown (with a did-you-mean).
        ValueError: If not ``0 < low < high < 1``.

    Example:
        >>> from sim import load_scenario
        >>> t = tornado(load_scenario("baseline"), runs=20,
        ...             inputs=["governance.transitional_authority_days", "reconnaissance.duration_days"])
        >>> list(t["input"])
        ['governance.transitional_authority_days', 'reconnaissance.duration_days']
    """
    if not 0 < low < high < 1:
        raise ValueError(f"need 0 < low < high < 1, got low={low}, high={high}")
    check_outcome(scenario, outcome)
    dists = scenario_distributions(scenario)
    keys = uncertain_inputs(scenario) if inputs is None else _check_inputs(inputs, dists)
    pins = {key: pin_values(dists[key], low, high) for key in keys}
    scenarios = [scenario]
    for key, (low_value, high_value) in pins.items():
        scenarios += [derive_values(scenario, {key: low_value}), derive_values(scenario, {key: high_value})]
    # The paired bootstrap takes replication k of every batch: a failed replication stops the analysis.
    batches = run_batches(scenarios, runs, seed, workers, progress, executor=executor, fail_fast=True)

    horizon = float(scenario.horizon_days)
    baseline = outcome_median(batches[0], outcome)
    base_capped = horizon if math.isnan(baseline) else baseline
    rows = []
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(0x70,)))
    resamples = rng.integers(0, runs, size=(SWING_BOOTSTRAP, runs))
    base_values = _capped(outcome_values(batches[0], outcome), outcome, horizon)
    for i, (key, (low_value, high_value)) in enumerate(pins.items()):
        low_median = outcome_median(batches[1 + 2 * i], outcome)
        high_median = outcome_median(batches[2 + 2 * i], outcome)
        low_capped = horizon if math.isnan(low_median) else low_median
        high_capped = horizon if math.isnan(high_median) else high_median
        noise = swing_noise(base_values, _capped(outcome_values(batches[1 + 2 * i], outcome), outcome, horizon),
                            _capped(outcome_values(batches[2 + 2 * i], outcome), outcome, horizon), resamples)
        rows.append({
            "input": key,
            "label": key_label(key),
            "low_value": low_value,
            "high_value": high_value,
            "baseline_median": baseline,
            "low_median": low_median,
            "high_median": high_median,
            "low_delta": low_capped - base_capped,
            "high_delta": high_capped - base_capped,
            "swing": abs(high_capped - low_capped),
            "censored": bool(np.isnan([baseline, low_median, high_median]).any()),
            **noise,
        })
    columns = ["input", "label", "low_value", "high_value", "baseline_median", "low_median", "high_median",
               "low_delta", "high_delta", "swing", "censored", "low_delta_ci95_low", "low_delta_ci95_high",
               "high_delta_ci95_low", "high_delta_ci95_high", "swing_ci95_low", "swing_ci95_high", "within_noise",
               "runs_to_resolve"]
    rows = [{**r, "runs_to_resolve": _runs_to_resolve(r, runs)} for r in rows]
    table = pd.DataFrame(rows, columns=columns)
    table = table.sort_values("swing", ascending=False, kind="stable").reset_index(drop=True)
    table.insert(0, "rank", np.arange(1, len(table) + 1))
    values = outcome_values(batches[0], outcome)
    table.attrs.update({
        "outcome": outcome,
        "label": outcome_label(outcome),
        "unit": outcome_unit(outcome),
        "baseline_median": baseline,
        "share_reached": float(np.mean(~np.isnan(values))) if outcome in MILESTONES else None,
        "scenario": scenario,
        "seed": seed,
        "runs": runs,
        "low": low,
        "high": high,
    })
    return table










#: Bootstrap resamples behind the tornado's intervals.
SWING_BOOTSTRAP = 500


def _capped(values: np.ndarray, outcome: str, horizon: float) -> np.ndarray:
    """Values whose median is the tornado's: for a milestone, not reached counts as the horizon."""
    return np.where(np.isnan(values), horizon, values) if outcome in MILESTONES else values


def swing_noise(base: np.ndarray, low: np.ndarray, high: np.ndarray, resamples: np.ndarray) -> dict[str, Any]:
    """Paired bootstrap intervals of a tornado row: the low and high deltas and the signed swing.

    The three batches share their draws replication by replication, so each resample picks the same
    replications from all three (``resamples``: one row of indices per resample). ``within_noise`` is
    true when the swing's 95% interval contains 0 (and is not the single point 0 of an input with no
    effect at all): the batch cannot tell the input's effect from Monte Carlo error.
    """
    med = [np.quantile(values[resamples], 0.5, axis=1, method="inverted_cdf") for values in (base, low, high)]
    out: dict[str, Any] = {}
    for name, draws in (("low_delta", med[1] - med[0]), ("high_delta", med[2] - med[0]),
                        ("swing", med[2] - med[1])):
        lo, hi = np.quantile(draws, [0.025, 0.975])
        out[f"{name}_ci95_low"], out[f"{name}_ci95_high"] = float(lo), float(hi)
    # An input without any effect moves no replication: its interval is the single point 0, not noise.
    out["within_noise"] = bool(out["swing_ci95_low"] <= 0.0 <= out["swing_ci95_high"]
                               and out["swing_ci95_high"] > out["swing_ci95_low"])
    return out


def _runs_to_resolve(row: dict[str, Any], runs: int) -> float:
    """Runs per batch at which a swing within noise would likely be resolved: the interval's half-width
    shrinks as one over the square root of the runs, so it must shrink below the swing. NaN when
    resolved already; inf for a swing of zero."""
    if not row["within_noise"]:
        return math.nan
    half = (row["swing_ci95_high"] - row["swing_ci95_low"]) / 2
    if row["swing"] <= 0:
        return math.inf
    return float(math.ceil(runs * (half / row["swing"]) ** 2))


# -- global: Sobol indices -----------------------------------------------------------------------


#: Inputs drawn afresh for every event they govern (each hold, closure, block, tranche, cohort, flight,
#: gap or tour): variability inside one replication rather than one uncertain quantity. A global
#: analysis leaves them to the model's own randomness by default, since pinning one would give every
#: such event of a replication the same length.
PER_EVENT_SUFFIXES = (
    "hold_days", "closure_days", "block_days", "tranche_lag_days", "training.duration_days",
    "days_between_contingents", "days_between_flights", "tour_days", "flight_days",
)
#: The name of the extra Sobol input that stands for the model's own randomness.
WORLD = "model randomness"
#: Distinct random worlds the model-randomness input chooses among.
WORLDS = 2**40


def global_inputs(scenario: Scenario) -> list[str]:
    """Uncertain inputs a global (Sobol) analysis varies by default: those drawn once per replication.

    Example:
        >>> from sim import load_scenario
        >>> keys = global_inputs(load_scenario("baseline"))
        >>> "governance.viable_administration_days" in keys, "governance.hold_days" in keys
        (True, False)
    """
    return [key for key in uncertain_inputs(scenario) if not key.endswith(PER_EVENT_SUFFIXES)]


def sobol_indices(
    scenario: Scenario,
    outcome: str = "first_arrival",
    inputs: Sequence[str] | None = None,
    n: int = 256,
    replications: int = 1,
    seed: int = DEFAULT_SEED,
    workers: int | None = 1,
    progress: Progress = True,
    executor: Any = None,
) -> pd.DataFrame:
    """First-order and total Sobol indices of an outcome, with the model's own randomness as an input.

    Each uncertain input is sampled in probability space: SALib's Sobol sequence draws ``u`` in
    [0, 1] for every input and the input is set to its quantile at ``u``. One more input,
    :data:`WORLD`, picks the random world (the replication) the row runs in: the setbacks, closures,
    partners' delivery, renewals and the per-event durations of :data:`PER_EVENT_SUFFIXES`. Its total
    index is the share of the outcome's variance that the model's own randomness takes part in,
    which no better knowledge of the inputs could remove; its first-order index the share it causes
    alone (``attrs["randomness_S1"]``). A milestone not reached counts as the horizon day. Cost:
    ``n * (inputs + 3) * replications`` replications (no second-order indices).

    What the default base sample buys, measured on the baseline's first landing (27 inputs, n = 256,
    7,680 replications): 95% intervals of about +-0.2 to +-0.25 on the three largest indices (the
    administration, the model's randomness, the transition), enough to rank them above every other
    input (all of whose indices are under 0.1); the intervals shrink as one over the square root of
    ``n``, so +-0.05 needs about 16 times as many runs (``n = 4096``).

    Args:
        scenario: The scenario; never changed.
        outcome: A milestone (its day after the start date) or a total.
        inputs: Dotted keys of the distributions to vary (default: :func:`global_inputs`).
        n: SALib's base sample size; a power of two.
        replications: Worlds averaged per sample row (1: the world is an input of its own; more:
            each row averages this many worlds, which shrinks the randomness's share).
        seed: The seed of the replications, of SALib's scrambled sequence and of its bootstrap.
        workers: Worker processes (1: in this process; ``None`` or 0: one per CPU).
        progress: True: a progress bar over the sample rows once the analysis has run a second; False:
            none; a function: called with the number of sample rows evaluated so far.
        executor: Where the sample rows run (any executor :func:`sim.batch.runner.run` takes: a pool,
            a ``concurrent.futures.Executor``, a Dask client); ``workers`` is then ignored.

    Returns:
        One row per input (the model's randomness included, as ``input`` :data:`WORLD`) ranked by
        total index: ``rank``, ``input``, ``label``, ``S1``, ``S1_conf``, ``ST``, ``ST_conf`` (the conf
        columns: half-widths of 95% bootstrap intervals). ``attrs`` holds ``outcome``, ``n``,
        ``replications``, ``evaluations``, ``seed``, ``output_mean``, ``output_sd``,
        ``randomness_share`` (the world's ST) and ``randomness_S1``. The indices are NaN if the
        output never varies.

    Raises:
        ScenarioError: If the outcome or an input is unknown.
        ValueError: If ``n`` is not a power of two, ``replications`` < 1 or there are no inputs.
        ImportError: If SALib is not installed (``pip install 'deploysim[sobol]'``).
    """
    try:
        from SALib.analyze import sobol as sobol_analyze
        from SALib.sample import sobol as sobol_sample
    except ModuleNotFoundError:
        raise ImportError("Sobol indices need SALib: pip install 'deploysim[sobol]'") from None
    if not is_power_of_two(n):
        raise ValueError(f"n must be a power of two (2, 4, ..., 64, 128...; SALib's Sobol sequence), got {n}")
    if replications < 1:
        raise ValueError(f"replications must be at least 1, got {replications}")
    check_outcome(scenario, outcome)
    dists = scenario_distributions(scenario)
    keys = global_inputs(scenario) if inputs is None else _check_inputs(inputs, dists)
    if not keys:
        raise ValueError("no uncertain inputs to vary")
    names = [*keys, WORLD]
    problem = {"num_vars": len(names), "names": names, "bounds": [[0.0, 1.0]] * len(names)}
    u = sobol_sample.sample(problem, n, calc_second_order=False, seed=seed)
    # Quantile functions are infinite at 0 or 1 for unbounded distributions.
    u = np.clip(u, 1e-12, 1 - 1e-12)
    with progress_callback(progress, len(u), unit="sample") as report:
        y = _evaluate(scenario, outcome, keys, u, seed, replications, workers, report, executor)
    with np.errstate(divide="ignore", invalid="ignore"):
        if np.var(y) > 0:
            si = sobol_analyze.analyze(problem, y, calc_second_order=False, num_resamples=200, conf_level=0.95,
                                       seed=seed)
        else:
            si = {name: np.full(len(names), np.nan) for name in ("S1", "S1_conf", "ST", "ST_conf")}
    table = pd.DataFrame({
        "input": names,
        "label": [key_label(k) for k in keys] + ["The model's own randomness (events, per-event durations)"],
        "S1": si["S1"],
        "S1_conf": si["S1_conf"],
        "ST": si["ST"],
        "ST_conf": si["ST_conf"],
    })
    world = table.iloc[-1]
    table = table.sort_values("ST", ascending=False, kind="stable", na_position="last").reset_index(drop=True)
    table.insert(0, "rank", np.arange(1, len(table) + 1))
    table.attrs.update({
        "outcome": outcome,
        "n": n,
        "replications": replications,
        "evaluations": int(len(u) * replications),
        "seed": seed,
        "output_mean": float(np.mean(y)),
        "output_sd": float(np.std(y)),
        "randomness_share": float(world["ST"]),
        "randomness_S1": float(world["S1"]),
    })
    return table


def is_power_of_two(n: int) -> bool:
    """Whether ``n`` is 2, 4, 8, ...: the base sample sizes SALib's Sobol sequence takes."""
    return n >= 2 and not n & (n - 1)


def sobol_evaluations(n_inputs: int, n: int, replications: int) -> int:
    """Replications a :func:`sobol_indices` call runs over ``n_inputs`` inputs (the world is one more)."""
    return n * (n_inputs + 3) * replications


def _evaluate(scenario: Scenario, outcome: str, keys: list[str], u: np.ndarray, seed: int, replications: int,
              workers: int | None, progress: Callable[[int], None] | None, executor: Any = None) -> np.ndarray:
    """The model output of every sample row, in order, run as tasks on the executor (the scenario sent
    once per worker)."""
    own = executor is None
    chosen = make_executor(resolve_workers(workers)) if own else as_executor(executor)
    n_workers = max(1, int(getattr(chosen, "workers", 1)))
    size = max(1, min(64, -(-len(u) // (4 * n_workers))))
    tasks = [(outcome, keys, u[i : i + size], seed, replications) for i in range(0, len(u), size)]
    out: list[np.ndarray | None] = [None] * len(tasks)
    done = 0
    with chosen if own else contextlib.nullcontext(chosen) as active:
        for index, values in active.map_shared(_evaluate_task, scenario, tasks):
            out[index] = values
            done += len(values)
            if progress is not None:
                progress(done)
    return np.concatenate([values for values in out if values is not None])


def _evaluate_task(scenario: Scenario, task: tuple[str, list[str], np.ndarray, int, int]) -> np.ndarray:
    """Worker: :func:`_evaluate_rows` on a scenario shared once per worker."""
    return _evaluate_rows((scenario, *task))


def _evaluate_rows(task: tuple[Scenario, str, list[str], np.ndarray, int, int]) -> np.ndarray:
    """Worker: the mean outcome over the worlds of each sample row (a milestone not reached: the horizon).

    The row's last column picks its world: replications ``w * R .. w * R + R - 1`` of the seed, with
    ``w`` its quantile among :data:`WORLDS` worlds.
    """
    scenario, outcome, keys, rows, seed, replications = task
    dists = scenario_distributions(scenario)
    column = f"{outcome}_day" if outcome in MILESTONES else outcome
    out = np.empty(len(rows))
    for i, row in enumerate(rows):
        values_at = {key: dists[key].quantile(float(q)) for key, q in zip(keys, row[:-1], strict=True)}
        pinned = derive_values(scenario, values_at)
        world = int(float(row[-1]) * WORLDS)
        values = [float(simulate(pinned, seed, world * replications + r).row()[column])  # type: ignore[arg-type]
                  for r in range(replications)]
        out[i] = float(np.mean([scenario.horizon_days if math.isnan(v) else v for v in values]))
    return out


__all__ = [
    "PER_EVENT_SUFFIXES",
    "WORLD",
    "check_outcome",
    "global_inputs",
    "is_power_of_two",
    "outcome_names",
    "pin_values",
    "scenario_distributions",
    "sobol_evaluations",
    "sobol_indices",
    "tornado",
    "uncertain_inputs",
]
