"""Executors: where the chunks of a batch run. One interface for every front end.

Every function that runs batches (:func:`sim.batch.runner.run`, :func:`sim.analysis.compare.compare`,
:func:`sim.analysis.sweep.sweep`, :func:`sim.analysis.sensitivity.tornado`,
:func:`sim.analysis.sensitivity.sobol_indices`, :func:`sim.analysis.explain.explain` and
:func:`sim.analysis.backtest.forecast`) takes ``executor=``, any of:

- :class:`InProcess`: one chunk after another in this process;
- :class:`ProcessPool`: a local pool of worker processes;
- :class:`FuturesExecutor`: any :class:`concurrent.futures.Executor` (passed as it is, it is wrapped);
- :class:`DaskExecutor`: a Dask ``distributed.Client`` (passed as it is, it is wrapped), or a
  ``LocalCluster`` this executor starts (the optional extra ``pip install 'deploysim[dask]'``).

An executor runs *tasks* ``fn(scenario, task)`` for one scenario and yields ``(index, result)``
as they complete (:meth:`BaseExecutor.map_shared`); :meth:`BaseExecutor.map_chunks` runs the
chunks of a batch on it. The scenario goes to each worker once, not with each task: a pool
installs it through its initializer (:meth:`ProcessPool.share` restarts the workers if a new
scenario arrives inside a ``with`` block, so front ends running many scenarios share them all
first), Dask broadcasts it with ``client.scatter(..., broadcast=True)``. Only a wrapped
``concurrent.futures.Executor`` sends it with every task (it has no way to address its workers).

**Chunk size.** A chunk's cost must dwarf what a task costs the engine, and there must be enough
chunks to keep every worker busy to the end. A baseline replication takes about 5 ms of CPU; a pool
task costs about 1 ms (pickling and a pipe), a Dask task a few ms on a ``LocalCluster`` and tens of
ms across a network (scheduler round trip and transfer). The runner aims at four chunks per worker,
with at least :attr:`BaseExecutor.min_chunk` replications (1 in-process and on a pool, 100 on Dask:
0.5 s of work against at most ~10 ms of overhead, i.e. under 2%) and at most 250 (the size of what a
chunk sends back).
"""

from __future__ import annotations

import dataclasses
import gc
import hashlib
import logging
import os
import pickle
import shutil
import tempfile
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Executor as FuturesExecutorType
from concurrent.futures import ProcessPoolExecutor, as_completed
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from sim.batch.runner import Chunk, ChunkResult
    from sim.scenario.schema import Scenario

#: A task function: ``fn(scenario, task)``, defined at a module's top level so that workers can import it.
Task = Callable[[Any, Any], Any]

#: What ``--executor`` accepts.
EXECUTOR_KINDS = ("serial", "pool", "dask")

#: The one line shown when Dask is asked for but not installed.
DASK_MISSING = "the dask executor needs the optional extra: pip install 'deploysim[dask]' (distributed>=2024.1)"

# -- the worker side -----------------------------------------------------------------------------

#: Scenarios installed in this worker process, by key (see :func:`share_key`).
_SHARED: dict[str, Any] = {}


def _worker_start(shared: dict[str, Any] | None = None) -> None:
    """Set up a pool worker: install the shared scenarios; what it inherited or imported is never
    garbage, so the collector skips it."""
    if shared:
        _SHARED.update(shared)
    gc.freeze()


def _call_with(fn: Callable[[Any, Any], Any], scenario: Any, task: Any) -> Any:
    """Worker: run one task on a scenario sent with it (or scattered by Dask)."""
    return fn(scenario, task)


def _call_shared(fn: Callable[[Any, Any], Any], key: str, task: Any) -> Any:
    """Worker: run one task on a scenario this worker's initializer installed."""
    return fn(_SHARED[key], task)


def _chunk_task(scenario: Scenario, chunk: Chunk) -> ChunkResult:
    """Worker: run a chunk sent without its scenario."""
    from sim.batch.runner import run_chunk

    return run_chunk(dataclasses.replace(chunk, scenario=scenario))


def share_key(scenario: Any) -> str:
    """The key a shared scenario is known by in the workers: a digest of its pickle."""
    return hashlib.sha256(pickle.dumps(scenario, protocol=pickle.HIGHEST_PROTOCOL)).hexdigest()[:24]


# -- the interface -------------------------------------------------------------------------------


class Executor(Protocol):
    """Anything that can run the chunks of a batch, and tasks on a shared scenario.

    Attributes:
        workers: How many tasks run at once (for sizing chunks).
        min_chunk: Fewest replications per chunk worth one task on this engine.
    """

    workers: int
    min_chunk: int

    def map_chunks(self, chunks: Sequence[Chunk]) -> Iterator[ChunkResult]:
        """Run every chunk; yield each result as it completes."""
        ...

    def map_shared(self, fn: Task, scenario: Any, tasks: Sequence[Any]) -> Iterator[tuple[int, Any]]:
        """Run ``fn(scenario, task)`` for every task; yield ``(index, result)`` as each completes."""
        ...


