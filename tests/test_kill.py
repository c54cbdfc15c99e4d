"""Kill -9 at random points of ``run``, ``compare``, ``sweep`` and ``report``: whatever is left must not
look complete unless it is, and the next run removes the leftovers (and says so).

CI kills each command at 3 points (12 in all), drawn from a fixed random sequence: the folder writers
in their write phase, the report anywhere; ``make fuzz`` adds 40 more, drawn afresh.
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
from sim.batch.store import MANIFEST, load_results, save_results
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


def partials(root: Path) -> list[Path]:
    """The hidden partial folders and files under ``root``."""
    return [*root.rglob(".partial-*"), *root.rglob(".*.partial")]


def kill_at(argv: list[str], cwd: Path, root: Path, delay_s: float, after_partial: bool) -> int | None:
    """Start ``argv`` and kill -9 it ``delay_s`` after it starts or, with ``after_partial``, after its first
    partial output appears (so the kill falls in the write phase). Returns its exit code if it finished first."""
    proc = subprocess.Popen(argv, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    deadline = time.monotonic() + 300
    if after_partial:
        while not partials(root) and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.005)
    try:
        return proc.wait(timeout=delay_s)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        return None


@pytest.fixture(scope="module")
def stored(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("stored")
    return save_results(run(load_scenario(BASELINE, ["horizon_days=200"]), runs=RUNS, seed=1), folder=folder / "run")


def kill_points(kind: str, points: int, seed: int | None, tmp_path: Path, stored: Path) -> list[tuple[str, float, str]]:
    """Kill ``kind`` at ``points`` random points, checking the folder after each; then run it to the end.

    Folder writers are killed a random 0-1.5 s after their partial folder appears (the write phase);
    the report, whose partial file lives only for the moment of its write, 1-8 s after it starts.
    """
    root = tmp_path / "root"
    root.mkdir()
    argv = command(kind, root, stored)
    rng = random.Random(seed)
    tried = []
    for _ in range(points):
        after_partial = kind != "report"
        delay = rng.uniform(0.0, 1.5) if after_partial else rng.uniform(1.0, 8.0)
        code = kill_at(argv, tmp_path, root, delay, after_partial)
        phase = "write phase" if after_partial else "from start"
        tried.append((phase, round(delay, 2), "finished" if code is not None else "killed"))
        assert code in (None, 0), (kind, delay, code)
        check_nothing_looks_complete_unless_it_is(root)
    # The next run completes and removes every partial leftover of the killed ones, saying so.
    # Files inside a partial folder go with it: count only the leftovers a run removes one by one.
    left = [p for p in partials(root)
            if not any(part.startswith(".partial-") for part in p.relative_to(root).parts[:-1])]
    proc = subprocess.run(argv, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert partials(root) == []
    assert proc.stderr.count("left by an interrupted run") == len(left), (proc.stderr, left)
    assert "Traceback" not in proc.stderr
    check_nothing_looks_complete_unless_it_is(root)
    print(kind, tried)
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
