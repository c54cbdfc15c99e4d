"""Run a batch until named statistics are known to a precision: fixed-size rounds, deterministic.

``deploysim run SCENARIO --precision first_arrival.p50=2d --precision lead_100pct.share=0.01
--max-runs 50000`` runs rounds of ``--runs`` replications (replications 0 to R - 1, then R to 2R - 1,
...) until the 95% confidence interval of every named statistic has a half-width at or below its
target, or ``--max-runs`` is reached. The rounds depend only on the seed and the targets, so the same
command gives the same number of runs and the same tables: those of ``run(scenario, runs=N)``.

Statistics (``NAME.STAT=TARGET``; NAME a milestone or a total of the replications table):

- ``pNN`` (``p50``, ``p90``...): a quantile. Its interval is the distribution-free **order-statistic
  interval**: ranks ``n q -+ 1.96 sqrt(n q (1 - q))`` (the normal approximation to the binomial count
  below the quantile), so it needs no assumption about the shape. For a milestone, a run that does
  not reach it counts as later than the horizon: an interval reaching past the horizon is infinite.
- ``share``: the share of runs reaching a milestone by the horizon; the half-width of its Wilson interval.
- ``mean``: the mean of a total; 1.96 standard errors.

A target may carry the unit ``d`` (days) for a milestone quantile (``2d``); a share's target is a
share (``0.01``: one percentage point).

Each round reruns the batch over all replications so far, but chunks already run are not run again
(:class:`_Reuse` keeps them), so the model runs each replication once.
"""

from __future__ import annotations

import math
import pickle
import re
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from sim.batch.executors import BaseExecutor, as_executor, chunk_size_for, make_executor
from sim.batch.progress import Progress, progress_callback
from sim.batch.results import Results, wilson_interval
from sim.scenario.milestones import MILESTONES

#: z of a two-sided 95% interval.
Z95 = 1.959963984540054

_SPEC = re.compile(r"^(?P<name>[A-Za-z0-9_.]+)\.(?P<stat>p\d{1,2}|share|mean)=(?P<target>[0-9.eE+-]+)(?P<unit>d?)$")


@dataclass(frozen=True)
class PrecisionTarget:
    """``name.stat`` to be known within ``target`` (half-width of its 95% interval)."""

    name: str
    stat: str
    target: float

    @property
    def label(self) -> str:
        return f"{self.name}.{self.stat}"


def parse_precision(items: Sequence[str], known: Sequence[str] = ()) -> list[PrecisionTarget]:
    """Read ``NAME.STAT=TARGET`` strings (``first_arrival.p50=2d``, ``lead_100pct.share=0.01``).

    Args:
        items: The strings.
        known: Names of the totals the scenario's replications table has (milestones are always known).

    Raises:
        ValueError: If a string is malformed, names an unknown milestone or total, pairs a statistic
            with what it does not apply to, or has a target that is not above 0.
    """
    targets = []
    for item in items:
        match = _SPEC.match(item.strip())
        if match is None:
            raise ValueError(f"--precision {item!r}: expected NAME.STAT=TARGET with STAT pNN, share or mean, "
                             "e.g. first_arrival.p50=2d or lead_100pct.share=0.01")
        name, stat, unit = match["name"], match["stat"], match["unit"]
        try:
            target = float(match["target"])
        except ValueError:
            raise ValueError(f"--precision {item!r}: the target is not a number") from None
        if not (target > 0 and math.isfinite(target)):
            raise ValueError(f"--precision {item!r}: the target must be a number above 0")
        milestone = name in MILESTONES
        if not milestone and name not in known:
            raise ValueError(f"--precision {item!r}: {name} is neither a milestone nor a total")
        if stat == "share" and not milestone:
            raise ValueError(f"--precision {item!r}: share applies to milestones (the share reaching it)")
        if stat == "mean" and milestone:
            raise ValueError(f"--precision {item!r}: a milestone's mean is undefined when some runs do not reach "
                             "it; ask for a quantile (p50) or the share")
        if unit == "d" and not (milestone and stat.startswith("p")):
            raise ValueError(f"--precision {item!r}: the unit d (days) applies to a milestone's quantile")
        if stat.startswith("p") and not 0 < int(stat[1:]) < 100:
            raise ValueError(f"--precision {item!r}: a quantile is p1 to p99")
        if stat == "share" and target >= 0.5:
            raise ValueError(f"--precision {item!r}: a share's half-width target must be below 0.5")
        targets.append(PrecisionTarget(name, stat, target))
    return targets


