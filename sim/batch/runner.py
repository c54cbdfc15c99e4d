"""Monte Carlo batches: many replications of one scenario, run by an executor, gathered as Results.

Replications are sent in chunks. Each worker runs :func:`sim.model.simulate` for its chunk and sends
back flat rows plus the step series sampled on the daily grid, never SimPy objects. Because every
replication seeds itself from (seed, index), the tables do not depend on the executor, the number of
workers or the chunk size.
"""

from __future__ import annotations

import datetime as dt
import os
import time
import traceback
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from sim.batch.defaults import DEFAULT_SEED

# The executors live in their own module; their names stay importable from here.
from sim.batch.executors import (  # noqa: F401
    DaskExecutor,
    Executor,
    FuturesExecutor,
    InProcess,
    ProcessPool,
    _worker_start,
    as_executor,
    chunk_size_for,
    make_executor,
)
from sim.batch.progress import Progress, progress_callback
from sim.batch.results import Results, bands_from_daily, checkpoint_dates, delays_frame, strength_frame
from sim.model import simulate
from sim.model.mission import GC_THRESHOLD, rare_collections
from sim.model.record import series_names
from sim.scenario.asof import AsOf
from sim.scenario.milestones import GATED_MILESTONES
from sim.scenario.schema import Scenario


@dataclass(frozen=True)
class Chunk:
    """A slice of a batch: replications ``start`` to ``stop - 1``."""

    scenario: Scenario
    seed: int
    start: int
    stop: int
    as_of: AsOf | None = None


@dataclass(frozen=True)
class ChunkResult:
    """What a worker sends back for one chunk."""

    start: int
    rows: list[dict[str, object]]
    daily: dict[str, np.ndarray]  # series name -> (replications in chunk, horizon + 1)
    delays: list[tuple[int, str, str, float]]  # (replication, milestone, cause, days)
    #: Replications of the chunk that raised: absent from ``rows`` and ``delays``; NaN in ``daily``.
    failures: list[Failure] = field(default_factory=list)


@dataclass(frozen=True)
class Failure:
    """A replication that raised: its index, the batch seed, the error in one line and its traceback."""

    replication: int
    seed: int
    error: str
    traceback: str


#: Generation-0 threshold of the garbage collector while a chunk runs (see :func:`sim.model.mission.rare_collections`).
BATCH_GC_THRESHOLD = GC_THRESHOLD
_rare_collections = rare_collections


def _fill_daily(out: np.ndarray, days: np.ndarray, values: np.ndarray, grid: np.ndarray) -> None:
    """``out[d]`` = the series at the end of day d, as :meth:`sim.model.record.Record.daily` gives it.

    Each value holds from the first day whose end follows its change: one repeat of the few values,
    instead of a search per day.
    """
    starts = np.searchsorted(grid, days, side="right")
    if len(starts) and starts[0] == 0:
        out[:] = np.repeat(values, np.diff(starts, append=len(out)))
        return
    idx = np.searchsorted(days, grid, side="left") - 1
    out[:] = np.where(idx >= 0, values[np.clip(idx, 0, None)], np.nan)


def _fill_daily_all(out: np.ndarray, series: list[tuple[np.ndarray, np.ndarray]], grid: np.ndarray) -> None:
    """``out[s]`` = :func:`_fill_daily` of ``series[s]``, for all of one replication's series at once.

    The series are laid end to end, each shifted by its row's offset, so one search and one repeat
    fill every row (a replication has about eight series of a few dozen changes each).
    """
    rows, width = out.shape
    days = np.concatenate([d for d, _ in series])
    lengths = [len(d) for d, _ in series]
    starts = np.searchsorted(grid, days, side="right")
    firsts = np.cumsum([0, *lengths[:-1]])
    if min(lengths) == 0 or starts[firsts].any():
        for row, (d, v) in zip(out, series, strict=True):
            _fill_daily(row, d, v, grid)
        return
    starts += np.repeat(np.arange(rows) * width, lengths)
    values = np.concatenate([v for _, v in series])
    out[:] = np.repeat(values, np.diff(starts, append=rows * width)).reshape(rows, width)


