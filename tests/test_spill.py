"""Spilled batches (``run(..., spill=...)``, as ``deploysim run`` does): the tables go to Parquet as chunks
complete, and every table and summary is the same as for the batch held in memory."""

from __future__ import annotations

import datetime as dt
import filecmp
import gc

import numpy as np
import pandas as pd
import pytest

from sim import load_scenario, run
from sim.batch.executors import InProcess
from sim.batch.store import load_results, save_results
from sim.commands.main import main
from sim.model.mission import Mission

# Replications listed in the variable FAULTS raise (the patch test_executors uses).
from tests.test_executors import FAULTS, _faulty_run

SHORT = ["horizon_days=400"]


class Reversed(InProcess):
    """Chunks complete last first: a spill must still write them in replication order."""

    def map_shared(self, fn, scenario, tasks):
        for i in reversed(range(len(tasks))):
            yield i, fn(scenario, tasks[i])


@pytest.fixture(scope="module")
def short():
    return load_scenario("baseline", SHORT)


@pytest.fixture(scope="module")
def held(short):
    return run(short, runs=90, seed=5, chunk_size=13, progress=False)


SUMMARIES = ("milestone_summary", "totals_summary", "strength_summary", "binding_shares", "delay_summary",
             "summary")


def assert_same(held, spilled) -> None:
    for name in SUMMARIES:
        pd.testing.assert_frame_equal(getattr(held, name)(), getattr(spilled, name)(), obj=name)
    for milestone in ("first_arrival", "lead_100pct"):
        np.testing.assert_array_equal(held.milestone_days(milestone), spilled.milestone_days(milestone))
    date = dt.date(2024, 9, 14)
    np.testing.assert_array_equal(held.strength_on(date), spilled.strength_on(date))
    np.testing.assert_array_equal(held.strength_on(date, "Kenya"), spilled.strength_on(date, "Kenya"))


def test_a_spilled_batch_reads_only_what_its_summaries_need_and_they_match(short, held, tmp_path) -> None:
    spilled = run(short, runs=90, seed=5, chunk_size=13, progress=False, spill=tmp_path / "tables")
    assert spilled.spill is not None and spilled.spill.rows["replications"] == 90
    assert_same(held, spilled)
    # Nothing was read whole: every summary read columns or one milestone's rows.
    assert all(spilled.is_spilled(t) for t in ("replications", "delays", "strength"))
    assert spilled.columns == list(held.replications.columns) and spilled.replication_count == 90
    # Nor does what `deploysim run` prints and draws (read whole, the delay table alone is 0.3 GB at 100,000 runs).
    from sim.commands.plot import write_figures
    from sim.output.tables import format_forecast

    assert format_forecast(spilled) == format_forecast(held)
    drawn = write_figures(spilled, tmp_path / "figures")
    assert len(drawn) == len(write_figures(held, tmp_path / "held_figures")) and all(p.is_file() for p in drawn)
    assert all(spilled.is_spilled(t) for t in ("replications", "delays", "strength"))
    # Asked for, the tables are read whole, equal to the held ones (dtypes and categories included).
    for table in ("replications", "delays", "strength"):
        pd.testing.assert_frame_equal(getattr(held, table), getattr(spilled, table), obj=table)
    assert not spilled.is_spilled("replications")


def test_chunks_completing_out_of_order_are_written_in_replication_order(short, held, tmp_path) -> None:
    spilled = run(short, runs=90, seed=5, chunk_size=13, progress=False, executor=Reversed(), spill=tmp_path / "t")
    assert_same(held, spilled)
    pd.testing.assert_frame_equal(held.delays, spilled.delays)