def estimate(results: Results, target: PrecisionTarget) -> tuple[float, float]:
    """The statistic and the half-width of its 95% interval over the batch's replications."""
    if target.name in MILESTONES:
        values = results.milestone_days(target.name)
        values = np.where(np.isnan(values), np.inf, values)  # not reached: later than the horizon
    else:
        values = results.column(target.name).to_numpy(dtype=float)
    n = len(values)
    if target.stat == "share":
        reached = int(np.isfinite(values).sum())
        low, high = wilson_interval(reached, n)
        return reached / n, (high - low) / 2
    if target.stat == "mean":
        mean = float(np.mean(values))
        return mean, Z95 * float(np.std(values, ddof=1)) / math.sqrt(n) if n > 1 else math.inf
    return order_statistic_interval(values, int(target.stat[1:]) / 100)


def order_statistic_interval(values: np.ndarray, q: float) -> tuple[float, float]:
    """The ``q`` quantile and the half-width of its distribution-free 95% interval (order statistics).

    The ranks are ``n q -+ z sqrt(n q (1 - q))`` rounded outwards; infinite when a rank falls outside
    the sample or an end of the interval is infinite (censored).
    """
    x = np.sort(values)
    n = len(x)
    point = float(x[min(n - 1, max(0, math.ceil(n * q) - 1))])
    spread = Z95 * math.sqrt(n * q * (1 - q))
    lo, hi = math.floor(n * q - spread), math.ceil(n * q + spread)
    if lo < 1 or hi > n:
        return point, math.inf
    low, high = float(x[lo - 1]), float(x[hi - 1])
    return point, (high - low) / 2 if math.isfinite(high) and math.isfinite(low) else math.inf


class _Reuse(BaseExecutor):
    """An executor that runs each chunk once: chunks it has run before are yielded again, from memory or,
    given a ``folder``, from a file each there (so that memory stays flat however many rounds)."""

    def __init__(self, inner: Any, folder: Path | None = None):
        self.inner = inner
        self.workers = getattr(inner, "workers", 1)
        self.min_chunk = getattr(inner, "min_chunk", 1)
        self._done: dict[tuple[int, int], Any] = {}
        self._folder = folder

    def _keep(self, key: tuple[int, int], result: Any) -> None:
        if self._folder is None:
            self._done[key] = result
            return
        path = self._folder / f"chunk-{key[0]:012d}-{key[1]:012d}.pkl"
        path.write_bytes(pickle.dumps(result, protocol=pickle.HIGHEST_PROTOCOL))
        self._done[key] = path

    def _get(self, key: tuple[int, int]) -> Any:
        kept = self._done[key]
        return pickle.loads(kept.read_bytes()) if isinstance(kept, Path) else kept

    def map_shared(self, fn: Any, scenario: Any, tasks: Sequence[Any]) -> Iterator[tuple[int, Any]]:
        return self.inner.map_shared(fn, scenario, tasks)

    def map_chunks(self, chunks: Sequence[Any]) -> Iterator[Any]:
        new = [c for c in chunks if (c.start, c.stop) not in self._done]
        for chunk in chunks:
            if (chunk.start, chunk.stop) in self._done:
                yield self._get((chunk.start, chunk.stop))
        stops = {c.start: c.stop for c in new}
        for result in self.inner.map_chunks(new):
            self._keep((result.start, stops[result.start]), result)
            yield result