class BaseExecutor:
    """What every executor shares: chunks run as tasks on their scenario, sent once per worker.

    Subclasses implement :meth:`map_shared`; :meth:`share` (announcing the scenarios to come) is
    optional. Each is a context manager; outside a ``with`` block each call sets up and tears down
    its own workers.
    """

    workers: int = 1
    min_chunk: int = 1

    def __enter__(self) -> Any:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def share(self, scenarios: Sequence[Any]) -> None:
        """Announce scenarios that batches in this ``with`` block will run (a pool installs them all at once)."""

    def map_shared(self, fn: Task, scenario: Any, tasks: Sequence[Any]) -> Iterator[tuple[int, Any]]:
        raise NotImplementedError

    def map_chunks(self, chunks: Sequence[Chunk]) -> Iterator[ChunkResult]:
        # A batch's chunks share one scenario; group them anyway so that any list works.
        groups: dict[int, list[Chunk]] = {}
        for chunk in chunks:
            groups.setdefault(id(chunk.scenario), []).append(chunk)
        for group in groups.values():
            light = [dataclasses.replace(c, scenario=None) for c in group]  # type: ignore[arg-type]
            for _, result in self.map_shared(_chunk_task, group[0].scenario, light):
                yield result


class InProcess(BaseExecutor):
    """Run chunks one after another in this process (notebooks, debugging, tiny batches)."""

    def __enter__(self) -> InProcess:
        return self

    def map_shared(self, fn: Task, scenario: Any, tasks: Sequence[Any]) -> Iterator[tuple[int, Any]]:
        for i, task in enumerate(tasks):
            yield i, fn(scenario, task)


