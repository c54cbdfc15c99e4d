"""Kill -9 at random points of ``run``, ``compare``, ``sweep`` and ``report``: whatever is left must not
look complete unless it is, and the next run removes the leftovers (and says so).

CI kills each command at 3 points (12 in all), drawn from a fixed random sequence over the time the
command takes; ``make fuzz`` adds 40 more, drawn afresh.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from sim import load_scenario, run
from sim.store import MANIFEST, load_results, save_results
from tests.conftest import FUZZ

ROOT = Path(__file__).resolve().parents[1]
BASELINE = ROOT / "scenarios" / "baseline.toml"
VARIANT = ROOT / "scenarios" / "donors_pay_late.toml"
RUNS = 40


def command(kind: str, root: Path, stored: Path) -> list[str]:
    base = [sys.executable, "-m", "sim"]
    if kind == "run":
        return [*base, "run", str(BASELINE), "--runs", str(RUNS), "--set", "horizon_days=200", "--quiet",
                "--results-root", str(root)]
    if kind == "compare":
        return [*base, "compare", str(BASELINE), str(VARIANT), "--runs", "30", "--set", "horizon_days=200",
                "--quiet", "--results-root", str(root)]
    if kind == "sweep":
        return [*base, "sweep", str(BASELINE), "--vary", "funding.runway_days=30,90", "--runs", "30", "--set",
                "horizon_days=200", "--quiet", "--results-root", str(root)]
    return [*base, "report", str(stored), "--out", str(root / "report.html"), "--force"]


def complete_png(path: Path) -> bool:
    data = path.read_bytes()
    return data.startswith(b"\x89PNG") and data.endswith(b"IEND\xaeB`\x82")


def check_nothing_looks_complete_unless_it_is(root: Path) -> None:
    """Every visible output that looks finished (a manifest, a report) is whole; hidden partials may remain."""
    for manifest in root.rglob(MANIFEST):
        folder = manifest.parent
        if any(part.startswith(".") for part in folder.relative_to(root).parts):
            continue
        data = json.loads(manifest.read_text())
        kind = data.get("kind")
        if kind is None:
            results = load_results(folder)
            assert results.runs == RUNS and len(results.replications) == RUNS
            for png in (folder / "figures").glob("*.png"):
                assert complete_png(png), png
            assert pd.read_csv(folder / "summary.csv").shape[0] > 0
        elif kind == "comparison":
            for name in ("config_diff.csv", "milestones.csv", "differences.csv"):
                assert pd.read_csv(folder / name).shape[0] > 0, name
            pngs = list((folder / "figures").glob("*.png"))
            assert pngs and all(complete_png(p) for p in pngs)
        elif kind == "sweep":
            assert pd.read_csv(folder / "sweep.csv").shape[0] > 0
            assert all(complete_png(p) for p in folder.glob("*.png"))
    for folder in root.rglob("*"):
        if folder.is_dir() and not folder.name.startswith(".") and folder.name not in ("figures", "traces"):
            # A visible folder either is complete (checked above) or is only a parent of outputs.
            inside = [p for p in folder.iterdir()]
            assert (folder / MANIFEST).exists() or all(p.is_dir() for p in inside), folder
    report = root / "report.html"
    if report.exists():
        assert report.read_text(encoding="utf-8").endswith("</html>\n")


def kill_at(argv: list[str], delay_s: float, cwd: Path) -> int | None:
    """Start ``argv``, kill -9 it after ``delay_s`` (if still running); return its exit code if it finished."""
    proc = subprocess.Popen(argv, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        return proc.wait(timeout=delay_s)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        return None


def timed(argv: list[str], cwd: Path) -> tuple[float, subprocess.CompletedProcess]:
    started = time.perf_counter()
    proc = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=600)
    return time.perf_counter() - started, proc


@pytest.fixture(scope="module")
def stored(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("stored")
    return save_results(run(load_scenario(BASELINE, ["horizon_days=200"]), runs=RUNS, seed=1), folder=folder / "run")


def kill_points(kind: str, points: int, seed: int | None, tmp_path: Path, stored: Path) -> list[tuple[float, str]]:
    root = tmp_path / "root"
    root.mkdir()
    argv = command(kind, root, stored)
    # One complete run tells how long the command takes; the kills fall anywhere in that span.
    duration, proc = timed(argv, tmp_path)
    assert proc.returncode == 0, proc.stderr
    check_nothing_looks_complete_unless_it_is(root)
    rng = random.Random(seed)
    tried = []
    for _ in range(points):
        delay = rng.uniform(0.05, 1.05) * duration
        code = kill_at(argv, delay, tmp_path)
        tried.append((round(delay, 2), "finished" if code is not None else "killed"))
        assert code in (None, 0, 2), (kind, delay, code)
        check_nothing_looks_complete_unless_it_is(root)
    # The next run completes and removes every partial leftover of the killed ones.
    duration, proc = timed(argv, tmp_path)
    assert proc.returncode == 0, proc.stderr
    leftovers = [p for p in root.rglob(".partial-*")] + [p for p in root.rglob(".*.partial")]
    assert leftovers == [], leftovers
    assert "Traceback" not in proc.stderr
    check_nothing_looks_complete_unless_it_is(root)
    return tried


@pytest.mark.parametrize("kind", ["run", "compare", "sweep", "report"])
def test_kill_minus_nine_leaves_nothing_that_looks_complete(kind: str, tmp_path: Path, stored: Path) -> None:
    tried = kill_points(kind, 3, seed=20240314 + len(kind), tmp_path=tmp_path, stored=stored)
    assert len(tried) == 3


@pytest.mark.skipif(not FUZZ, reason="more kill points run under `make fuzz` (DEPLOYSIM_FUZZ=1)")
@pytest.mark.parametrize("kind", ["run", "compare", "sweep", "report"])
def test_many_more_kill_points(kind: str, tmp_path: Path, stored: Path) -> None:
    tried = kill_points(kind, 10, seed=None, tmp_path=tmp_path, stored=stored)
    assert len(tried) == 10