def run_chunk(chunk: Chunk) -> ChunkResult:
    """Run the replications of one chunk (in whichever process this is called)."""
    horizon = chunk.scenario.horizon_days
    rows = []
    delays: list[tuple[int, str, str, float]] = []
    failures: list[Failure] = []
    names = series_names(chunk.scenario)
    # One block, series by replication by day; each series' table is a view of it.
    block = np.empty((len(names), chunk.stop - chunk.start, horizon + 1))
    daily = {name: block[s] for s, name in enumerate(names)}
    grid = np.arange(1, horizon + 2, dtype=float)
    with _rare_collections():
        for i, k in enumerate(range(chunk.start, chunk.stop)):
            try:
                record = simulate(chunk.scenario, chunk.seed, k, as_of=chunk.as_of)
            except Exception as exc:  # isolated: recorded, and the batch goes on (see run's max_failures)
                failures.append(Failure(k, int(chunk.seed), f"{type(exc).__name__}: {exc}", traceback.format_exc()))
                for name in names:
                    daily[name][i] = np.nan
                continue
            rows.append(record.row())
            delays += record.delay_rows()
            _fill_daily_all(block[:, i, :], [record.series[name] for name in names], grid)
    return ChunkResult(chunk.start, rows, daily, delays, failures)


#: Largest batch seed: the tables store it as an unsigned 64-bit integer.
MAX_SEED = 2**64 - 1


def _chunks(scenario: Scenario, seed: int, runs: int, chunk_size: int, as_of: AsOf | None = None) -> list[Chunk]:
    return [
        Chunk(scenario, seed, start, min(start + chunk_size, runs), as_of) for start in range(0, runs, chunk_size)
    ]


