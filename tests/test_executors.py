"""One executor interface for every batch (serial, pool, any concurrent.futures.Executor, Dask) and
isolated failures: a replication that raises is recorded, left out of the tables, and reproducible."""

from __future__ import annotations

import json
import math
import os
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sim import load_scenario, run
from sim.analysis.compare import compare
from sim.analysis.sensitivity import sobol_indices, tornado
from sim.analysis.sweep import sweep
from sim.batch.executors import (
    DASK_MISSING,
    BaseExecutor,
    DaskExecutor,
    FuturesExecutor,
    InProcess,
    ProcessPool,
    as_executor,
    chunk_size_for,
    make_executor,
)
from sim.batch.runner import BatchFailed, default_max_failures
from sim.batch.store import load_results, save_results
from sim.commands.main import main
from sim.model.mission import Mission

SHORT = ["horizon_days=200"]
SHIPPED = Path(__file__).resolve().parents[1] / "observations" / "mss_haiti.toml"


@pytest.fixture(scope="module")
def short():
    return load_scenario("baseline", SHORT)


def assert_same_tables(a, b) -> None:
    pd.testing.assert_frame_equal(a.replications, b.replications)
    pd.testing.assert_frame_equal(a.bands, b.bands)
    pd.testing.assert_frame_equal(a.delays, b.delays)
    pd.testing.assert_frame_equal(a.strength, b.strength)


# -- one interface -------------------------------------------------------------------------------


def test_pool_and_any_futures_executor_give_the_serial_tables(short) -> None:
    serial = run(short, runs=24, seed=3, progress=False)
    with ProcessPool(2) as pool:
        assert_same_tables(serial, run(short, runs=24, seed=3, executor=pool, chunk_size=5, progress=False))
    # A plain concurrent.futures executor is wrapped as it is passed.
    with ThreadPoolExecutor(2) as threads:
        assert_same_tables(serial, run(short, runs=24, seed=3, executor=threads, chunk_size=7, progress=False))
        assert isinstance(as_executor(threads), FuturesExecutor)
        assert as_executor(threads).workers == 2


def test_chunks_travel_without_their_scenario(short) -> None:
    """The scenario reaches the engine once per batch (a pool: its initializer; Dask: one scatter), not per chunk."""
    seen: list[tuple[object, list]] = []

    class Recording(BaseExecutor):
        def map_shared(self, fn, scenario, tasks):
            seen.append((scenario, list(tasks)))
            yield from InProcess().map_shared(fn, scenario, tasks)

    serial = run(short, runs=10, seed=2, progress=False)
    assert_same_tables(serial, run(short, runs=10, seed=2, executor=Recording(), chunk_size=3, progress=False))
    [(scenario, tasks)] = seen
    assert scenario is short
    assert len(tasks) == 4 and all(task.scenario is None for task in tasks)


def test_a_pool_in_a_block_installs_a_sweeps_scenarios_once(short, monkeypatch) -> None:
    starts = []
    original = ProcessPool._start

    def counted(self, scenarios):
        starts.append(len(scenarios))
        return original(self, scenarios)

    monkeypatch.setattr(ProcessPool, "_start", counted)
    vary = {"funding.runway_days": [30, 90]}
    serial = sweep(short, vary, runs=12, seed=5, progress=False)
    with ProcessPool(2) as pool:
        pooled = sweep(short, vary, runs=12, seed=5, executor=pool, progress=False)
    pd.testing.assert_frame_equal(serial.table, pooled.table)
    assert starts == [2]  # one start, with both points' scenarios


def test_compare_and_tornado_and_sobol_take_the_executor(short) -> None:
    other = load_scenario("baseline", [*SHORT, "funding.runway_days=30"])
    a = compare([short, other], runs=12, seed=4, progress=False)
    with ProcessPool(2) as pool:
        b = compare([short, other], runs=12, seed=4, progress=False, executor=pool)
        inputs = ["governance.transitional_authority_days", "reconnaissance.duration_days"]
        t_pool = tornado(short, inputs=inputs, runs=10, seed=1, executor=pool, progress=False)
        s_pool = sobol_indices(short, inputs=inputs, n=4, seed=1, executor=pool, progress=False)
    pd.testing.assert_frame_equal(a.differences, b.differences)
    t_serial = tornado(short, inputs=inputs, runs=10, seed=1, progress=False)
    pd.testing.assert_frame_equal(t_serial, t_pool)
    s_serial = sobol_indices(short, inputs=inputs, n=4, seed=1, progress=False)
    pd.testing.assert_frame_equal(s_serial, s_pool)