def run_to_precision(
    scenario: Any,
    targets: Sequence[PrecisionTarget],
    round_runs: int = 1000,
    max_runs: int = 100_000,
    seed: int | None = None,
    workers: int | None = 1,
    executor: Any = None,
    progress: Progress = True,
    spill: str | Path | bool | None = None,
    **run_options: Any,
) -> Results:
    """Run rounds of ``round_runs`` replications until every target is met or ``max_runs`` is reached.

    Args:
        scenario: The resolved scenario.
        targets: What to know, and how well (see :func:`parse_precision`).
        round_runs: Replications per round (the last round stops at ``max_runs``).
        max_runs: Most replications in all.
        seed: The batch seed (default: the package's).
        workers: Worker processes when no executor is given.
        executor: Where the replications run (see :func:`sim.batch.runner.run`).
        progress: As for :func:`sim.batch.runner.run`, over ``max_runs``.
        spill: As for :func:`sim.batch.runner.run`: each round's tables go to Parquet files instead of
            memory (a folder: to ``round-<k>`` in it, each round's removed once the next is done), and
            the chunks already run wait in files there until the last round (removed then).
        run_options: Passed on to :func:`sim.batch.runner.run` (``strength_dates``, ``max_failures``...).

    Returns:
        The batch of the last round (equal to ``run(scenario, runs=N, seed=seed)``), with
        ``results.precision``: ``round_runs``, ``max_runs``, ``rounds``, ``runs``, ``met`` and, per
        target, its ``estimate``, ``half_width``, ``target`` and ``met``.

    Raises:
        ValueError: If there are no targets, ``round_runs`` < 1 or ``max_runs`` < ``round_runs``.
    """
    from sim.batch.defaults import DEFAULT_SEED
    from sim.batch.runner import run

    if not targets:
        raise ValueError("no precision targets given")
    if round_runs < 1 or max_runs < round_runs:
        raise ValueError(f"need 1 <= round runs <= max runs, got {round_runs} and {max_runs}")
    seed = DEFAULT_SEED if seed is None else seed
    own = executor is None
    inner = make_executor(workers) if own else as_executor(executor)
    # Chunks that divide a round, so every round's chunks are the earlier rounds' plus new ones.
    size = chunk_size_for(round_runs, inner)
    while round_runs % size:
        size -= 1
    seen = 0
    with progress_callback(progress, max_runs) as report:

        def step(n: int) -> None:
            nonlocal seen
            seen = max(seen, n)
            if report is not None:
                report(seen)

        entered = inner.__enter__() if own else inner
        try:
            folder = None if spill is None or spill is False else (
                Path(tempfile.mkdtemp(prefix="deploysim-precision-")) if spill is True else Path(spill))
            chunks = None
            if folder is not None:
                chunks = folder / "chunks"
                chunks.mkdir(parents=True, exist_ok=False)
            reuse = _Reuse(entered, chunks)
            rounds, runs = 0, 0
            previous: Results | None = None
            try:
                while True:
                    rounds += 1
                    runs = min(rounds * round_runs, max_runs)
                    tables = None if folder is None else (True if spill is True else folder / f"round-{rounds}")
                    results = run(scenario, runs=runs, seed=seed, executor=reuse, chunk_size=size, progress=step,
                                  spill=tables, **run_options)
                    if previous is not None and previous.spill is not None:
                        previous.spill.remove()
                    previous = results
                    reached = {t.label: estimate(results, t) for t in targets}
                    met = all(reached[t.label][1] <= t.target for t in targets)
                    if met or runs >= max_runs:
                        break
            except BaseException:
                if previous is not None and previous.spill is not None:
                    previous.spill.remove()
                raise
            finally:
                if chunks is not None:
                    shutil.rmtree(chunks, ignore_errors=True)
                if spill is True and folder is not None:
                    shutil.rmtree(folder, ignore_errors=True)
        finally:
            if own:
                inner.__exit__(None, None, None)
    results.precision = {
        "round_runs": round_runs,
        "max_runs": max_runs,
        "rounds": rounds,
        "runs": runs,
        "met": met,
        "interval": "95%: order statistics for quantiles, Wilson for shares, normal for means",
        # An infinite half-width (too few runs, or censored at the horizon) is stored as None (JSON has no inf).
        "targets": {t.label: {"estimate": _finite(reached[t.label][0]), "half_width": _finite(reached[t.label][1]),
                              "target": t.target, "met": reached[t.label][1] <= t.target} for t in targets},
    }
    return results


def _finite(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


def precision_text(precision: dict[str, Any]) -> str:
    """One line per target: the estimate, the half-width reached and the target."""
    head = (f"Precision {'reached' if precision['met'] else 'NOT reached'} after {precision['runs']:,} runs "
            f"({precision['rounds']} round(s) of {precision['round_runs']:,}; at most {precision['max_runs']:,}):")
    lines = [head]
    for label, t in precision["targets"].items():
        half = "inf" if t["half_width"] is None else f"{t['half_width']:.4g}"
        value = "after the horizon" if t["estimate"] is None else f"{t['estimate']:.4g}"
        lines.append(f"  {label:<32} {value} +- {half} (target +- {t['target']:.4g})"
                     f"{'' if t['met'] else '  not met'}")
    return "\n".join(lines)


__all__ = ["PrecisionTarget", "estimate", "order_statistic_interval", "parse_precision", "precision_text",
           "run_to_precision"]
