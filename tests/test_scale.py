"""Batches at scale: bands from mergeable counts (exact for whole numbers, a stated error for money),
the resume journal, and slices of a batch merged into one run."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sim import load_scenario, run, simulate
from sim.batch.results import BAND_QUANTILES, bands_from_daily, checkpoint_dates, delays_frame, strength_frame
from sim.batch.runner import _replications_frame
from sim.batch.sketch import (
    MONEY_ABSOLUTE_ERROR_USD,
    MONEY_RELATIVE_ERROR,
    ChunkSketcher,
    SeriesSketch,
    decode,
    encode,
    is_money,
    load_sketches,
    save_sketches,
)

ROOT = Path(__file__).resolve().parents[1]
BASELINE = ROOT / "scenarios" / "baseline.toml"


@pytest.fixture(scope="module")
def baseline():
    return load_scenario(BASELINE)


@pytest.fixture(scope="module")
def batch(baseline):
    """A batch with its dense daily grid, in uneven chunks."""
    return run(baseline, runs=80, seed=5, keep_daily=True, chunk_size=7, progress=False)


def _sketch_of(series: str, rows: np.ndarray) -> SeriesSketch:
    sketcher = ChunkSketcher(series, rows.shape[1])
    for row in rows:
        sketcher.add(row)
    sketch = SeriesSketch(series, rows.shape[1])
    sketch.add(sketcher.result())
    return sketch


# -- Counts of whole numbers: numpy's quantiles exactly ---------------------------------------


def test_counted_quantiles_are_numpys_on_a_constructed_grid() -> None:
    rows = np.array([[0, 0, 3, 3, 7], [1, 1, 1, 2, 2], [0, 5, 5, 5, 9], [4, 4, 4, 4, 4]], dtype=float)
    sketch = _sketch_of("in_theatre", rows)
    quantiles = [0.0, 0.1, 0.25, 0.5, 0.75, 0.9, 1.0]
    np.testing.assert_array_equal(sketch.quantiles(quantiles), np.quantile(rows, quantiles, axis=0))
    np.testing.assert_array_equal(sketch.mean(), rows.mean(axis=0))
    np.testing.assert_array_equal(sketch.counts().sum(axis=1), [4] * 5)


def test_row_counts_by_search_are_the_counts_by_comparison() -> None:
    """The binary search the quantiles use gives ``(matrix <= x).sum(axis=1)`` for every threshold."""
    from sim.batch.sketch import _RowCounts

    rng = np.random.default_rng(11)
    for rows, width, top in [(1, 1, 0), (3, 1, 5), (40, 25, 9), (7, 300, 1000)]:
        matrix = np.sort(rng.integers(0, top + 1, (rows, width)), axis=1).astype(np.int64)
        matrix[0, -1] = top  # a row reaching the top, where the next row's shift begins
        expected = {x: (matrix <= x).sum(axis=1) for x in range(top + 1)}
        counts = _RowCounts(matrix.copy(), top)
        for x in range(top + 1):
            np.testing.assert_array_equal(counts(float(x)), expected[x])


def test_a_day_without_a_value_has_no_quantile_as_in_numpy() -> None:
    rows = np.array([[np.nan, 2, 2], [1, 1, np.nan], [3, 3, 3]])
    sketch = _sketch_of("in_theatre", rows)
    np.testing.assert_array_equal(sketch.quantiles(BAND_QUANTILES), np.quantile(rows, BAND_QUANTILES, axis=0))
    np.testing.assert_array_equal(sketch.mean(), rows.mean(axis=0))


def test_sketches_of_slices_merge_into_the_sketch_of_the_whole() -> None:
    rng = np.random.default_rng(0)
    rows = rng.integers(-3, 40, size=(57, 30)).astype(float)
    whole = _sketch_of("base_capacity", rows)
    merged = _sketch_of("base_capacity", rows[:20])
    merged.merge(_sketch_of("base_capacity", rows[20:]))
    np.testing.assert_array_equal(merged.quantiles(BAND_QUANTILES), whole.quantiles(BAND_QUANTILES))
    np.testing.assert_array_equal(merged.quantiles(BAND_QUANTILES), np.quantile(rows, BAND_QUANTILES, axis=0))
    np.testing.assert_array_equal(merged.mean(), rows.mean(axis=0))


def test_a_whole_number_series_that_is_not_whole_is_refused() -> None:
    with pytest.raises(ValueError, match="whole numbers"):
        _sketch_of("in_theatre", np.array([[1.0, 1.5]]))


def test_batch_bands_of_whole_number_series_are_the_dense_bands_exactly(baseline, batch) -> None:
    dense = bands_from_daily(batch.daily, baseline.start_date)
    for name in batch.daily:
        if is_money(name):
            continue
        pd.testing.assert_frame_equal(batch.series_band(name), dense[dense["series"] == name].reset_index(drop=True),
                                      check_exact=True)


# -- Money: fine logarithmic bins, with a stated error ----------------------------------------


def test_money_codes_stand_for_values_within_the_stated_error() -> None:
    rng = np.random.default_rng(1)
    values = np.concatenate([[0.0, 0.3, -0.7, 1.0, -1.0, 2.0**40], rng.lognormal(12, 6, 5000),
                             -rng.lognormal(8, 3, 500)])
    back = decode("fund_balance_usd", encode("fund_balance_usd", values))
    small = np.where(np.abs(values) < 1, MONEY_ABSOLUTE_ERROR_USD, 0)
    bound = MONEY_RELATIVE_ERROR * np.abs(values) * (1 + 1e-9) + small
    assert np.all(np.abs(back - values) <= bound)
    assert back[0] == 0.0
    assert MONEY_RELATIVE_ERROR < 0.003


def test_batch_money_bands_are_within_the_stated_error_of_the_dense_bands(baseline, batch) -> None:
    grid = batch.daily["fund_balance_usd"]
    band = batch.series_band("fund_balance_usd")
    ordered = np.sort(grid, axis=0)
    n = len(grid)
    for q in BAND_QUANTILES:
        exact = np.quantile(grid, q, axis=0)
        j = int(np.floor((n - 1) * q))
        size = np.maximum(np.abs(ordered[j]), np.abs(ordered[min(j + 1, n - 1)]))
        error = np.abs(band[f"p{round(q * 100)}"].to_numpy() - exact)
        assert np.all(error <= MONEY_RELATIVE_ERROR * size * (1 + 1e-9) + MONEY_ABSOLUTE_ERROR_USD)
    # The mean is that of the values in whole cents.
    np.testing.assert_allclose(band["mean"].to_numpy(), grid.mean(axis=0), rtol=0, atol=0.005 + 1e-6)


# -- The other tables are those of the dense grid and of the records ---------------------------


def test_strength_checkpoints_are_those_of_the_dense_grid(baseline, batch) -> None:
    pd.testing.assert_frame_equal(batch.strength, strength_frame(batch.daily, baseline, checkpoint_dates(baseline)),
                                  check_exact=True)


def test_replications_and_delays_are_the_records_rows_in_one_frame(baseline, batch) -> None:
    records = [simulate(baseline, 5, k) for k in range(80)]
    expected = _replications_frame(record.row() for record in records)
    pd.testing.assert_frame_equal(batch.replications, expected, check_exact=True)
    delays = delays_frame([row for record in records for row in record.delay_rows()])
    pd.testing.assert_frame_equal(batch.delays, delays, check_exact=True)


def test_without_the_dense_grid_the_tables_are_the_same(baseline, batch) -> None:
    lean = run(baseline, runs=80, seed=5, chunk_size=13, progress=False)
    assert lean.daily is None
    for table in ("replications", "bands", "strength", "delays"):
        pd.testing.assert_frame_equal(getattr(lean, table), getattr(batch, table), check_exact=True)


def test_stored_sketches_read_back_equal(tmp_path, batch) -> None:
    path = tmp_path / "sketch.npz"
    assert batch.sketches is not None
    save_sketches(batch.sketches, str(path))
    back = load_sketches(str(path))
    assert list(back) == list(batch.sketches)
    for name, sketch in batch.sketches.items():
        np.testing.assert_array_equal(back[name].quantiles(BAND_QUANTILES), sketch.quantiles(BAND_QUANTILES))
        np.testing.assert_array_equal(back[name].mean(), sketch.mean())


# -- The resume journal ----------------------------------------------------------------------

SCENARIO = str(BASELINE)


def _tables(folder: Path) -> dict[str, pd.DataFrame]:
    from sim.batch.store import load_results

    res = load_results(folder)
    return {t: getattr(res, t) for t in ("replications", "bands", "strength", "delays")}


def _assert_same_tables(a: Path, b: Path) -> None:
    ta, tb = _tables(a), _tables(b)
    for name in ta:
        pd.testing.assert_frame_equal(ta[name], tb[name], check_exact=True, obj=name)
    for name in ("summary.csv", "strength_summary.csv", "delays_summary.csv"):
        assert (a / name).read_bytes() == (b / name).read_bytes(), name


class _CrashAfter:
    """An executor that runs chunks in this process and dies (as a kill would) after ``n`` of them."""

    def __init__(self, n: int):
        self.n = n

    def map_chunks(self, chunks):
        from sim.batch.runner import run_chunk

        for i, chunk in enumerate(chunks):
            if i == self.n:
                raise KeyboardInterrupt
            yield run_chunk(chunk)


def test_a_resumed_batch_has_the_tables_of_an_uninterrupted_one(tmp_path, baseline) -> None:
    whole = run(baseline, runs=30, seed=2, chunk_size=4, progress=False)
    journal = tmp_path / "journal"
    with pytest.raises(KeyboardInterrupt):
        run(baseline, runs=30, seed=2, chunk_size=4, progress=False, journal=journal, executor=_CrashAfter(3))
    from sim.batch.journal import journal_chunks

    assert journal_chunks(journal) == 3
    ran: list[int] = []

    class Counting(_CrashAfter):
        def map_chunks(self, chunks):
            ran.extend(c.start for c in chunks)
            yield from super().map_chunks(chunks)

    # Resuming with another chunk size keeps the journal's, so the chunks already done fit.
    resumed = run(baseline, runs=30, seed=2, chunk_size=7, progress=False, journal=journal, resume=True,
                  executor=Counting(10**6))
    assert ran == [12, 16, 20, 24, 28]
    for table in ("replications", "bands", "strength", "delays"):
        pd.testing.assert_frame_equal(getattr(resumed, table), getattr(whole, table), check_exact=True)


def test_torn_or_altered_journal_entries_are_run_again(tmp_path, baseline) -> None:
    from sim.batch.journal import LINES, journal_chunks

    whole = run(baseline, runs=20, seed=8, chunk_size=5, progress=False)
    journal = tmp_path / "journal"
    with pytest.raises(KeyboardInterrupt):
        run(baseline, runs=20, seed=8, chunk_size=5, progress=False, journal=journal, executor=_CrashAfter(3))
    chunk_files = sorted(journal.glob("chunk-*.pkl"))
    assert len(chunk_files) == 3
    # A chunk file altered after its line was written, a torn last line, and a chunk file without a line.
    chunk_files[0].write_bytes(chunk_files[0].read_bytes()[:-10] + b"0123456789")
    lines = (journal / LINES).read_text().splitlines()
    (journal / LINES).write_text("\n".join(lines[:2]) + "\n" + lines[2][: len(lines[2]) // 2])
    assert journal_chunks(journal) == 2
    ran: list[int] = []

    class Counting(_CrashAfter):
        def map_chunks(self, chunks):
            ran.extend(c.start for c in chunks)
            yield from super().map_chunks(chunks)

    resumed = run(baseline, runs=20, seed=8, chunk_size=5, progress=False, journal=journal, resume=True,
                  executor=Counting(10**6))
    assert ran == [0, 10, 15]
    pd.testing.assert_frame_equal(resumed.replications, whole.replications, check_exact=True)
    pd.testing.assert_frame_equal(resumed.bands, whole.bands, check_exact=True)


def test_a_journal_of_another_batch_is_not_resumed(tmp_path, baseline) -> None:
    journal = tmp_path / "journal"
    with pytest.raises(KeyboardInterrupt):
        run(baseline, runs=20, seed=8, chunk_size=5, progress=False, journal=journal, executor=_CrashAfter(2))
    other = run(baseline, runs=20, seed=9, chunk_size=5, progress=False, journal=journal, resume=True)
    expected = run(baseline, runs=20, seed=9, chunk_size=5, progress=False)
    pd.testing.assert_frame_equal(other.replications, expected.replications, check_exact=True)


def test_a_journal_another_process_holds_is_left_alone(tmp_path, baseline) -> None:
    from sim.batch.journal import Journal, journal_chunks
    from sim.batch.runner import Chunk as RunnerChunk
    from sim.batch.runner import batch_key, journal_folder, run_chunk

    folder = journal_folder(tmp_path, baseline, 8, range(10))
    holder = Journal.open(folder, batch_key(baseline, 8, range(10), ()), resume=False)
    assert holder is not None
    holder.begin(5)
    holder.record(run_chunk(RunnerChunk(baseline, 8, 0, 5)))
    try:
        # The same batch started again meanwhile runs without a journal and leaves the holder's alone.
        alone = run(baseline, runs=10, seed=8, chunk_size=5, progress=False, journal=folder)
        assert len(alone.replications) == 10 and journal_chunks(folder) == 1
    finally:
        holder.close()
    again = Journal.open(folder, batch_key(baseline, 8, range(10), ()), resume=False)
    assert again is not None and again.found == 1 and not again.resumed
    again.remove()
    assert not folder.exists()


def test_a_folder_that_is_not_a_journal_is_refused(tmp_path, baseline) -> None:
    from sim.batch.journal import JournalError

    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    with pytest.raises(JournalError, match="not a journal"):
        run(baseline, runs=5, seed=1, progress=False, journal=tmp_path / "mine")
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep me"


def _journal_lines(root: Path) -> int:
    from sim.batch.journal import journal_chunks

    return max((journal_chunks(p) for p in root.glob(".resume-*")), default=0)


@pytest.mark.slow
def test_run_killed_then_resumed_matches_an_uninterrupted_run(tmp_path) -> None:
    import os
    import signal
    import subprocess
    import sys
    import time

    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    base = [sys.executable, "-m", "sim", "run", SCENARIO, "--runs", "240", "--seed", "4", "--chunk-size", "6",
            "--quiet", "--no-plots"]
    subprocess.run([*base, "--out", str(tmp_path / "whole")], check=True, env=env, capture_output=True)
    assert not list(tmp_path.glob(".resume-*"))  # a finished run leaves no journal
    killed_after = None
    for attempt in range(3):
        proc = subprocess.Popen([*base, "--out", str(tmp_path / "resumed")], env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 300
        while _journal_lines(tmp_path) < 4 + 4 * attempt and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
            killed_after = _journal_lines(tmp_path)
            break
        proc.wait()
    assert killed_after is not None and killed_after < 40, "the run finished before it could be killed"
    assert not (tmp_path / "resumed").exists()
    done = subprocess.run([*base, "--out", str(tmp_path / "resumed"), "--resume"], env=env, capture_output=True,
                          text=True)
    assert done.returncode == 0, done.stderr
    assert f"resuming from {killed_after} completed chunks" in done.stderr
    assert not list(tmp_path.glob(".resume-*"))
    _assert_same_tables(tmp_path / "whole", tmp_path / "resumed")


def test_a_leftover_journal_without_resume_is_started_again(tmp_path, capsys) -> None:
    from sim.commands.main import main

    scenario = load_scenario(BASELINE)
    from sim.batch.runner import journal_folder

    journal = journal_folder(tmp_path, scenario, 3, range(12))
    with pytest.raises(KeyboardInterrupt):
        run(scenario, runs=12, seed=3, chunk_size=4, progress=False, journal=journal, executor=_CrashAfter(1))
    code = main(["run", SCENARIO, "--runs", "12", "--seed", "3", "--chunk-size", "4", "--quiet", "--no-plots",
                 "--out", str(tmp_path / "again")])
    assert code == 0
    assert "left 1 completed chunks; starting again" in capsys.readouterr().err
    assert not journal.exists()


# -- Slices of a batch, merged -----------------------------------------------------------------


def _cli(*args: str) -> int:
    from sim.commands.main import main

    return main(list(args))


@pytest.fixture(scope="module")
def slices(tmp_path_factory):
    root = tmp_path_factory.mktemp("slices")
    common = ["--seed", "6", "--quiet", "--no-plots"]
    assert _cli("run", SCENARIO, "--runs", "30", *common, "--out", str(root / "whole")) == 0
    assert _cli("run", SCENARIO, "--replications", "0:11", *common, "--out", str(root / "a")) == 0
    assert _cli("run", SCENARIO, "--replications", "11:30", *common, "--out", str(root / "b")) == 0
    assert _cli("run", SCENARIO, "--replications", "11:30", "--seed", "7", "--quiet", "--no-plots",
                "--out", str(root / "b_seed7")) == 0
    assert _cli("run", SCENARIO, "--replications", "11:30", *common, "--set", "horizon_days=500",
                "--out", str(root / "b_short")) == 0
    assert _cli("run", SCENARIO, "--replications", "5:30", *common, "--out", str(root / "overlap")) == 0
    assert _cli("run", SCENARIO, "--replications", "12:30", *common, "--out", str(root / "gap")) == 0
    return root


def test_two_slices_merged_are_the_whole_batch(slices, tmp_path) -> None:
    from sim.batch.store import read_manifest

    assert read_manifest(slices / "a")["replications"] == {"start": 0, "stop": 11}
    assert _cli("merge", str(slices / "b"), str(slices / "a"), "--out", str(tmp_path / "merged"), "--no-plots") == 0
    _assert_same_tables(slices / "whole", tmp_path / "merged")
    manifest = read_manifest(tmp_path / "merged")
    assert manifest["runs"] == 30 and "slice" not in manifest


def test_slices_merged_a_piece_at_a_time_are_the_whole_batch_and_leave_no_spill(slices, tmp_path,
                                                                               monkeypatch) -> None:
    import sim.batch.shards as shards
    from sim.batch.store import load_results

    monkeypatch.setattr(shards, "MERGE_PIECE", 4)  # several pieces per slice, one cut inside slice a
    out = tmp_path / "out"
    assert _cli("merge", str(slices / "a"), str(slices / "b"), "--out", str(out / "merged"), "--no-plots") == 0
    _assert_same_tables(slices / "whole", out / "merged")
    assert [p.name for p in out.iterdir()] == ["merged"]  # the merge's spill is gone
    # In a notebook: the same tables as the slices merged in memory, the tables spilled until asked for.
    parts = [load_results(slices / "a"), load_results(slices / "b")]
    held = shards.merge_results(parts)
    spilled = shards.merge_stored([slices / "a", slices / "b"], tmp_path / "spill")
    assert spilled.is_spilled("replications") and spilled.is_spilled("delays")
    for name in ("summary", "strength_summary", "delay_summary", "binding_shares"):
        pd.testing.assert_frame_equal(getattr(held, name)(), getattr(spilled, name)(), obj=name)
    for table in ("replications", "delays", "strength"):
        pd.testing.assert_frame_equal(getattr(held, table), getattr(spilled, table), check_exact=True, obj=table)
    spilled.spill.remove()
    assert not (tmp_path / "spill").exists()


def test_slices_with_failed_replications_merge_with_their_failures(tmp_path, monkeypatch) -> None:
    from sim.batch.store import load_results, read_manifest
    from sim.model.mission import Mission
    from tests.test_executors import FAULTS, _faulty_run

    monkeypatch.setenv(FAULTS, "3,14")
    monkeypatch.setattr(Mission, "run", _faulty_run)
    common = ["--seed", "6", "--quiet", "--no-plots", "--max-failures", "5"]
    assert _cli("run", SCENARIO, "--runs", "20", *common, "--out", str(tmp_path / "whole")) == 0
    assert _cli("run", SCENARIO, "--replications", "0:9", *common, "--out", str(tmp_path / "a")) == 0
    assert _cli("run", SCENARIO, "--replications", "9:20", *common, "--out", str(tmp_path / "b")) == 0
    assert _cli("merge", str(tmp_path / "a"), str(tmp_path / "b"), "--out", str(tmp_path / "merged"),
                "--no-plots") == 0
    _assert_same_tables(tmp_path / "whole", tmp_path / "merged")
    assert read_manifest(tmp_path / "merged")["failed"] == 2
    merged = load_results(tmp_path / "merged")
    assert merged.failures["replication"].tolist() == [3, 14]
    assert 3 not in merged.replications["replication"].tolist()


@pytest.mark.parametrize(("other", "message"), [
    ("b_seed7", "has seed 7"),
    ("b_short", "ran another scenario"),
    ("overlap", "overlaps another slice"),
    ("gap", "replications 11:12 are missing"),
    ("whole", "is not a slice"),
])
def test_slices_that_do_not_make_one_batch_are_refused(slices, tmp_path, capsys, other, message) -> None:
    code = _cli("merge", str(slices / "a"), str(slices / other), "--out", str(tmp_path / "merged"))
    err = capsys.readouterr().err
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "merged").exists()


def test_slices_of_another_version_are_refused(slices, tmp_path, capsys) -> None:
    import json
    import shutil

    shutil.copytree(slices / "b", tmp_path / "b")
    manifest = json.loads((tmp_path / "b" / "manifest.json").read_text())
    manifest["versions"]["deploysim"] = "0.0.1"
    (tmp_path / "b" / "manifest.json").write_text(json.dumps(manifest))
    assert _cli("merge", str(slices / "a"), str(tmp_path / "b"), "--out", str(tmp_path / "merged")) == 2
    assert "was written by deploysim 0.0.1" in capsys.readouterr().err


def test_a_stored_slice_reads_back_as_a_slice(slices) -> None:
    from sim.batch.store import load_results

    part = load_results(slices / "b")
    assert part.replication_range == (11, 30) and part.runs == 19
    assert part.replications["replication"].tolist() == list(range(11, 30))