def test_explain_and_backtest_take_the_executor(short, tmp_path, monkeypatch) -> None:
    """Every batch of an explanation (base, counterfactuals, pairs) and both forecasts of a back-test run
    on the executor given, opened once, with the serial tables."""
    from sim.analysis.backtest import forecast, score
    from sim.analysis.explain import explain
    from sim.scenario.observations import load_observations

    observations = load_observations(SHIPPED)
    stored = save_results(run(load_scenario("baseline"), runs=20, seed=6, progress=False), tmp_path / "stored")
    serial = explain(short, "first_arrival", runs=20, seed=7, interactions=2, progress=False)
    serial_scores = [score(forecast(source, runs=20, seed=6), observations) for source in ("baseline", stored)]
    entered, batches = [], []
    enter, map_shared = ProcessPool.__enter__, ProcessPool.map_shared

    def counted_enter(self):
        entered.append(self)
        return enter(self)

    def counted_map(self, fn, scenario, tasks):
        batches.append(scenario)
        return map_shared(self, fn, scenario, tasks)

    monkeypatch.setattr(ProcessPool, "__enter__", counted_enter)
    monkeypatch.setattr(ProcessPool, "map_shared", counted_map)
    with ProcessPool(2) as pool:
        pooled = explain(short, "first_arrival", runs=20, seed=7, interactions=2, progress=False, executor=pool)
        pooled_scores = [score(forecast(source, runs=20, seed=6, executor=pool), observations)
                         for source in ("baseline", stored)]
    assert entered == [pool]  # nothing opened a pool of its own
    assert len(batches) == 1 + len(pooled.counterfactuals) + len(pooled.interactions) + 2  # every batch ran on it
    assert len(serial.table) >= 2 and len(serial.interactions) == 1
    pd.testing.assert_frame_equal(serial.table, pooled.table)
    pd.testing.assert_frame_equal(serial.interactions, pooled.interactions)
    assert list(serial.counterfactuals) == list(pooled.counterfactuals)
    for cause, batch in serial.counterfactuals.items():
        assert_same_tables(batch, pooled.counterfactuals[cause])
    for a, b in zip(serial_scores, pooled_scores, strict=True):
        pd.testing.assert_frame_equal(a, b)


def test_explain_and_backtest_take_the_executor_options(tmp_path, capsys) -> None:
    explain = ["explain", "baseline", "--set", SHORT[0], "--runs", "5", "--causes", "transition",
               "--interactions", "0", "--quiet"]
    backtest = ["backtest", "baseline", "--observed", str(SHIPPED), "--runs", "5", "--quiet", "--no-plots"]
    for i, command in enumerate((explain, backtest)):
        out = tmp_path / f"ok{i}"
        assert main([*command, "--executor", "serial", "--out", str(out)]) == 0, capsys.readouterr().err
        assert (out / "manifest.json").is_file()
        capsys.readouterr()
        bad = tmp_path / f"bad{i}"
        for options, message in ((["--executor", "serial", "--scheduler", "tcp://127.0.0.1:1"],
                                  "needs the dask executor"),
                                 (["--scheduler", "localhost:8786"], "expected an address such as tcp://HOST:8786")):
            assert main([*command, *options, "--out", str(bad)]) == 2
            err = capsys.readouterr().err
            assert message in err and len(err.strip().splitlines()) == 1, err
        assert not bad.exists()


def _results_left(executor, short) -> list[int]:
    """Consume a batch's chunks from ``executor``, dropping each result once taken, and return how many
    earlier results were still alive each time a later one arrived (0s when none is held back)."""
    import gc
    import weakref

    from sim.batch.runner import Chunk

    chunks = [Chunk(short, 1, start, start + 2) for start in range(0, 12, 2)]
    refs, alive = [], []
    for result in executor.map_chunks(chunks):
        gc.collect()
        alive.append(sum(ref() is not None for ref in refs))
        refs.append(weakref.ref(result))
        del result
    return alive


def test_executors_hold_no_finished_result_once_it_is_taken(short) -> None:
    # Holding every finished future kept the whole batch's results in the parent (16 KB per replication).
    with ProcessPool(2) as pool:
        assert _results_left(pool, short) == [0] * 6
    with ThreadPoolExecutor(2) as threads:
        assert _results_left(as_executor(threads), short) == [0] * 6


