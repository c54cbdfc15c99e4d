"""Progress bars come from the library: one tqdm.auto bar per batch call, after a second; --quiet turns them off."""

from __future__ import annotations

from pathlib import Path

import pytest
import tqdm.auto

from sim import compare, derive, load_scenario, run
from sim.analysis.sensitivity import sobol_indices, tornado
from sim.analysis.sweep import sweep
from sim.commands.main import main

BASELINE = Path(__file__).resolve().parents[1] / "scenarios" / "baseline.toml"


class FakeBar:
    """Stands in for tqdm.auto.tqdm and records every bar made."""

    made: list[FakeBar] = []

    def __init__(self, **options):
        self.options, self.count, self.closed = options, 0, False
        FakeBar.made.append(self)

    def update(self, n: int) -> None:
        self.count += n

    def close(self) -> None:
        self.closed = True


@pytest.fixture
def bars(monkeypatch: pytest.MonkeyPatch) -> list[FakeBar]:
    FakeBar.made = []
    monkeypatch.setattr(tqdm.auto, "tqdm", FakeBar)
    return FakeBar.made


@pytest.fixture(scope="module")
def short():
    return load_scenario(BASELINE, ["horizon_days=200"])


def _one_full_bar(bars: list[FakeBar], total: int) -> None:
    assert [(b.options["total"], b.count, b.closed) for b in bars] == [(total, total, True)]
    assert bars[0].options["delay"] == 1.0, "no bar for calls shorter than a second"


def test_run_shows_a_bar_by_default_and_none_when_asked(bars, short) -> None:
    run(short, runs=6, seed=1)
    _one_full_bar(bars, 6)
    bars.clear()
    run(short, runs=6, seed=1, progress=False)
    assert bars == []
    seen: list[int] = []
    run(short, runs=6, seed=1, chunk_size=2, progress=seen.append)
    assert seen == [2, 4, 6] and bars == []


def test_compare_sweep_and_sensitivity_show_one_bar_over_all_their_batches(bars, short) -> None:
    compare([short, derive(short, {"funding.runway_days": 30})], runs=4, seed=1)
    _one_full_bar(bars, 8)
    bars.clear()
    sweep(short, {"funding.runway_days": [30, 60, 90]}, runs=3)
    _one_full_bar(bars, 9)
    bars.clear()
    tornado(short, inputs=["reconnaissance.duration_days"], runs=2)
    _one_full_bar(bars, 2 * 3)
    pytest.importorskip("SALib")
    bars.clear()
    sobol_indices(short, inputs=["reconnaissance.duration_days"], n=2, replications=1)
    _one_full_bar(bars, 2 * (1 + 3))  # one input and the model's randomness: n * (2 + 2) sample rows
    assert bars[0].options["unit"] == "sample"


def test_the_cli_shows_the_library_bar_unless_quiet(bars, tmp_path: Path) -> None:
    argv = ["run", str(BASELINE), "--runs", "3", "--set", "horizon_days=200", "--no-plots"]
    assert main([*argv, "--out", str(tmp_path / "a")]) == 0
    _one_full_bar(bars, 3)
    assert bars[0].options["disable"] is None, "in a terminal only: no bar in logs"
    bars.clear()
    assert main([*argv, "--out", str(tmp_path / "b"), "--quiet"]) == 0
    assert bars == []


def test_in_a_notebook_the_bar_is_the_widget_and_never_disabled(monkeypatch: pytest.MonkeyPatch, short) -> None:
    notebook = pytest.importorskip("tqdm.notebook")
    made: list[dict] = []

    class FakeWidgetBar(notebook.tqdm_notebook):
        def __init__(self, **options):  # no widget is drawn: only the options are recorded
            made.append(options)

        def update(self, n: int = 1) -> None:
            pass

        def close(self) -> None:
            pass

    monkeypatch.setattr(tqdm.auto, "tqdm", FakeWidgetBar)
    run(short, runs=3, seed=1)
    assert len(made) == 1 and made[0]["total"] == 3 and made[0]["delay"] == 1.0
    assert "disable" not in made[0] and "file" not in made[0], "a notebook's stderr is no terminal"