def run(
    scenario: Scenario,
    runs: int = 1000,
    seed: int = DEFAULT_SEED,
    workers: int | None = 1,
    executor: Any = None,
    chunk_size: int | None = None,
    keep_daily: bool = False,
    progress: Progress = True,
    strength_dates: Iterable[dt.date] = (),
    as_of: AsOf | None = None,
    max_failures: int | None = None,
    fail_fast: bool = False,
) -> Results:
    """Run a Monte Carlo batch of one scenario.

    Args:
        scenario: The resolved scenario.
        runs: Number of replications.
        seed: The batch seed; replication ``k`` is fixed by (seed, k).
        workers: Worker processes (1: in this process; ``None`` or 0: one per CPU). Ignored when
            ``executor`` is given.
        executor: An explicit executor: one of :mod:`sim.batch.executors`, any
            ``concurrent.futures.Executor`` or a Dask ``distributed.Client`` (see :func:`as_executor`).
        chunk_size: Replications per chunk sent to a worker (default: :func:`chunk_size_for`, about
            four chunks per worker).
        keep_daily: Also keep every replication's daily series in ``results.daily``.
        strength_dates: Dates (besides the default checkpoints every six months) at which to keep each
            replication's officers in theatre in ``results.strength``, for deadlines such as
            ``strength>=500@2024-12-31``.
        as_of: Re-forecast from a date, holding fixed what the observations say happened before it
            (:func:`sim.scenario.asof.as_of`). The tables keep the scenario's start date as day 0.
        progress: True: a progress bar once the batch has run a second (a widget in a notebook);
            False: none; a function: called with the number of replications finished after each chunk.
        max_failures: Replications allowed to raise before the batch stops (default:
            :func:`default_max_failures`, the larger of 10 and 1% of the runs). A failed replication
            is recorded in ``results.failures`` (index, seed, error, traceback) and left out of every
            table: bands, shares and counts are over the replications that finished.
        fail_fast: Stop at the first failed replication (as ``max_failures=0``).

    Returns:
        The batch's :class:`sim.batch.results.Results`.

    Raises:
        ValueError: If ``runs`` < 1 or ``seed`` is not a whole number from 0 to 2**64 - 1 (checked
            before any work).
        BatchFailed: If more replications raised than ``max_failures`` allows, or every one did.

    Example:
        >>> from sim import load_scenario, run
        >>> res = run(load_scenario("baseline"), runs=20, seed=1, progress=False)
        >>> len(res.replications)
        20
    """
    if runs < 1:
        raise ValueError(f"runs must be at least 1, got {runs}")
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or not 0 <= seed <= MAX_SEED:
        raise ValueError(f"seed must be a whole number from 0 to 2**64 - 1, got {seed!r}")
    if max_failures is not None and max_failures < 0:
        raise ValueError(f"max_failures must be 0 or more, got {max_failures}")
    allowed = 0 if fail_fast else default_max_failures(runs) if max_failures is None else max_failures
    started = time.perf_counter()
    if executor is None:
        # Never more workers than replications: the extra processes would only start and stop.
        wanted = os.cpu_count() or 1 if workers is None or workers == 0 else workers
        executor = make_executor(min(wanted, runs))
    executor = as_executor(executor)
    if chunk_size is None:
        chunk_size = chunk_size_for(runs, executor)
    chunks = _chunks(scenario, seed, runs, chunk_size, as_of)
    rows: list[list[dict[str, object]]] = [[] for _ in chunks]
    names = series_names(scenario)
    daily = {name: np.empty((runs, scenario.horizon_days + 1)) for name in names}
    delays: list[list[tuple[int, str, str, float]]] = [[] for _ in chunks]
    failures: list[Failure] = []
    done = 0
    with progress_callback(progress, runs) as report:
        for result in executor.map_chunks(chunks):
            n = len(result.rows) + len(result.failures)
            rows[result.start // chunk_size] = result.rows
            delays[result.start // chunk_size] = result.delays
            for name in names:
                daily[name][result.start : result.start + n] = result.daily[name]
            done += n
            if result.failures:
                failures += result.failures
                if len(failures) > allowed or len(failures) == runs:
                    raise BatchFailed(sorted(failures, key=lambda f: f.replication), allowed, runs)
            if report is not None:
                report(done)
    failures.sort(key=lambda f: f.replication)
    kept = _drop_failed(daily, failures, runs)
    replications = _replications_frame(row for chunk in rows for row in chunk)
    strength = strength_frame(daily, scenario, checkpoint_dates(scenario, strength_dates))
    if failures:
        # strength_frame numbers the rows it is given; give them back their replication indices.
        strength["replication"] = kept[strength["replication"].to_numpy()]
    return Results(
        scenario=scenario,
        seed=seed,
        runs=runs,
        replications=replications,
        bands=bands_from_daily(daily, scenario.start_date),
        daily=daily if keep_daily else None,
        wall_time_s=time.perf_counter() - started,
        delays=delays_frame([row for chunk in delays for row in chunk]),
        strength=strength,
        failures=failures_frame(failures),
        as_of=as_of,
    )


# -- isolated failures ---------------------------------------------------------------------------


def default_max_failures(runs: int) -> int:
    """Failed replications a batch tolerates by default: the larger of 10 and 1% of the runs (rounded up)."""
    return max(10, -(-runs // 100))


class BatchFailed(RuntimeError):
    """More replications raised than the batch allows (``max_failures``; 0 with ``fail_fast``).

    Attributes:
        failures: The failures seen so far, by replication.
        allowed: The limit that was passed.
        runs: The batch's replications.
    """

    def __init__(self, failures: list[Failure], allowed: int, runs: int):
        self.failures = failures
        self.allowed = allowed
        self.runs = runs
        first = failures[0]
        limit = "every replication failed" if len(failures) == runs else (
            f"{len(failures)} replication(s) failed, more than the {allowed} allowed (--max-failures)")
        super().__init__(f"{limit}; first: replication {first.replication} (seed {first.seed}): {first.error}; "
                         f"reproduce it with: deploysim trace SCENARIO --seed {first.seed} "
                         f"--replication {first.replication}")


def failures_frame(failures: Sequence[Failure]) -> pd.DataFrame:
    """The failed replications as a table: ``replication``, ``seed``, ``error``, ``traceback``."""
    return pd.DataFrame({
        "replication": pd.Series([f.replication for f in failures], dtype="int64"),
        "seed": pd.Series([f.seed for f in failures], dtype="uint64"),
        "error": pd.Series([f.error for f in failures], dtype="string"),
        "traceback": pd.Series([f.traceback for f in failures], dtype="string"),
    })


def _drop_failed(daily: dict[str, np.ndarray], failures: Sequence[Failure], runs: int) -> np.ndarray:
    """Remove the failed replications' rows from ``daily`` (in place); return the indices kept."""
    keep = np.ones(runs, dtype=bool)
    keep[[f.replication for f in failures]] = False
    if failures:
        for name in daily:
            daily[name] = daily[name][keep]
    return np.flatnonzero(keep)


def _replications_frame(rows: Iterable[dict[str, object]]) -> pd.DataFrame:
    frame = pd.DataFrame(list(rows))
    for name in GATED_MILESTONES:
        frame[f"{name}_binding"] = frame[f"{name}_binding"].astype("string")
    return frame