def test_a_stored_spilled_batch_is_the_stored_held_batch(short, held, tmp_path) -> None:
    spilled = run(short, runs=90, seed=5, chunk_size=13, progress=False, spill=tmp_path / "tables")
    a = save_results(held, folder=tmp_path / "held")
    b = save_results(spilled, folder=tmp_path / "spilled")
    assert all(spilled.is_spilled(t) for t in ("replications", "delays", "strength"))  # copied, not read whole
    for name in ("summary.csv", "delays_summary.csv", "strength_summary.csv"):
        assert filecmp.cmp(a / name, b / name, shallow=False), name
    back_a, back_b = load_results(a), load_results(b)
    for table in ("replications", "delays", "strength", "bands"):
        pd.testing.assert_frame_equal(getattr(back_a, table), getattr(back_b, table), obj=table)


def test_failed_replications_are_left_out_of_a_spilled_batch_too(short, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv(FAULTS, "4,30")
    monkeypatch.setattr(Mission, "run", _faulty_run)
    held = run(short, runs=40, seed=2, chunk_size=9, progress=False)
    spilled = run(short, runs=40, seed=2, chunk_size=9, progress=False, spill=tmp_path / "t")
    assert spilled.failed == held.failed == 2
    assert_same(held, spilled)
    assert sorted(spilled.strength["replication"].unique()) == [k for k in range(40) if k not in (4, 30)]


def test_a_temporary_spill_goes_with_its_results(short) -> None:
    spilled = run(short, runs=10, seed=1, progress=False, spill=True)
    folder = spilled.spill.folder
    assert (folder / "replications.parquet").is_file()
    del spilled
    gc.collect()
    assert not folder.exists()


def test_a_spill_folder_must_be_new_or_empty_and_a_failed_batch_leaves_it_as_it_was(short, tmp_path,
                                                                                     monkeypatch) -> None:
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "mine.txt").write_text("keep")
    with pytest.raises(ValueError, match="new or empty folder"):
        run(short, runs=5, seed=1, progress=False, spill=busy)
    assert (busy / "mine.txt").read_text() == "keep"
    monkeypatch.setenv(FAULTS, ",".join(str(k) for k in range(20)))
    monkeypatch.setattr(Mission, "run", _faulty_run)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(RuntimeError):
        run(short, runs=20, seed=1, chunk_size=5, progress=False, spill=empty)
    assert empty.is_dir() and not any(empty.iterdir())
    with pytest.raises(RuntimeError):
        run(short, runs=20, seed=1, chunk_size=5, progress=False, spill=tmp_path / "new")
    assert not (tmp_path / "new").exists()


def test_the_run_command_spills_and_leaves_only_the_run_folder(tmp_path, capsys) -> None:
    out = tmp_path / "runs" / "r"
    code = main(["run", "baseline", "--runs", "60", "--seed", "4", "--set", "horizon_days=400", "--no-plots",
                 "--quiet", "--chunk-size", "7", "--out", str(out)])
    assert code == 0
    printed = capsys.readouterr().out
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == ["r"]  # no journal, no spill left
    stored = load_results(out)
    held = run(load_scenario("baseline", SHORT), runs=60, seed=4, chunk_size=7, progress=False)
    pd.testing.assert_frame_equal(stored.replications, held.replications)
    pd.testing.assert_frame_equal(stored.delays, held.delays)
    pd.testing.assert_frame_equal(stored.strength, held.strength)
    assert "first_arrival" in printed or "First" in printed


def test_a_spilled_batch_without_delay_rows_or_checkpoints_stores_the_same_files(tmp_path) -> None:
    # Three days: no milestone is reached and no checkpoint falls inside the horizon.
    tiny = load_scenario("baseline", ["horizon_days=3"])
    held = run(tiny, runs=30, seed=1, chunk_size=7, progress=False)
    spilled = run(tiny, runs=30, seed=1, chunk_size=7, progress=False, spill=tmp_path / "t")
    assert len(held.delays) == 0 and len(held.strength) == 0
    assert spilled.has("delays") and spilled.has("strength")
    whole = run(tiny, runs=30, seed=1, chunk_size=7, progress=False, spill=tmp_path / "t2")
    for table in ("replications", "delays", "strength"):  # read whole, the empty ones too
        pd.testing.assert_frame_equal(getattr(held, table), getattr(whole, table), obj=table)
    a, b = save_results(held, folder=tmp_path / "held"), save_results(spilled, folder=tmp_path / "spilled")
    assert sorted(p.name for p in a.iterdir()) == sorted(p.name for p in b.iterdir())
    for name in ("summary.csv", "delays_summary.csv", "strength_summary.csv"):
        assert filecmp.cmp(a / name, b / name, shallow=False), name
    back_a, back_b = load_results(a), load_results(b)
    for table in ("replications", "delays", "strength"):
        pd.testing.assert_frame_equal(getattr(back_a, table), getattr(back_b, table), obj=table)


