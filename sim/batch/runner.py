"""Monte Carlo batches: many replications of one scenario, run by an executor, gathered as Results.

Replications are sent in chunks. Each worker runs :func:`sim.model.simulate` for its chunk and sends
back flat rows, the officers in theatre at the checkpoint days and, per step series, the chunk's
counts of each day's values (:mod:`sim.batch.sketch`), never SimPy objects and never the daily grid
unless asked (``keep_daily``). The parent adds the counts up, so its memory for the bands does not grow
with the number of replications. Because every replication seeds itself from (seed, index), the tables
do not depend on the executor, the number of workers or the chunk size. A batch can keep a journal of
its completed chunks (:mod:`sim.batch.journal`) and resume from it, and can run a slice of a batch's
replications (``replications=range(start, stop)``) for :func:`sim.batch.shards.merge_results`.
"""

from __future__ import annotations

import datetime as dt
import gc
import os
import time
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np
import pandas as pd

from sim.batch.defaults import DEFAULT_SEED
from sim.batch.journal import Journal, batch_digest
from sim.batch.progress import Progress, progress_callback
from sim.batch.results import (
    BAND_QUANTILES,
    Results,
    checkpoint_dates,
    delays_frame,
    is_strength_series,
    strength_from_checkpoints,
)
from sim.batch.sketch import ChunkSketch, SeriesSketch, bands_from_sketches, sketch_rows
from sim.model import simulate
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
    #: Days at which each replication's officers in theatre are sent back (the strength checkpoints).
    strength_days: tuple[int, ...] = ()
    #: Also send back every replication's daily series (only for ``run(..., keep_daily=True)``).
    keep_daily: bool = False


@dataclass(frozen=True)
class ChunkResult:
    """What a worker sends back for one chunk."""

    start: int
    rows: list[dict[str, object]]
    daily: dict[str, np.ndarray] | None  # series name -> (replications in chunk, horizon + 1), if kept
    delays: list[tuple[int, str, str, float]]  # (replication, milestone, cause, days)
    #: Series name -> the chunk's counts of each day's values.
    sketches: dict[str, ChunkSketch] = field(default_factory=dict)
    #: Officers-in-theatre series -> (replications in chunk, len(strength_days)) at the checkpoint days.
    strength: dict[str, np.ndarray] = field(default_factory=dict)


#: Generation-0 threshold of the garbage collector while a chunk runs. A replication allocates tens
#: of thousands of short-lived objects; at Python's default (700) the collector runs every few
#: events and keeps traversing the long-lived ones (the scenario, modules, a notebook's data).
BATCH_GC_THRESHOLD = 50_000


@contextmanager
def _rare_collections() -> Iterator[None]:
    """Raise the collector's thresholds for the block, then restore them. Memory stays bounded:
    collections still happen, just every ``BATCH_GC_THRESHOLD`` allocations."""
    saved = gc.get_threshold()
    gc.set_threshold(max(saved[0], BATCH_GC_THRESHOLD), *saved[1:])
    try:
        yield
    finally:
        gc.set_threshold(*saved)


def _worker_start() -> None:
    """Set up a pool worker: what it inherited or imported is never garbage, so the collector skips it."""
    gc.freeze()


def _fill_daily(out: np.ndarray, days: np.ndarray, values: np.ndarray, grid: np.ndarray) -> None:
    """``out[d]`` = the series at the end of day d, as :meth:`sim.model.record.Record.daily` gives it."""
    idx = np.searchsorted(days, grid, side="left") - 1
    if idx[0] >= 0:
        np.take(values, idx, out=out)
    else:
        out[:] = np.where(idx >= 0, values[np.clip(idx, 0, None)], np.nan)


def run_chunk(chunk: Chunk) -> ChunkResult:
    """Run the replications of one chunk (in whichever process this is called)."""
    horizon = chunk.scenario.horizon_days
    n = chunk.stop - chunk.start
    rows = []
    delays: list[tuple[int, str, str, float]] = []
    names = series_names(chunk.scenario)
    # The chunk's dense grid lives only in the worker, while the chunk runs (a few MB), unless kept.
    grids = {name: np.empty((n, horizon + 1)) for name in names}
    checkpoints = list(chunk.strength_days)
    grid = np.arange(1, horizon + 2, dtype=float)
    with _rare_collections():
        for i, k in enumerate(range(chunk.start, chunk.stop)):
            record = simulate(chunk.scenario, chunk.seed, k)
            rows.append(record.row())
            delays += record.delay_rows()
            for name in names:
                days, values = record.series[name]
                _fill_daily(grids[name][i], days, values, grid)
    sketches = {name: sketch_rows(name, grids[name]) for name in names}
    strength = {name: np.nan_to_num(grids[name][:, checkpoints]).astype(np.int64)
                for name in names if is_strength_series(name)}
    return ChunkResult(chunk.start, rows, grids if chunk.keep_daily else None, delays, sketches, strength)


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