class ProcessPool(BaseExecutor):
    """Run chunks on a local pool of worker processes.

    Used as a context manager, the pool keeps its workers between calls, so the many batches of a
    sweep or a sensitivity analysis start processes once (``with ProcessPool(4) as pool: run(a,
    executor=pool); run(b, executor=pool)``); outside one, each call starts and stops its own
    workers. The scenario reaches each worker once, through the pool's initializer: a scenario not
    yet installed restarts the workers with it (front ends announce all theirs first with
    :meth:`share`). Either way the tables are those of a serial run.

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
        self._installed: dict[str, Any] = {}
        self._active = False

    def __enter__(self) -> ProcessPool:
        self._active = True
        return self

    def __exit__(self, *exc: object) -> None:
        self._active = False
        self._stop()

    def _stop(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)
            self._pool = None
        self._installed = {}

    def _start(self, scenarios: dict[str, Any]) -> ProcessPoolExecutor:
        self._stop()
        self._installed = dict(scenarios)
        self._pool = ProcessPoolExecutor(max_workers=self.workers, initializer=_worker_start,
                                         initargs=(self._installed,))
        return self._pool

    def share(self, scenarios: Sequence[Any]) -> None:
        if not self._active:
            return
        wanted = {share_key(s): s for s in scenarios}
        if self._pool is None or not wanted.keys() <= self._installed.keys():
            self._start({**self._installed, **wanted})

    def map_shared(self, fn: Task, scenario: Any, tasks: Sequence[Any]) -> Iterator[tuple[int, Any]]:
        key = share_key(scenario)
        if not self._active:
            try:
                yield from _completed(self._start({key: scenario}), _call_shared, fn, key, tasks)
            finally:
                self._stop()
            return
        if self._pool is None or key not in self._installed:
            self._start({**self._installed, key: scenario})
        assert self._pool is not None
        yield from _completed(self._pool, _call_shared, fn, key, tasks)


class FuturesExecutor(BaseExecutor):
    """Any :class:`concurrent.futures.Executor` (a thread pool, a process pool of your own, an MPI pool...).

    It cannot address its workers, so the scenario travels with every task (about 9 KB pickled for
    the baseline, a fraction of a millisecond to read back). The executor is not shut down here.

    Args:
        executor: The executor to submit tasks to.
        workers: Tasks it runs at once (default: its ``_max_workers`` if it has one, else the CPUs).
    """

    def __init__(self, executor: FuturesExecutorType, workers: int | None = None):
        self.executor = executor
        self.workers = workers or getattr(executor, "_max_workers", None) or os.cpu_count() or 1

    def map_shared(self, fn: Task, scenario: Any, tasks: Sequence[Any]) -> Iterator[tuple[int, Any]]:
        yield from _completed(self.executor, _call_with, fn, scenario, tasks)


def _completed(pool: FuturesExecutorType, call: Callable[..., Any], fn: Callable[[Any, Any], Any], shared: Any,
               tasks: Sequence[Any]) -> Iterator[tuple[int, Any]]:
    futures = {pool.submit(call, fn, shared, task): i for i, task in enumerate(tasks)}
    try:
        for future in as_completed(futures):
            # Dropped once taken: a finished future holds its result, and holding every one held the
            # whole batch's results (16 KB per replication) until the last chunk.
            i = futures.pop(future)
            result = future.result()
            del future
            yield i, result
    finally:
        # A consumer that stops early (an error, Ctrl-C) leaves no queued task to run.
        for future in futures:
            future.cancel()


#: Dask settings of the LocalCluster a :class:`DaskExecutor` starts:
#:
#: - each worker's statistical profiler (a thread that samples the task's stack every 10 ms, for the
#:   dashboard, which this cluster has not) takes the GIL from the task it samples;
#: - the nannies start their workers with ``MALLOC_TRIM_THRESHOLD_=65536``, which makes glibc give
#:   memory back to the system at almost every free; replications allocate and free all the time, and
#:   with it a batch ran slower round after round (3,000 runs, 6 interleaved rounds on 2 workers: pool
#:   wall over Dask wall fell from 0.94 to 0.90, median 0.934; without it 0.93 to 1.12, median 0.989,
#:   no drift). ``None`` unsets it (Dask's documented way);
#: - the scheduler sends each worker its next chunk before the one it runs ends (no queuing on the
#:   scheduler): otherwise a worker waits for the scheduler's answer, and the scheduler runs in this
#:   process, busy between chunks writing the last one's tables.
LOCAL_CLUSTER_CONFIG: dict[str, Any] = {
    "distributed.worker.profile.enabled": False,
    "distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None,
    "distributed.scheduler.worker-saturation": float("inf"),
}


class DaskExecutor(BaseExecutor):
    """Run tasks on a Dask cluster through ``distributed``.

    Give a ``client`` (connected to any cluster: ``dask-jobqueue``, ``dask-kubernetes``, a
    scheduler started by hand), or a ``scheduler`` address (``tcp://HOST:PORT``), or neither: then a
    ``LocalCluster`` of ``workers`` processes with one thread each is started on entering the
    ``with`` block (or for each call outside one) and closed after. The scenario is scattered to
    every worker once (``broadcast=True``), then each task names it.

    Args:
        client: A ``distributed.Client``; it is neither closed nor shut down here.
        scheduler: Address of a running scheduler, when no client is given.
        workers: Worker processes of the LocalCluster (default: one per CPU).
        processes: False: the LocalCluster's workers are threads of this process (tests).

    Raises:
        ImportError: If ``distributed`` is not installed (one line: how to install the extra).
    """

    min_chunk = 100

    def __init__(self, client: Any = None, scheduler: str | None = None, workers: int | None = None,
                 processes: bool = True):
        try:
            import distributed  # noqa: F401
        except ImportError:
            raise ImportError(DASK_MISSING) from None
        self._given = client
        self.scheduler = scheduler
        self.processes = processes
        self._local_workers = workers or os.cpu_count() or 1
        self._client: Any = client
        self._cluster: Any = None
        self._scratch: str | None = None
        self._scattered: dict[str, Any] = {}
        self.workers = self._count_workers() if client is not None else self._local_workers
        if scheduler is not None and client is None:
            self.workers = workers or 1

    def _count_workers(self) -> int:
        try:
            info = self._client.scheduler_info()
            return max(1, sum(w.get("nthreads", 1) for w in info.get("workers", {}).values()))
        except Exception:  # a client without a scheduler answer yet: size for one
            return 1

    def __enter__(self) -> DaskExecutor:
        self._open()
        return self

    def __exit__(self, *exc: object) -> None:
        self._close()

    def _open(self) -> None:
        if self._client is not None:
            return
        from distributed import Client, LocalCluster

        if self.scheduler is not None:
            self._client = Client(self.scheduler)
        else:
            import dask

            # The workers' scratch space (lock files, spilled data) goes in a folder of this executor's own,
            # removed on closing, not in a dask-scratch-space left in the system's temporary folder.
            self._scratch = tempfile.mkdtemp(prefix="deploysim-dask-")
            settings = {**LOCAL_CLUSTER_CONFIG, "temporary-directory": self._scratch}
            with dask.config.set(settings):  # the nannies pass it on to their workers
                self._cluster = LocalCluster(n_workers=self._local_workers, threads_per_worker=1,
                                             processes=self.processes, dashboard_address=None,
                                             silence_logs=logging.ERROR, local_directory=self._scratch)
            self._client = Client(self._cluster)
            if self.processes:
                self._client.run(_worker_start)  # as a pool's workers: what they imported is never garbage
        self.workers = self._count_workers()

    def _close(self) -> None:
        self._scattered = {}
        if self._client is not None and self._client is not self._given:
            self._client.close()
            self._client = None
        if self._cluster is not None:
            self._cluster.close()
            self._cluster = None
        if self._scratch is not None:
            shutil.rmtree(self._scratch, ignore_errors=True)  # made by _open, for this cluster alone
            self._scratch = None

    def map_shared(self, fn: Task, scenario: Any, tasks: Sequence[Any]) -> Iterator[tuple[int, Any]]:
        opened = self._client is None
        if opened:
            self._open()
        try:
            yield from self._map(fn, scenario, tasks)
        finally:
            if opened:
                self._close()

    def _map(self, fn: Callable[[Any, Any], Any], scenario: Any, tasks: Sequence[Any]) -> Iterator[tuple[int, Any]]:
        from distributed import as_completed as dask_completed

        client = self._client
        key = share_key(scenario)
        if key not in self._scattered:
            self._scattered[key] = client.scatter(scenario, broadcast=True, hash=False)
        shared = self._scattered[key]
        futures = {client.submit(_call_with, fn, shared, task, pure=False): i for i, task in enumerate(tasks)}
        try:
            for future in dask_completed(list(futures)):
                # Released once taken, so that neither this process nor the cluster's workers hold every
                # chunk's result until the last one.
                i = futures.pop(future)
                result = future.result()
                future.release()
                del future
                yield i, result
        finally:
            client.cancel([f for f in futures if not f.done()])


# -- choosing one --------------------------------------------------------------------------------


def make_executor(workers: int | None, kind: str | None = None, scheduler: str | None = None) -> Any:
    """The executor for ``--executor KIND --workers N [--scheduler ADDRESS]``.

    ``kind`` None (the default, as before) is in-process for one worker and a pool for more; ``serial``
    is in-process whatever ``workers``; ``pool`` a process pool; ``dask`` a :class:`DaskExecutor` (on
    the scheduler given, else a LocalCluster of ``workers`` processes). ``workers`` None or 0 means
    one per CPU. Every one is a context manager: ``with make_executor(4) as executor:`` keeps its
    workers for every batch run in the block.

    Raises:
        ValueError: If ``kind`` is unknown, or a scheduler is given for an executor other than Dask.
        ImportError: If Dask is asked for and ``distributed`` is not installed.
    """
    if kind is not None and kind not in EXECUTOR_KINDS:
        raise ValueError(f"executor must be one of {', '.join(EXECUTOR_KINDS)}, got {kind!r}")
    if scheduler is not None and kind != "dask":
        raise ValueError("a scheduler address needs the dask executor (--executor dask)")
    n = os.cpu_count() or 1 if workers is None or workers == 0 else workers
    if kind == "dask":
        return DaskExecutor(scheduler=scheduler, workers=n)
    if kind == "serial" or (kind is None and n == 1):
        return InProcess()
    return ProcessPool(n)


def as_executor(executor: Any, workers: int | None = 1) -> Any:
    """Any accepted executor as an :class:`Executor`: None -> :func:`make_executor` of ``workers``;
    a ``concurrent.futures.Executor`` -> :class:`FuturesExecutor`; a ``distributed.Client`` ->
    :class:`DaskExecutor`; an object with ``map_chunks`` as it is.

    Raises:
        TypeError: For anything else.
    """
    if executor is None:
        return make_executor(workers)
    if hasattr(executor, "map_chunks"):
        return executor
    if isinstance(executor, FuturesExecutorType):
        return FuturesExecutor(executor)
    if type(executor).__module__.split(".")[0] == "distributed" and hasattr(executor, "scatter"):
        return DaskExecutor(client=executor)
    raise TypeError(f"not an executor: {type(executor).__name__} (expected an Executor of sim.batch.executors, "
                    "a concurrent.futures.Executor or a distributed.Client)")


def chunk_size_for(runs: int, executor: Any) -> int:
    """Replications per chunk: about four chunks per worker, at least the engine's ``min_chunk``, at most 250."""
    workers = max(1, int(getattr(executor, "workers", 1)))
    size = min(250, -(-runs // (4 * workers)))
    return max(1, min(runs, max(size, int(getattr(executor, "min_chunk", 1)))))


__all__ = [
    "DASK_MISSING",
    "EXECUTOR_KINDS",
    "BaseExecutor",
    "DaskExecutor",
    "Executor",
    "FuturesExecutor",
    "InProcess",
    "ProcessPool",
    "as_executor",
    "chunk_size_for",
    "make_executor",
    "share_key",
]