def test_many_row_groups_read_back_as_one_table(short, held, tmp_path, monkeypatch) -> None:
    import pyarrow.parquet as pq

    import sim.batch.spill as spill_module

    monkeypatch.setattr(spill_module, "ROW_GROUP_BYTES", 5_000)  # a group every chunk or two
    spilled = run(short, runs=90, seed=5, chunk_size=13, progress=False, spill=tmp_path / "t")
    assert pq.ParquetFile(spilled.spill.path("delays")).num_row_groups > 3
    assert_same(held, spilled)
    # Each column read alone across the groups (numbers into one array, text from its codes) is the held one.
    assert pq.ParquetFile(spilled.spill.path("replications")).num_row_groups > 3
    for name in held.replications.columns:
        pd.testing.assert_series_equal(spilled.column(name), held.replications[name], obj=name)
    assert spilled.is_spilled("replications")
    b = save_results(spilled, folder=tmp_path / "stored")
    back = load_results(b)
    for table in ("replications", "delays", "strength"):
        pd.testing.assert_frame_equal(getattr(held, table), getattr(back, table), obj=table)


def test_columns_that_the_first_chunks_leave_empty_are_typed_by_a_later_chunk(tmp_path) -> None:
    # Chunks of one replication over two months: the first has no delay row and reaches no milestone with
    # a binding cause (its text columns are only nulls, of Arrow type null); later ones do (a run of two
    # over 20 days once crashed on storing: "Unsupported cast from string to null").
    early = load_scenario("baseline", ["horizon_days=60"])
    held = run(early, runs=12, seed=3, chunk_size=1, progress=False)
    binding = held.replications["recon_started_binding"]
    assert 0 not in set(held.delays["replication"]) and pd.isna(binding.iloc[0]) and binding.notna().any()
    assert held.replications["lead_100pct_binding"].isna().all()  # a column no chunk gives a value
    spilled = run(early, runs=12, seed=3, chunk_size=1, progress=False, spill=tmp_path / "t")
    for name in SUMMARIES:
        pd.testing.assert_frame_equal(getattr(held, name)(), getattr(spilled, name)(), obj=name)
    np.testing.assert_array_equal(held.milestone_days("recon_started"), spilled.milestone_days("recon_started"))
    for name in held.replications.columns:
        pd.testing.assert_series_equal(spilled.column(name), held.replications[name], obj=name)
    a, b = save_results(held, folder=tmp_path / "held"), save_results(spilled, folder=tmp_path / "spilled")
    for name in ("summary.csv", "delays_summary.csv", "strength_summary.csv"):
        assert filecmp.cmp(a / name, b / name, shallow=False), name
    back_a, back_b = load_results(a), load_results(b)
    for table in ("replications", "delays", "strength"):
        pd.testing.assert_frame_equal(getattr(back_a, table), getattr(back_b, table), obj=table)
    whole = run(early, runs=12, seed=3, chunk_size=1, progress=False, spill=tmp_path / "t2")
    for table in ("replications", "delays", "strength"):  # read whole
        pd.testing.assert_frame_equal(getattr(held, table), getattr(whole, table), obj=table)


def test_the_run_command_stores_a_short_run_whose_first_chunk_is_empty(tmp_path, capsys) -> None:
    out = tmp_path / "r"
    assert main(["run", "baseline", "--set", "horizon_days=20", "--runs", "2", "--no-plots",
                 "--out", str(out)]) == 0
    assert load_results(out).replications.shape[0] == 2
