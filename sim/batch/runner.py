"""Monte Carlo batches: many replications of one scenario, run by an executor, gathered as Results.

Replications are sent in chunks. Each worker runs :func:`sim.model.simulate` for its chunk and sends
back flat rows plus the step series sampled on the daily grid, never SimPy objects. Because every
replication seeds itself from (seed, index), the tables do not depend on the executor, the number of
workers or the chunk size.
"""

from __future__ import annotations

import datetime as dt
import gc
import os
import time
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import pandas as pd

from sim.batch.defaults import DEFAULT_SEED
from sim.batch.progress import Progress, progress_callback
from sim.batch.results import Results, bands_from_daily, checkpoint_dates, delays_frame, strength_frame
from sim.model import simulate
from sim.model.mission import GC_THRESHOLD, rare_collections
from sim.model.record import series_names
from sim.scenario.milestones import GATED_MILESTONES
from sim.scenario.schema import Scenario


@dataclass(frozen=True)
class Chunk:
    """A slice of a batch: replications ``start`` to ``stop - 1``."""

    scenario: Scenario
    seed: int
    start: int
    stop: int


@dataclass(frozen=True)
class ChunkResult:
    """What a worker sends back for one chunk."""

    start: int
    rows: list[dict[str, object]]
    daily: dict[str, np.ndarray]  # series name -> (replications in chunk, horizon + 1)
    delays: list[tuple[int, str, str, float]]  # (replication, milestone, cause, days)


#: Generation-0 threshold of the garbage collector while a chunk runs (see :func:`sim.model.mission.rare_collections`).
BATCH_GC_THRESHOLD = GC_THRESHOLD
_rare_collections = rare_collections


def _worker_start() -> None:
    """Set up a pool worker: what it inherited or imported is never garbage, so the collector skips it."""
    gc.freeze()


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
    names = series_names(chunk.scenario)
    # One block, series by replication by day; each series' table is a view of it.
    block = np.empty((len(names), chunk.stop - chunk.start, horizon + 1))
    daily = {name: block[s] for s, name in enumerate(names)}
    grid = np.arange(1, horizon + 2, dtype=float)
    with _rare_collections():
        for i, k in enumerate(range(chunk.start, chunk.stop)):
            record = simulate(chunk.scenario, chunk.seed, k)
            rows.append(record.row())
            delays += record.delay_rows()
            _fill_daily_all(block[:, i, :], [record.series[name] for name in names], grid)
    return ChunkResult(chunk.start, rows, daily, delays)


class Executor(Protocol):
    """Anything that can run chunks and yield their results (in any order)."""

    def map_chunks(self, chunks: Sequence[Chunk]) -> Iterator[ChunkResult]:
        """Run every chunk; yield each result as it completes."""
        ...


class InProcess:
    """Run chunks one after another in this process (notebooks, debugging, tiny batches).

    A context manager that does nothing, so that code can hold any executor of
    :func:`make_executor` in a ``with`` block.
    """

    def __enter__(self) -> InProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def map_chunks(self, chunks: Sequence[Chunk]) -> Iterator[ChunkResult]:
        for chunk in chunks:
            yield run_chunk(chunk)


class ProcessPool:
    """Run chunks on a local pool of worker processes.

    Used as a context manager, the pool keeps its workers between ``map_chunks`` calls, so the many
    batches of a sweep or a sensitivity analysis start processes once (``with ProcessPool(4) as
    pool: run(a, executor=pool); run(b, executor=pool)``); outside one, each call starts and stops
    its own workers. Either way the tables are those of a serial run.

    Args:
        workers: Number of worker processes.

    Raises:
        ValueError: If ``workers`` < 1.
    """

    def __init__(self, workers: int):
        if workers < 1:
            raise ValueError(f"workers must be at least 1, got {workers}")
        self.workers = workers
        self._pool: ProcessPoolExecutor | None = None

    def __enter__(self) -> ProcessPool:
        self._pool = ProcessPoolExecutor(max_workers=self.workers, initializer=_worker_start)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)
            self._pool = None

    def map_chunks(self, chunks: Sequence[Chunk]) -> Iterator[ChunkResult]:
        if self._pool is not None:
            yield from _completed(self._pool, chunks)
        else:
            with ProcessPoolExecutor(max_workers=self.workers, initializer=_worker_start) as pool:
                yield from _completed(pool, chunks)