def test_dask_releases_each_result_once_it_is_taken(short) -> None:
    pytest.importorskip("distributed")
    with DaskExecutor(workers=2, processes=False) as dask:
        assert _results_left(dask, short) == [0] * 6
        # The cluster holds none of them either: only the scattered scenario is left.
        assert [key for key in dask._client.who_has() if "_call_with" in str(key)] == []
        assert dask._client.who_has()


def test_dask_local_cluster_gives_the_serial_tables(short) -> None:
    pytest.importorskip("distributed")
    serial = run(short, runs=16, seed=8, progress=False)
    vary = {"funding.runway_days": [30, 90]}
    serial_sweep = sweep(short, vary, runs=8, seed=8, progress=False)
    with DaskExecutor(workers=2, processes=False) as dask:
        assert dask.workers == 2 and dask.min_chunk == 100
        assert_same_tables(serial, run(short, runs=16, seed=8, executor=dask, chunk_size=4, progress=False))
        pd.testing.assert_frame_equal(serial_sweep.table,
                                      sweep(short, vary, runs=8, seed=8, executor=dask, progress=False).table)
        # A distributed.Client passed as it is is wrapped, and left open.
        client = dask._client
        wrapped = as_executor(client)
        assert isinstance(wrapped, DaskExecutor)
        assert_same_tables(serial, run(short, runs=16, seed=8, executor=client, chunk_size=8, progress=False))
        assert client.status == "running"


@pytest.mark.slow
def test_dask_worker_processes_give_the_serial_tables(short) -> None:
    pytest.importorskip("distributed")
    serial = run(short, runs=12, seed=8, progress=False)
    with make_executor(2, "dask") as dask:
        assert_same_tables(serial, run(short, runs=12, seed=8, executor=dask, chunk_size=3, progress=False))
        # The cluster it started runs its workers without the statistical profiler or the nanny's malloc
        # trim threshold, their imports frozen.
        settings = dask._client.run(_worker_settings)
        assert len(settings) == 2 and all(v == (False, True, None) for v in settings.values()), settings
        # Its scheduler sends each worker its next chunk ahead (no queuing).
        assert math.isinf(dask._cluster.scheduler.WORKER_SATURATION)
        # Its workers' scratch space is a folder of its own, not dask-scratch-space in the system's temp folder.
        scratch = Path(dask._scratch)
        places = dask._client.run(lambda dask_worker: dask_worker.local_directory)
        assert len(places) == 2 and all(Path(p).is_relative_to(scratch) for p in places.values()), places
    assert not scratch.exists()  # removed on closing


def _worker_settings() -> tuple[bool, bool, str | None]:
    import gc
    import os

    import dask

    return (dask.config.get("distributed.worker.profile.enabled"), gc.get_freeze_count() > 0,
            os.environ.get("MALLOC_TRIM_THRESHOLD_"))


def test_make_executor_and_chunk_sizes() -> None:
    assert isinstance(make_executor(1), InProcess)
    assert isinstance(make_executor(3, "serial"), InProcess)
    assert isinstance(make_executor(2), ProcessPool) and make_executor(2).workers == 2
    assert isinstance(make_executor(1, "pool"), ProcessPool)
    with pytest.raises(ValueError, match="dask executor"):
        make_executor(2, "pool", "tcp://127.0.0.1:8786")
    with pytest.raises(ValueError, match="executor must be one of"):
        make_executor(2, "mpi")
    with pytest.raises(TypeError, match="not an executor"):
        as_executor(42)
    # About four chunks per worker, at most 250, at least the engine's minimum, never more than the runs.
    assert chunk_size_for(1000, ProcessPool(2)) == 125
    assert chunk_size_for(100_000, ProcessPool(2)) == 250
    assert chunk_size_for(3, ProcessPool(2)) == 1
    dask_like = type("D", (), {"workers": 8, "min_chunk": 100})()
    assert chunk_size_for(2000, dask_like) == 100
    assert chunk_size_for(50, dask_like) == 50