def _chunks(scenario: Scenario, seed: int, replications: range, chunk_size: int, strength_days: tuple[int, ...],
            keep_daily: bool) -> list[Chunk]:
    stop = replications.stop
    return [
        Chunk(scenario, seed, start, min(start + chunk_size, stop), strength_days, keep_daily)
        for start in range(replications.start, stop, chunk_size)
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
    replications: range | None = None,
    journal: str | Path | Journal | None = None,
    resume: bool = False,
) -> Results:
    """Run a Monte Carlo batch of one scenario.

    Memory does not grow with the daily grid: workers send each chunk's counts of the series' daily
    values, from which the bands are computed (exactly numpy's quantiles for officers and base capacity,
    within :data:`sim.batch.sketch.MONEY_RELATIVE_ERROR` for money). The replication, delay and
    strength tables are kept whole.

    Args:
        scenario: The resolved scenario.
        runs: Number of replications.
        seed: The batch seed; replication ``k`` is fixed by (seed, k).
        workers: Worker processes (1: in this process; ``None`` or 0: one per CPU). Ignored when
            ``executor`` is given.
        executor: An explicit executor (see :class:`Executor`).
        chunk_size: Replications per chunk sent to a worker (default: about four chunks per worker). When
            resuming, the journal's chunk size is used.
        keep_daily: Also keep every replication's daily series in ``results.daily`` (memory grows with
            runs times horizon: for small batches and notebooks).
        strength_dates: Dates (besides the default checkpoints every six months) at which to keep each
            replication's officers in theatre in ``results.strength``, for deadlines such as
            ``strength>=500@2024-12-31``.
        progress: True: a progress bar once the batch has run a second (a widget in a notebook);
            False: none; a function: called with the number of replications finished after each chunk.
        replications: Run only this slice of the batch's replications (``runs`` is then ignored); the
            result is marked as a slice (``results.replication_range``), to be merged with the others
            by :func:`sim.batch.shards.merge_results`.
        journal: A folder in which to record each completed chunk, or an open
            :class:`sim.batch.journal.Journal`; the caller removes it once the results are stored. If another
            process holds the folder's journal (the same batch running), the batch runs without one.
        resume: Continue from the chunks the ``journal`` folder already holds (if it belongs to the same
            batch); without it an existing journal is started afresh.

    Returns:
        The batch's :class:`sim.batch.results.Results`.

    Raises:
        ValueError: If ``runs`` < 1 (or the slice is empty or negative) or ``seed`` is not a whole number
            from 0 to 2**64 - 1 (checked before any work).

    Example:
        >>> from sim import load_scenario, run
        >>> res = run(load_scenario("baseline"), runs=20, seed=1, progress=False)
        >>> len(res.replications)
        20
    """
    if replications is not None:
        if replications.step != 1 or replications.start < 0 or len(replications) < 1:
            raise ValueError(f"replications must be a non-empty range of whole numbers from 0 up, got {replications}")
        runs = len(replications)
    if runs < 1:
        raise ValueError(f"runs must be at least 1, got {runs}")
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or not 0 <= seed <= MAX_SEED:
        raise ValueError(f"seed must be a whole number from 0 to 2**64 - 1, got {seed!r}")
    span = replications if replications is not None else range(runs)
    started = time.perf_counter()
    if executor is None:
        # Never more workers than replications: the extra processes would only start and stop.
        wanted = os.cpu_count() or 1 if workers is None or workers == 0 else workers
        executor = make_executor(min(wanted, runs))
    n_workers = getattr(executor, "workers", 1)
    if chunk_size is None:
        chunk_size = max(1, min(250, -(-runs // (4 * n_workers))))
    dates = checkpoint_dates(scenario, strength_dates)
    strength_days = tuple(int(scenario.day_of(date)) for date in dates)
    book: Journal | None = None
    own = not isinstance(journal, Journal)
    if isinstance(journal, Journal):
        book = journal
    elif journal is not None:
        # None if another process running the same batch holds the journal: this one runs without.
        book = Journal.open(Path(journal), batch_key(scenario, seed, span, strength_days), resume)
    try:
        if book is not None:
            chunk_size = book.begin(chunk_size)
        return _run_chunks(scenario, seed, span, chunk_size, strength_days, keep_daily, executor, book, progress,
                           started, replications is not None)
    finally:
        if own and book is not None:
            book.close()


def _run_chunks(scenario: Scenario, seed: int, span: range, chunk_size: int, strength_days: tuple[int, ...],
                keep_daily: bool, executor: Executor, book: Journal | None, progress: Progress, started: float,
                is_slice: bool) -> Results:
    """Run a batch's chunks (those the journal lacks), recording each as it completes, and gather them."""
    gather = _Gather(scenario, span, keep_daily, strength_days)
    chunks = _chunks(scenario, seed, span, chunk_size, strength_days, keep_daily)
    with progress_callback(progress, len(span)) as report:
        if book is not None:
            for result in book.completed():
                gather.add(result)
            chunks = [c for c in chunks if c.start not in gather.frames]
            if report is not None and gather.done:
                report(gather.done)
        for result in executor.map_chunks(chunks):
            if book is not None:
                book.record(result)
            gather.add(result)
            if report is not None:
                report(gather.done)
    return gather.results(seed, time.perf_counter() - started, is_slice)


def batch_key(scenario: Scenario, seed: int, span: range, strength_days: tuple[int, ...]) -> dict[str, object]:
    """What identifies a batch's chunks: a journal from another batch is never resumed."""
    from sim import __version__

    return {"scenario": scenario.model_dump(mode="json", by_alias=True), "seed": int(seed),
            "start": span.start, "stop": span.stop, "strength_days": list(strength_days), "version": __version__}


def journal_folder(parent: Path, scenario: Scenario, seed: int, span: range,
                   strength_dates: Iterable[dt.date] = ()) -> Path:
    """Where the journal of a batch goes: ``parent/.resume-<digest>``, the digest naming the batch
    (scenario, seed, replications, checkpoints, version), so that a rerun of the same command finds it."""
    days = tuple(int(scenario.day_of(d)) for d in checkpoint_dates(scenario, strength_dates))
    return Path(parent) / f".resume-{batch_digest(batch_key(scenario, seed, span, days))[:20]}"


def open_journal(parent: Path, scenario: Scenario, seed: int, span: range, strength_dates: Iterable[dt.date],
                 resume: bool) -> Journal | None:
    """Open the journal of a batch in ``parent`` (see :func:`journal_folder`); None if another process holds it."""
    days = tuple(int(scenario.day_of(d)) for d in checkpoint_dates(scenario, strength_dates))
    return Journal.open(journal_folder(parent, scenario, seed, span, strength_dates),
                        batch_key(scenario, seed, span, days), resume)


class _Gather:
    """The parent's side of a batch: adds up the chunks' results as they complete, in any order."""

    def __init__(self, scenario: Scenario, span: range, keep_daily: bool, strength_days: tuple[int, ...]):
        self.scenario = scenario
        self.span = span
        self.strength_days = list(strength_days)
        self.names = series_names(scenario)
        self.sketches = {name: SeriesSketch(name, scenario.horizon_days + 1) for name in self.names}
        self.frames: dict[int, pd.DataFrame] = {}
        self.delays: dict[int, pd.DataFrame] = {}
        self.strength: dict[int, dict[str, np.ndarray]] = {}
        self.daily = ({name: np.empty((len(span), scenario.horizon_days + 1)) for name in self.names}
                      if keep_daily else None)
        self.done = 0

    def add(self, result: ChunkResult) -> None:
        """Take one chunk's result (each chunk once)."""
        if result.start in self.frames:
            return
        n = len(result.rows)
        # A frame per chunk is a few bytes per value; the rows as dicts would be kilobytes per replication.
        self.frames[result.start] = _replications_frame(result.rows)
        self.delays[result.start] = delays_frame(result.delays)
        self.strength[result.start] = result.strength
        for name in self.names:
            self.sketches[name].add(result.sketches[name])
        if self.daily is not None and result.daily is not None:
            at = result.start - self.span.start
            for name in self.names:
                self.daily[name][at:at + n] = result.daily[name]
        self.done += n

    def results(self, seed: int, wall_time_s: float, is_slice: bool) -> Results:
        """The batch's Results, once every chunk was added."""
        order = sorted(self.frames)
        replications = pd.concat([self.frames[start] for start in order], ignore_index=True)
        strength_names = [name for name in self.names if is_strength_series(name)]
        columns = {name: np.concatenate([self.strength[start][name] for start in order]) for name in strength_names}
        span = self.span
        return Results(
            scenario=self.scenario,
            seed=seed,
            runs=len(span),
            replications=replications,
            bands=bands_from_sketches(self.sketches, BAND_QUANTILES, self.scenario.start_date),
            daily=self.daily,
            wall_time_s=wall_time_s,
            delays=pd.concat([self.delays[start] for start in order], ignore_index=True),
            strength=strength_from_checkpoints(columns, np.arange(span.start, span.stop), self.scenario,
                                               self.strength_days),
            sketches=self.sketches,
            replication_range=(span.start, span.stop) if is_slice else None,
        )


def _replications_frame(rows: Iterable[dict[str, object]]) -> pd.DataFrame:
    frame = pd.DataFrame(list(rows))
    for name in GATED_MILESTONES:
        frame[f"{name}_binding"] = frame[f"{name}_binding"].astype("string")
    return frame