def _completed(pool: ProcessPoolExecutor, chunks: Sequence[Chunk]) -> Iterator[ChunkResult]:
    futures = [pool.submit(run_chunk, c) for c in chunks]
    try:
        for future in as_completed(futures):
            yield future.result()
    finally:
        # A consumer that stops early (an error, Ctrl-C) leaves no queued chunk to run.
        for future in futures:
            future.cancel()


def make_executor(workers: int | None) -> InProcess | ProcessPool:
    """In-process for one worker, a process pool for more; ``None`` or 0 means one per CPU.

    Both are context managers: ``with make_executor(4) as executor:`` keeps a pool's workers for
    every batch run in the block.
    """
    if workers is None or workers == 0:
        workers = os.cpu_count() or 1
    return InProcess() if workers == 1 else ProcessPool(workers)


#: Largest batch seed: the tables store it as an unsigned 64-bit integer.
MAX_SEED = 2**64 - 1


def _chunks(scenario: Scenario, seed: int, runs: int, chunk_size: int) -> list[Chunk]:
    return [
        Chunk(scenario, seed, start, min(start + chunk_size, runs)) for start in range(0, runs, chunk_size)
    ]


def run(
    scenario: Scenario,
    runs: int = 1000,
    seed: int = DEFAULT_SEED,
    workers: int | None = 1,
    executor: Executor | None = None,
    chunk_size: int | None = None,
    keep_daily: bool = False,
    progress: Progress = True,
    strength_dates: Iterable[dt.date] = (),
) -> Results:
    """Run a Monte Carlo batch of one scenario.

    Args:
        scenario: The resolved scenario.
        runs: Number of replications.
        seed: The batch seed; replication ``k`` is fixed by (seed, k).
        workers: Worker processes (1: in this process; ``None`` or 0: one per CPU). Ignored when
            ``executor`` is given.
        executor: An explicit executor (see :class:`Executor`).
        chunk_size: Replications per chunk sent to a worker (default: about four chunks per worker).
        keep_daily: Also keep every replication's daily series in ``results.daily``.
        strength_dates: Dates (besides the default checkpoints every six months) at which to keep each
            replication's officers in theatre in ``results.strength``, for deadlines such as
            ``strength>=500@2024-12-31``.
        progress: True: a progress bar once the batch has run a second (a widget in a notebook);
            False: none; a function: called with the number of replications finished after each chunk.

    Returns:
        The batch's :class:`sim.batch.results.Results`.

    Raises:
        ValueError: If ``runs`` < 1 or ``seed`` is not a whole number from 0 to 2**64 - 1 (checked
            before any work).

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
    started = time.perf_counter()
    if executor is None:
        # Never more workers than replications: the extra processes would only start and stop.
        wanted = os.cpu_count() or 1 if workers is None or workers == 0 else workers
        executor = make_executor(min(wanted, runs))
    n_workers = getattr(executor, "workers", 1)
    if chunk_size is None:
        chunk_size = max(1, min(250, -(-runs // (4 * n_workers))))
    chunks = _chunks(scenario, seed, runs, chunk_size)
    rows: list[dict[str, object]] = [{}] * runs
    names = series_names(scenario)
    daily = {name: np.empty((runs, scenario.horizon_days + 1)) for name in names}
    delays: list[list[tuple[int, str, str, float]]] = [[] for _ in chunks]
    done = 0
    with progress_callback(progress, runs) as report:
        for result in executor.map_chunks(chunks):
            n = len(result.rows)
            rows[result.start : result.start + n] = result.rows
            delays[result.start // chunk_size] = result.delays
            for name in names:
                daily[name][result.start : result.start + n] = result.daily[name]
            done += n
            if report is not None:
                report(done)
    replications = _replications_frame(rows)
    return Results(
        scenario=scenario,
        seed=seed,
        runs=runs,
        replications=replications,
        bands=bands_from_daily(daily, scenario.start_date),
        daily=daily if keep_daily else None,
        wall_time_s=time.perf_counter() - started,
        delays=delays_frame([row for chunk in delays for row in chunk]),
        strength=strength_frame(daily, scenario, checkpoint_dates(scenario, strength_dates)),
    )


def _replications_frame(rows: Iterable[dict[str, object]]) -> pd.DataFrame:
    frame = pd.DataFrame(list(rows))
    for name in GATED_MILESTONES:
        frame[f"{name}_binding"] = frame[f"{name}_binding"].astype("string")
    return frame
