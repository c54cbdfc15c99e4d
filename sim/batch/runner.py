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
import os
import time
import traceback
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
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
from sim.batch.journal import Journal, batch_digest
from sim.batch.memory import return_free_memory
from sim.batch.progress import Progress, progress_callback
from sim.batch.results import (
    BAND_QUANTILES,
    Results,
    checkpoint_dates,
    concat_labelled,
    delays_frame,
    is_strength_series,
    strength_from_checkpoints,
)
from sim.batch.sketch import ChunkSketch, SeriesSketch, bands_from_sketches, sketch_rows
from sim.batch.spill import Spill
from sim.batch.spill import strength_frame_of as spill_strength_frame
from sim.model import simulate
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
    #: For a re-forecast, the observed history every replication holds fixed.
    as_of: AsOf | None = None
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
    #: Replications of the chunk that raised: absent from ``rows``, ``delays``, ``sketches`` and ``strength``.
    failures: list[Failure] = field(default_factory=list)


@dataclass(frozen=True)
class Failure:
    """A replication that raised: its index, the batch seed, the error in one line and its traceback."""

    replication: int
    seed: int
    error: str
    traceback: str


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
    n = chunk.stop - chunk.start
    rows = []
    delays: list[tuple[int, str, str, float]] = []
    failures: list[Failure] = []
    names = series_names(chunk.scenario)
    # The chunk's dense grid lives only in the worker, while the chunk runs (a few MB), unless kept: one
    # block, series by replication by day, each series' table a view of it.
    block = np.empty((len(names), n, horizon + 1))
    grids = {name: block[s] for s, name in enumerate(names)}
    ok = np.ones(n, dtype=bool)
    checkpoints = list(chunk.strength_days)
    grid = np.arange(1, horizon + 2, dtype=float)
    # Each replication raises the collector's threshold while it runs and restores it after
    # (:func:`sim.model.mission.rare_collections`), so its garbage (a Mission is a web of reference cycles)
    # goes in one young collection. Raised for the whole chunk instead, finished replications were
    # promoted to older generations and collected late: 3.23 ms of CPU per replication against 2.60 ms
    # (500-replication chunks, 6 interleaved rounds).
    for i, k in enumerate(range(chunk.start, chunk.stop)):
        try:
            record = simulate(chunk.scenario, chunk.seed, k, as_of=chunk.as_of)
        except Exception as exc:  # isolated: recorded, and the batch goes on (see run's max_failures)
            failures.append(Failure(k, int(chunk.seed), f"{type(exc).__name__}: {exc}", traceback.format_exc()))
            block[:, i, :] = np.nan
            ok[i] = False
            continue
        rows.append(record.row())
        delays += record.delay_rows()
        _fill_daily_all(block[:, i, :], [record.series[name] for name in names], grid)
    kept = grids if ok.all() else {name: grid_[ok] for name, grid_ in grids.items()}
    sketches = {name: sketch_rows(name, kept[name]) for name in names}
    strength = {name: np.nan_to_num(kept[name][:, checkpoints]).astype(np.int64)
                for name in names if is_strength_series(name)}
    return ChunkResult(chunk.start, rows, grids if chunk.keep_daily else None, delays, sketches, strength, failures)


#: Largest batch seed: the tables store it as an unsigned 64-bit integer.
MAX_SEED = 2**64 - 1


