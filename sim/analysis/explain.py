"""Counterfactuals: how much earlier a milestone comes with one cause of delay removed.

Each cause on the critical path (:mod:`sim.model.critical`) has a change to the scenario that
removes it: its condition always open or its work instant (no airport closures, a transition that
takes no time, no training...). :func:`explain` reruns the batch once per cause with that change,
with the same seed, so replication ``k`` of each rerun is the same world as in the base run but for
the removed cause, and reports the paired shift of the milestone (its restricted mean day, its P50
and the share of runs reaching it) beside the days the base run's ledger charged to the cause.

Where causes act in series the shift and the ledger agree. Where they overlap (parallel paths, slack
taken up by another cause) removing one cause gains less than its ledger days, because the next
cause in line then holds the milestone back; the table says so.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from sim.analysis.compare import restricted_days, t95
from sim.batch.defaults import DEFAULT_SEED
from sim.batch.progress import Progress, progress_callback
from sim.batch.results import Z95, Results, censored_quantile
from sim.scenario.loader import derive
from sim.scenario.milestones import MILESTONES
from sim.scenario.schema import Scenario

#: A trust fund that never runs short: the schema's largest starting balance (US$).
MONEY_WITHOUT_LIMIT = 1e13
#: Bootstrap resamples for the P50 shift's interval.
BOOTSTRAP = 400


def removals(scenario: Scenario) -> dict[str, dict[str, Any]]:
    """For each cause that can be removed, the scenario changes (dotted keys) that remove it.

    Gates are removed by name (open from the start, never blocked). ``base`` (waiting for room) is
    removed by room for every officer from the start, which removes ``base construction`` too. With
    tranches, ``tranche decision`` is removed by decisions without delay and ``mission strength`` by
    decisions that need no officers in theatre.
    Causes that are not delays (``tour``, ``arrears``) have no removal.
    """
    force = scenario.force
    out: dict[str, dict[str, Any]] = {
        "transition": {"governance.transitional_authority_days": 0},
        "administration": {"governance.viable_administration_days": 0},
        "hold": {"governance.setbacks_per_year": 0},
        "reconnaissance": {"reconnaissance.lead_time_days": 0, "reconnaissance.duration_days": 0},
        "funding": {"funding.initial_balance_usd": MONEY_WITHOUT_LIMIT},
        "training": {"force.training.duration_days": 0,
                     "force.training.capacity_officers": max(force.pledged_officers, force.training.capacity_officers)},
        "airlift": {"logistics.airlift.days_between_flights": 0},
        "airport": {"logistics.airport.closed_at_start": False, "logistics.airport.closures_per_year": 0},
        "flight": {"logistics.airlift.flight_days": 0},
    }
    if scenario.mandate is not None:
        out["mandate"] = {"mandate.renewal_probability": 1.0}
    if not scenario.unlimited_base:
        stages = [stage.model_dump(mode="json") for stage in scenario.base.stages]
        if stages:
            out["base construction"] = {"base.stages": [{**s, "duration_days": 0} for s in stages]}
        out["base"] = {"base.initial_capacity_officers": 10 * scenario.mission_size_officers, "base.stages": []}
    if scenario.contributors:
        out["partner readiness"] = {
            **{f"contributors.{name}.delay_days": 0 for name in scenario.contributors},
            **{f"contributors.{name}.days_between_contingents": 0 for name in scenario.contributors},
        }
    for name in scenario.gates:
        out[name] = {f"gates.{name}.open_at_start": True, f"gates.{name}.blocks_per_year": 0}
    if force.tranches:
        tranches = [{k: v for k, v in t.model_dump(mode="json").items() if v is not None} for t in force.tranches]
        out["training"]["force.tranches"] = [{**t, "training_days": 0} for t in tranches]
        out["tranche decision"] = {"force.tranches": [{**t, "decision_days": 0} for t in tranches]}
        strength = "min_lead_in_theatre_officers"
        out["mission strength"] = {"force.tranches": [{k: v for k, v in t.items() if k != strength} for t in tranches]}
    return out


@dataclass(frozen=True)
class Explanation:
    """The base batch, one batch per removed cause, and the table comparing them.

    Attributes:
        milestone: The milestone explained.
        base: The batch of the scenario as it is.
        counterfactuals: Cause -> the batch with that cause removed (same seed and runs).
        table: One row per cause (see :func:`explain`).
        interactions: Pairs of the top causes removed together (see :func:`explain`), or empty.
    """

    milestone: str
    base: Results
    counterfactuals: dict[str, Results]
    table: pd.DataFrame
    interactions: pd.DataFrame

    def sentences(self, top: int = 3) -> list[str]:
        """Plain-language findings for the causes whose removal moves the milestone most."""
        label = MILESTONES[self.milestone]
        out = []
        for row in self.table.head(top).itertuples():
            shift = row.rmean_shift_days
            if math.isnan(shift):
                continue
            when = "earlier" if shift < 0 else "later"
            out.append(
                f"Without {row.cause}, '{label}' comes {abs(shift):.0f} days {when} on average "
                f"({abs(row.rmean_ci95_high if shift < 0 else row.rmean_ci95_low):.0f} to "
                f"{abs(row.rmean_ci95_low if shift < 0 else row.rmean_ci95_high):.0f}); the ledger charged it "
                f"{row.ledger_mean_days:.0f} days."
            )
        return out


def paired_shift(base_days: np.ndarray, other_days: np.ndarray, horizon: float, seed: int) -> dict[str, float]:
    """Paired shifts of ``other`` against ``base`` (replication by replication).

    Returns ``rmean_shift_days`` with ``rmean_ci95_low/high`` (the restricted mean, not reached
    counting as the horizon; Student t on the paired differences), ``p50_shift_days`` with
    ``p50_ci95_low/high`` (a bootstrap over replications, pairs kept together), and
    ``share_change`` with ``share_ci95_low/high`` (paired differences of the indicators, normal).
    """
    a, b = restricted_days(base_days, horizon), restricted_days(other_days, horizon)
    diff = b - a
    n = len(diff)
    out: dict[str, float] = {"rmean_shift_days": float(diff.mean())}
    half = t95(n - 1) * float(diff.std(ddof=1)) / math.sqrt(n) if n > 1 else math.nan
    out["rmean_ci95_low"], out["rmean_ci95_high"] = out["rmean_shift_days"] - half, out["rmean_shift_days"] + half
    out["p50_shift_days"] = censored_quantile(other_days, 0.5) - censored_quantile(base_days, 0.5)
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(0x50,)))
    picks = rng.integers(0, n, size=(BOOTSTRAP, n))
    shifts = np.array([censored_quantile(other_days[p], 0.5) - censored_quantile(base_days[p], 0.5) for p in picks])
    shifts = shifts[~np.isnan(shifts)]
    if len(shifts) >= 0.9 * BOOTSTRAP:
        out["p50_ci95_low"], out["p50_ci95_high"] = (float(q) for q in np.quantile(shifts, [0.025, 0.975]))
    else:
        out["p50_ci95_low"] = out["p50_ci95_high"] = math.nan
    reached = (~np.isnan(other_days)).astype(float) - (~np.isnan(base_days)).astype(float)
    out["share_change"] = float(reached.mean())
    half = Z95 * float(reached.std(ddof=1)) / math.sqrt(n) if n > 1 else math.nan
    out["share_ci95_low"], out["share_ci95_high"] = out["share_change"] - half, out["share_change"] + half
    return out


def explain(
    scenario: Scenario,
    milestone: str = "first_arrival",
    runs: int = 500,
    seed: int = DEFAULT_SEED,
    causes: Sequence[str] | None = None,
    workers: int | None = 1,
    interactions: int = 3,
    progress: Progress = True,
    executor: Any = None,
) -> Explanation:
    """Rerun a scenario once per cause of delay with that cause removed, under common random numbers.

    Args:
        scenario: The resolved scenario.
        milestone: The milestone to explain.
        runs: Replications per batch.
        seed: The seed of every batch.
        causes: Causes to remove (default: every removable cause the base run's ledger charged any
            days to for this milestone).
        workers: Worker processes (1: in this process; None or 0: one per CPU). Ignored when
            ``executor`` is given.
        interactions: The number of top causes (by shift) whose pairs are also removed together, for
            their interaction (0: none).
        progress: True: a progress bar once the reruns have taken a second; False: none; a function:
            called with the number of replications finished so far, over all batches.
        executor: Where every batch runs, the base, the counterfactuals and the pairs (see
            :func:`sim.batch.runner.run`); default: one made from ``workers``, kept for all of them.

    Returns:
        An :class:`Explanation`. Its table has one row per cause, largest gain first: ``cause``, the
        base ledger's ``ledger_mean_days`` (mean over the runs reaching the milestone) and
        ``ledger_share`` (share of them where it took any days); the paired shifts of
        :func:`paired_shift`; ``changes`` (the scenario changes that removed it). Its interactions
        table has ``cause_a, cause_b, both_shift_days`` (restricted mean shift with both removed) and
        ``interaction_days`` (that minus the two single shifts: negative when the pair gains more
        together than apart, as two causes on parallel paths do).

    Raises:
        KeyError: If ``milestone`` is unknown or a cause cannot be removed.
        ScenarioError: If a removal does not validate against the scenario.
    """
    from sim.analysis.sweep import resolve_workers
    from sim.batch.executors import as_executor, make_executor

    if milestone not in MILESTONES:
        raise KeyError(f"unknown milestone {milestone!r}; known: {', '.join(MILESTONES)}")
    available = removals(scenario)
    if causes is not None:
        for cause in causes:
            if cause not in available:
                raise KeyError(f"cause {cause!r} cannot be removed; removable: {', '.join(available)}")
    pairs_run = max(0, interactions) * (max(0, interactions) - 1) // 2
    total = runs * (1 + len(causes if causes is not None else available) + pairs_run)
    own = executor is None
    chosen = make_executor(resolve_workers(workers)) if own else as_executor(executor)
    with (chosen if own else contextlib.nullcontext(chosen)) as active, \
            progress_callback(progress, total) as report:
        return _explain(scenario, milestone, runs, seed, causes, active, interactions, available, report)


def _explain(scenario: Scenario, milestone: str, runs: int, seed: int, causes: Sequence[str] | None,
             executor: Any, interactions: int, available: dict[str, dict[str, Any]],
             report: Callable[[int], None] | None) -> Explanation:
    from sim.analysis.sweep import run_batches

    done = 0

    def step(n: int) -> None:
        if report is not None:
            report(done + n)

    # The shifts pair replication k of every batch: a failed replication stops the analysis (fail_fast).
    [base] = run_batches([scenario], runs=runs, seed=seed, executor=executor, progress=step, fail_fast=True)
    done += runs
    ledger = base.delay_summary([milestone]).set_index("cause")
    if causes is None:
        causes = [c for c in ledger.index if c in available]
    variants = [derive(scenario, available[c]) for c in causes]
    batches = run_batches(variants, runs=runs, seed=seed, executor=executor, progress=step, fail_fast=True)
    done += runs * len(variants)
    counterfactuals = dict(zip(causes, batches, strict=True))
    horizon = scenario.horizon_days
    base_days = base.milestone_days(milestone)
    rows = []
    for cause, batch in counterfactuals.items():
        row: dict[str, Any] = {"cause": cause,
                               "ledger_mean_days": float(ledger["mean_days"].get(cause, 0.0)),
                               "ledger_share": float(ledger["share_with_days"].get(cause, 0.0))}
        row.update(paired_shift(base_days, batch.milestone_days(milestone), horizon, seed))
        row["changes"] = "; ".join(f"{k}={_text(v)}" for k, v in available[cause].items())
        rows.append(row)
    table = pd.DataFrame(rows)
    if len(table):
        table = table.sort_values("rmean_shift_days", kind="stable").reset_index(drop=True)

    pairs = []
    top = list(table["cause"][: max(0, interactions)]) if len(table) else []
    combos = [(a, b) for i, a in enumerate(top) for b in top[i + 1:]]
    if combos:
        both = run_batches([derive(scenario, {**available[a], **available[b]}) for a, b in combos],
                           runs=runs, seed=seed, executor=executor, progress=step, fail_fast=True)
        singles = table.set_index("cause")["rmean_shift_days"]
        for (a, b), batch in zip(combos, both, strict=True):
            shift = paired_shift(base_days, batch.milestone_days(milestone), horizon, seed)["rmean_shift_days"]
            pairs.append({"cause_a": a, "cause_b": b, "both_shift_days": shift,
                          "interaction_days": shift - singles[a] - singles[b]})
    return Explanation(milestone, base, counterfactuals, table,
                       pd.DataFrame(pairs, columns=["cause_a", "cause_b", "both_shift_days", "interaction_days"]))


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return f"[{len(value)} stages]" if value and isinstance(value[0], dict) else str(value)
    return f"{value:g}" if isinstance(value, float) else str(value)