def test_dask_missing_is_one_clear_line(monkeypatch, capsys, tmp_path) -> None:
    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed now raises ImportError
    with pytest.raises(ImportError, match=r"deploysim\[dask\]"):
        DaskExecutor()
    code = main(["run", "baseline", "--runs", "2", "--executor", "dask", "--out", str(tmp_path / "r"), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2
    assert DASK_MISSING in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "r").exists()


# -- isolated failures ---------------------------------------------------------------------------

FAULTS = "DEPLOYSIM_TEST_FAULTS"
_real_run = Mission.run


def _faulty_run(self):
    """Mission.run, raising for the replications listed in the environment (read in every worker)."""
    if str(self.replication) in os.environ.get(FAULTS, "").split(","):
        raise RuntimeError(f"injected fault in replication {self.replication}")
    return _real_run(self)


@pytest.fixture
def faults(monkeypatch):
    """Replications 3 and 7 raise. Pool workers are forked, so they inherit the patch (and the variable)."""
    monkeypatch.setenv(FAULTS, "3,7")
    monkeypatch.setattr(Mission, "run", _faulty_run)
    return [3, 7]


def bands_of(daily: dict, scenario) -> pd.DataFrame:
    """The bands a batch computes from these daily series (through the same counts as its chunks)."""
    from sim.batch.results import BAND_QUANTILES
    from sim.batch.sketch import SeriesSketch, bands_from_sketches, sketch_rows

    sketches = {}
    for name, values in daily.items():
        sketches[name] = SeriesSketch(name, scenario.horizon_days + 1)
        sketches[name].add(sketch_rows(name, values))
    return bands_from_sketches(sketches, BAND_QUANTILES, scenario.start_date)


def test_failed_replications_are_recorded_and_left_out(short, faults) -> None:
    runs = 20
    faulty = run(short, runs=runs, seed=11, chunk_size=6, progress=False)
    os.environ[FAULTS] = ""
    clean = run(short, runs=runs, seed=11, keep_daily=True, progress=False)
    os.environ[FAULTS] = "3,7"

    assert faulty.failed == 2
    assert list(faulty.failures["replication"]) == faults
    assert list(faulty.failures["seed"]) == [11, 11]
    assert all("injected fault in replication" in tb and "Traceback" in tb for tb in faulty.failures["traceback"])
    assert list(faulty.failures["error"]) == [f"RuntimeError: injected fault in replication {k}" for k in faults]
    keep = [k for k in range(runs) if k not in faults]
    # Every table holds the other replications, exactly as a batch without the fault has them.
    expected = clean.replications.iloc[keep].reset_index(drop=True)
    pd.testing.assert_frame_equal(faulty.replications, expected)
    bands = bands_of({name: values[keep] for name, values in clean.daily.items()}, short)
    pd.testing.assert_frame_equal(faulty.bands, bands)
    assert set(faulty.strength["replication"]) == set(keep)
    strength = clean.strength[clean.strength["replication"].isin(keep)].reset_index(drop=True)
    pd.testing.assert_frame_equal(faulty.strength, strength)
    assert not faulty.delays["replication"].isin(faults).any()
    # Shares are over the replications that finished.
    summary = faulty.milestone_summary().set_index("milestone")
    reached = np.mean(~np.isnan(expected["first_arrival_day"].to_numpy()))
    assert summary.loc["first_arrival", "share_reached"] == pytest.approx(reached)
    assert "2 failed" in repr(faulty)


def test_a_pool_records_the_same_failures(short, faults) -> None:
    serial = run(short, runs=12, seed=2, progress=False)
    with ProcessPool(2) as pool:
        pooled = run(short, runs=12, seed=2, executor=pool, chunk_size=4, progress=False)
    assert_same_tables(serial, pooled)
    pd.testing.assert_frame_equal(serial.failures, pooled.failures)


def test_the_failure_limit_and_fail_fast(short, faults) -> None:
    assert default_max_failures(100) == 10 and default_max_failures(5000) == 50
    with pytest.raises(BatchFailed, match="2 replication\\(s\\) failed, more than the 1 allowed") as info:
        run(short, runs=10, seed=1, max_failures=1, progress=False)
    assert [f.replication for f in info.value.failures] == faults
    assert "deploysim trace SCENARIO --seed 1 --replication 3" in str(info.value)
    with pytest.raises(BatchFailed, match="more than the 0 allowed"):
        run(short, runs=10, seed=1, fail_fast=True, progress=False)
    os.environ[FAULTS] = "0,1,2,3"  # restored by the fixture's monkeypatch.setenv
    with pytest.raises(BatchFailed, match="every replication failed"):
        run(short, runs=4, seed=1, max_failures=10, chunk_size=2, progress=False)
    with pytest.raises(ValueError, match="max_failures"):
        run(short, runs=4, seed=1, max_failures=-1)


def test_failures_are_stored_and_read_back(short, faults, tmp_path) -> None:
    res = run(short, runs=10, seed=1, progress=False)
    folder = save_results(res, folder=tmp_path / "run")
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["failed"] == 2
    assert [f["replication"] for f in manifest["failures"]] == faults
    assert (folder / "failures.parquet").is_file()
    back = load_results(folder)
    pd.testing.assert_frame_equal(back.failures, res.failures)
    pd.testing.assert_frame_equal(back.replications, res.replications)


def test_the_command_line_reports_failures_and_trace_reproduces_one(faults, tmp_path, capsys) -> None:
    out = tmp_path / "run"
    code = main(["run", "baseline", "--set", SHORT[0], "--runs", "10", "--seed", "5", "--out", str(out),
                 "--quiet", "--no-plots"])
    printed = capsys.readouterr().out
    assert code == 0
    assert "2 of them failed and are left out of every table" in printed
    assert (out / "failures.parquet").is_file()

    code = main(["trace", str(out), "--replication", "7", "--out", str(tmp_path / "t.png")])
    printed = capsys.readouterr().out
    assert code == 1
    assert "Replication 7 failed in this run: RuntimeError: injected fault in replication 7" in printed
    assert "raised after" in printed and "injected fault in replication 7" in printed.splitlines()[-1]
    # A replication that did not fail traces as usual, with the stored run's seed.
    code = main(["trace", str(out), "--replication", "2", "--out", str(tmp_path / "t2.png")])
    assert code == 0 and (tmp_path / "t2.png").is_file()
    assert main(["trace", str(out), "--seed", "6", "--out", str(tmp_path / "t3.png")]) == 2
    capsys.readouterr()

    code = main(["run", "baseline", "--set", SHORT[0], "--runs", "10", "--out", str(tmp_path / "ff"),
                 "--quiet", "--no-plots", "--fail-fast"])
    err = capsys.readouterr().err
    assert code == 2
    assert "more than the 0 allowed" in err and "Traceback" in err
    assert not (tmp_path / "ff").exists()


def test_compare_pairs_the_replications_both_scenarios_finished(short, monkeypatch) -> None:
    """A replication that raised in one scenario is left out of the paired figures of both."""
    other = load_scenario("baseline", [*SHORT, "funding.runway_days=30"])

    def fails_in_other(self):
        if self.replication == 3 and self.scenario.funding.runway_days == 30:
            raise RuntimeError("injected fault")
        return _real_run(self)

    clean = compare([short, other], runs=12, seed=4, progress=False)
    monkeypatch.setattr(Mission, "run", fails_in_other)
    faulty = compare([short, other], runs=12, seed=4, progress=False)
    assert [r.failed for r in faulty.results] == [0, 1]
    assert all(3 not in set(r.replications["replication"]) for r in faulty.results)
    assert all(len(r.replications) == 11 for r in faulty.results)
    # The paired figures are those of the clean batches without replication 3.
    from sim.analysis.compare import comparison_of

    without = [replace_rows(r, lambda f: f[f["replication"] != 3]) for r in clean.results]
    pd.testing.assert_frame_equal(faulty.differences, comparison_of(without).differences)


def replace_rows(results, keep):
    import dataclasses

    return dataclasses.replace(results, replications=keep(results.replications).reset_index(drop=True),
                               delays=keep(results.delays).reset_index(drop=True),
                               strength=keep(results.strength).reset_index(drop=True), daily=None)


def test_sweep_command_says_how_many_failed(faults, tmp_path, capsys) -> None:
    code = main(["sweep", "baseline", "--set", SHORT[0], "--vary", "funding.runway_days=30,90", "--runs", "8",
                 "--out", str(tmp_path / "s"), "--quiet"])
    printed = capsys.readouterr().out
    assert code == 0
    assert "Failed replications, left out of every table (point 0: 2, point 1: 2)" in printed


def test_executor_options_are_checked_before_anything_runs(tmp_path, capsys) -> None:
    out = tmp_path / "r"
    assert main(["run", "baseline", "--runs", "2", "--scheduler", "localhost:8786", "--out", str(out)]) == 2
    assert "expected an address such as tcp://HOST:8786" in capsys.readouterr().err
    assert main(["run", "baseline", "--runs", "2", "--executor", "pool", "--scheduler", "tcp://127.0.0.1:1",
                 "--out", str(out)]) == 2
    assert "needs the dask executor" in capsys.readouterr().err
    assert main(["run", "baseline", "--runs", "2", "--executor", "mpi", "--out", str(out)]) == 2
    assert not out.exists()


def test_the_tornado_stops_at_a_failed_replication(short, faults) -> None:
    """Its paired bootstrap takes replication k of every batch, so it cannot leave one out."""
    with pytest.raises(BatchFailed, match="more than the 0 allowed"):
        tornado(short, inputs=["reconnaissance.duration_days"], runs=10, seed=1, progress=False)