def _chunks(scenario: Scenario, seed: int, replications: range, chunk_size: int, strength_days: tuple[int, ...],
            keep_daily: bool, as_of: AsOf | None = None) -> list[Chunk]:
    stop = replications.stop
    return [
        Chunk(scenario, seed, start, min(start + chunk_size, stop), as_of, strength_days, keep_daily)
        for start in range(replications.start, stop, chunk_size)
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
    replications: range | None = None,
    journal: str | Path | Journal | None = None,
    resume: bool = False,
    as_of: AsOf | None = None,
    max_failures: int | None = None,
    fail_fast: bool = False,
    spill: str | Path | bool | None = None,
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
        executor: An explicit executor: one of :mod:`sim.batch.executors`, any
            ``concurrent.futures.Executor`` or a Dask ``distributed.Client`` (see :func:`as_executor`).
        chunk_size: Replications per chunk sent to a worker (default: :func:`chunk_size_for`, about four
            chunks per worker). When resuming, the journal's chunk size is used.
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
        as_of: Re-forecast from a date, holding fixed what the observations say happened before it
            (:func:`sim.scenario.asof.as_of`). The tables keep the scenario's start date as day 0.
        max_failures: Replications allowed to raise before the batch stops (default:
            :func:`default_max_failures`, the larger of 10 and 1% of the runs). A failed replication
            is recorded in ``results.failures`` (index, seed, error, traceback) and left out of every
            table: bands, shares and counts are over the replications that finished.
        fail_fast: Stop at the first failed replication (as ``max_failures=0``).
        spill: Write the replication, delay and strength tables to Parquet files as chunks complete,
            instead of holding them, so that memory stays flat however many runs (:mod:`sim.batch.spill`):
            ``True`` for a temporary folder removed with the Results, or a new folder the caller
            removes (``results.spill.remove()``). The tables and summaries are the same; the tables are
            read from the files when first used. Default: held in memory.

    Returns:
        The batch's :class:`sim.batch.results.Results`.

    Raises:
        ValueError: If ``runs`` < 1 (or the slice is empty or negative) or ``seed`` is not a whole number
            from 0 to 2**64 - 1 (checked before any work).
        BatchFailed: If more replications raised than ``max_failures`` allows, or every one did.

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
    if max_failures is not None and max_failures < 0:
        raise ValueError(f"max_failures must be 0 or more, got {max_failures}")
    allowed = 0 if fail_fast else default_max_failures(runs) if max_failures is None else max_failures
    span = replications if replications is not None else range(runs)
    started = time.perf_counter()
    if executor is None:
        # Never more workers than replications: the extra processes would only start and stop.
        wanted = os.cpu_count() or 1 if workers is None or workers == 0 else workers
        executor = make_executor(min(wanted, runs))
    executor = as_executor(executor)
    if chunk_size is None:
        chunk_size = chunk_size_for(runs, executor)
    dates = checkpoint_dates(scenario, strength_dates)
    strength_days = tuple(int(scenario.day_of(date)) for date in dates)
    book: Journal | None = None
    own = not isinstance(journal, Journal)
    if isinstance(journal, Journal):
        book = journal
    elif journal is not None:
        # None if another process running the same batch holds the journal: this one runs without.
        book = Journal.open(Path(journal), batch_key(scenario, seed, span, strength_days, as_of), resume)
    try:
        if book is not None:
            chunk_size = book.begin(chunk_size)
        return _run_chunks(scenario, seed, span, chunk_size, strength_days, keep_daily, executor, book, progress,
                           started, replications is not None, as_of, allowed, spill)
    finally:
        if own and book is not None:
            book.close()


def _run_chunks(scenario: Scenario, seed: int, span: range, chunk_size: int, strength_days: tuple[int, ...],
                keep_daily: bool, executor: Executor, book: Journal | None, progress: Progress, started: float,
                is_slice: bool, as_of: AsOf | None = None, allowed: int = 0,
                spill: str | Path | bool | None = None) -> Results:
    """Run a batch's chunks (those the journal lacks), recording each as it completes, and gather them."""
    chunks = _chunks(scenario, seed, span, chunk_size, strength_days, keep_daily, as_of)
    tables = _open_spill(spill, [c.start for c in chunks])
    gather = _Gather(scenario, span, keep_daily, strength_days, allowed, tables)
    try:
        return _gather_chunks(gather, chunks, executor, book, progress, seed, started, is_slice, as_of)
    except BaseException:
        if tables is not None:
            tables.remove()  # only what this batch wrote: the folder was new or empty
        raise


def _open_spill(spill: str | Path | bool | None, starts: list[int]) -> Spill | None:
    """The batch's :class:`sim.batch.spill.Spill`, in a new temporary folder for ``True``."""
    if spill is None or spill is False:
        return None
    if spill is True:
        import tempfile

        return Spill(tempfile.mkdtemp(prefix="deploysim-spill-"), starts, owned=True)
    folder = Path(spill)
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise ValueError(f"spill: {folder} should be a new or empty folder")
    return Spill(folder, starts)


def _gather_chunks(gather: _Gather, chunks: list[Chunk], executor: Executor, book: Journal | None,
                   progress: Progress, seed: int, started: float, is_slice: bool, as_of: AsOf | None) -> Results:
    with progress_callback(progress, len(gather.span)) as report:
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
    results = gather.results(seed, time.perf_counter() - started, is_slice)
    results.as_of = as_of
    return results


def batch_key(scenario: Scenario, seed: int, span: range, strength_days: tuple[int, ...],
              as_of: AsOf | None = None) -> dict[str, object]:
    """What identifies a batch's chunks: a journal from another batch is never resumed."""
    from sim import __version__

    key: dict[str, object] = {
        "scenario": scenario.model_dump(mode="json", by_alias=True), "seed": int(seed),
        "start": span.start, "stop": span.stop, "strength_days": list(strength_days), "version": __version__}
    if as_of is not None:
        key["as_of"] = as_of.to_dict()
    return key


def journal_folder(parent: Path, scenario: Scenario, seed: int, span: range,
                   strength_dates: Iterable[dt.date] = (), as_of: AsOf | None = None) -> Path:
    """Where the journal of a batch goes: ``parent/.resume-<digest>``, the digest naming the batch
    (scenario, seed, replications, checkpoints, version), so that a rerun of the same command finds it."""
    days = tuple(int(scenario.day_of(d)) for d in checkpoint_dates(scenario, strength_dates))
    return Path(parent) / f".resume-{batch_digest(batch_key(scenario, seed, span, days, as_of))[:20]}"


def open_journal(parent: Path, scenario: Scenario, seed: int, span: range, strength_dates: Iterable[dt.date],
                 resume: bool, as_of: AsOf | None = None) -> Journal | None:
    """Open the journal of a batch in ``parent`` (see :func:`journal_folder`); None if another process holds it."""
    days = tuple(int(scenario.day_of(d)) for d in checkpoint_dates(scenario, strength_dates))
    return Journal.open(journal_folder(parent, scenario, seed, span, strength_dates, as_of),
                        batch_key(scenario, seed, span, days, as_of), resume)


#: A spilled batch gives the heap's free pages back every so many chunks: each chunk's tables leave holes
#: that glibc keeps (a million runs grew the parent by about 35 MiB before the batch's end without it).
TRIM_EVERY_CHUNKS = 40


class _Gather:
    """The parent's side of a batch: adds up the chunks' results as they complete, in any order."""

    def __init__(self, scenario: Scenario, span: range, keep_daily: bool, strength_days: tuple[int, ...],
                 allowed: int = 0, spill: Spill | None = None):
        self.scenario = scenario
        #: Where the chunks' tables go as they come, instead of memory (see :mod:`sim.batch.spill`).
        self.spill = spill
        self.allowed = allowed
        self.failures: list[Failure] = []
        self.span = span
        self.strength_days = list(strength_days)
        self.names = series_names(scenario)
        self.sketches = {name: SeriesSketch(name, scenario.horizon_days + 1) for name in self.names}
        self.frames: dict[int, pd.DataFrame | None] = {}
        self.delays: dict[int, pd.DataFrame] = {}
        self.strength: dict[int, dict[str, np.ndarray]] = {}
        self.daily = ({name: np.empty((len(span), scenario.horizon_days + 1)) for name in self.names}
                      if keep_daily else None)
        self.done = 0

    def add(self, result: ChunkResult) -> None:
        """Take one chunk's result (each chunk once)."""
        if result.start in self.frames:
            return
        n = len(result.rows) + len(result.failures)
        if result.failures:
            self.failures += result.failures
            if len(self.failures) > self.allowed or len(self.failures) == len(self.span):
                raise BatchFailed(sorted(self.failures, key=lambda f: f.replication), self.allowed, len(self.span))
        # A frame per chunk is a few bytes per value; the rows as dicts would be kilobytes per replication.
        # A chunk whose every replication failed has none (None still marks the chunk done).
        frame = _replications_frame(result.rows) if result.rows else None
        if self.spill is not None:
            failed = {f.replication for f in result.failures}
            kept = np.array([k for k in range(result.start, result.start + n) if k not in failed], dtype=np.int64)
            self.spill.add(result.start, frame, delays_frame(result.delays),
                           spill_strength_frame(result.strength, kept, self.strength_days))
            self.frames[result.start] = None
            if len(self.frames) % TRIM_EVERY_CHUNKS == 0:
                return_free_memory()
        else:
            self.frames[result.start] = frame
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
        strength_names = [name for name in self.names if is_strength_series(name)]
        span = self.span
        self.failures.sort(key=lambda f: f.replication)
        failed = {f.replication for f in self.failures}
        indices = np.arange(span.start, span.stop, dtype=np.int64)
        kept = indices[~np.isin(indices, np.fromiter(failed, dtype=np.int64, count=len(failed)))] if failed else indices
        daily = self.daily
        if daily is not None and failed:
            keep = np.isin(np.arange(span.start, span.stop), kept)
            daily = {name: values[keep] for name, values in daily.items()}
        bands = bands_from_sketches(self.sketches, BAND_QUANTILES, self.scenario.start_date)
        common: dict[str, Any] = {
            "scenario": self.scenario, "seed": seed, "runs": len(span), "bands": bands, "daily": daily,
            "wall_time_s": wall_time_s, "failures": failures_frame(self.failures), "sketches": self.sketches,
            "replication_range": (span.start, span.stop) if is_slice else None}
        if self.spill is not None:
            self.spill.strength_days = list(self.strength_days)
            self.spill.strength_series = strength_names
            self.spill.close()
            return Results(replications=None, delays=None, strength=None,  # type: ignore[arg-type]
                           spill=self.spill, **common)
        replications = pd.concat([f for start in order if (f := self.frames[start]) is not None], ignore_index=True)
        columns = {name: np.concatenate([self.strength[start][name] for start in order]) for name in strength_names}
        return Results(
            replications=replications,
            delays=concat_labelled([self.delays[start] for start in order], self.scenario),
            strength=strength_from_checkpoints(columns, kept, self.scenario, self.strength_days),
            **common,
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


def _replications_frame(rows: Iterable[dict[str, object]]) -> pd.DataFrame:
    frame = pd.DataFrame(list(rows))
    # The binding columns stay strings: the golden table (tests/test_golden.py) compares them as such.
    for name in GATED_MILESTONES:
        frame[f"{name}_binding"] = frame[f"{name}_binding"].astype("string")
    return frame
