"""The results store: one folder per run, written atomically, never silently overwritten.

A run lands in ``results/<scenario>/<run-id>/`` with ``manifest.json`` (resolved scenario, seed,
runs, versions, git commit, wall time), ``replications.parquet``, ``bands.parquet``,
``summary.csv`` and any figures. Everything is first written to a hidden ``.partial-*`` folder
beside it and renamed into place only when complete, so a half-written run never looks finished.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import shutil
import subprocess
import sys
from collections.abc import Callable
from importlib import metadata
from pathlib import Path

import pandas as pd

from sim.loader import scenario_from_dict
from sim.results import Results

#: Packages whose versions every manifest records.
RECORDED_PACKAGES = ("deploysim", "simpy", "numpy", "pandas", "matplotlib", "pydantic", "pyarrow")
MANIFEST = "manifest.json"


class StoreError(Exception):
    """A results folder that cannot be written or read (exists already, missing, incomplete)."""


def default_run_id(results: Results, now: dt.datetime | None = None) -> str:
    """A run id that sorts by time and says what ran: ``20240314T120000Z-seed1-n1000``."""
    now = now or dt.datetime.now(dt.UTC)
    return f"{now:%Y%m%dT%H%M%SZ}-seed{results.seed}-n{results.runs}"


def versions() -> dict[str, str | None]:
    """Versions of Python and of the recorded packages (None where a package is missing)."""
    found: dict[str, str | None] = {"python": platform.python_version()}
    for name in RECORDED_PACKAGES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = None
    return found


def git_commit(cwd: Path | None = None) -> str | None:
    """The commit of the working tree the program runs from, with ``-dirty`` if it has changes."""
    where = cwd or Path(__file__).resolve().parent
    try:
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=where, capture_output=True, text=True, timeout=5, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=where, capture_output=True, text=True, timeout=5, check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return f"{head}-dirty" if dirty else head


def manifest_of(results: Results, run_id: str, command: list[str] | None = None) -> dict[str, object]:
    """Everything needed to explain, and rerun, a stored run."""
    return {
        "run_id": run_id,
        "scenario_name": results.scenario.name,
        "seed": results.seed,
        "runs": results.runs,
        "created_utc": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "wall_time_s": results.wall_time_s,
        "command": command,
        "versions": versions(),
        "git_commit": git_commit(),
        "platform": platform.platform(),
        "files": {
            "replications.parquet": "one row per replication: milestone days (NaN = not reached), binding "
            "constraints, totals",
            "bands.parquet": "daily quantiles (p10..p90) and mean of each step series",
            "summary.csv": "per milestone P10/P50/P80/P90 days and dates and share reached; per total mean "
            "with 95% CI",
        },
        "scenario": results.scenario.model_dump(mode="json", by_alias=True),
    }


def save_results(
    results: Results,
    folder: str | Path | None = None,
    root: str | Path = "results",
    run_id: str | None = None,
    force: bool = False,
    extra: Callable[[Path], None] | None = None,
    command: list[str] | None = None,
) -> Path:
    """Write a run to the store atomically.

    Args:
        results: The batch to store.
        folder: Exact folder to write; by default ``<root>/<scenario>/<run_id>``.
        root: The results root used when ``folder`` is not given.
        run_id: The run's id (default: time, seed and runs, see :func:`default_run_id`).
        force: Replace an existing folder. Without it an existing folder is an error.
        extra: Called with the temporary folder to add more files (e.g. figures) before the rename.
        command: The command line that produced the run, for the manifest.

    Returns:
        The final folder.

    Raises:
        StoreError: If the folder exists and ``force`` is false.
    """
    if folder is None:
        base = Path(root) / results.scenario.name
        if run_id is None:
            # Two default ids in the same second get a counter rather than clobbering each other.
            stem = run_id = default_run_id(results)
            n = 1
            while (base / run_id).exists():
                n += 1
                run_id = f"{stem}-{n}"
        folder = base / run_id
    folder = Path(folder)
    run_id = run_id or folder.name
    if folder.exists() and not force:
        raise StoreError(f"{folder} already exists; pass --force (force=True) to replace it")
    folder.parent.mkdir(parents=True, exist_ok=True)
    partial = folder.parent / f".partial-{folder.name}-{os.getpid()}"
    if partial.exists():
        shutil.rmtree(partial)
    partial.mkdir()
    try:
        results.replications.to_parquet(partial / "replications.parquet", index=False)
        results.bands.to_parquet(partial / "bands.parquet", index=False)
        results.summary().to_csv(partial / "summary.csv", index=False, float_format="%.6g")
        if extra is not None:
            extra(partial)
        # The manifest goes last: a folder with a manifest is a complete run.
        (partial / MANIFEST).write_text(json.dumps(manifest_of(results, run_id, command), indent=2) + "\n")
        _replace(partial, folder)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    results.run_id, results.path = run_id, folder
    return folder


def _replace(partial: Path, folder: Path) -> None:
    if folder.exists():
        trash = folder.parent / f".trash-{folder.name}-{os.getpid()}"
        os.replace(folder, trash)
        os.replace(partial, folder)
        shutil.rmtree(trash, ignore_errors=True)
    else:
        os.replace(partial, folder)


def load_results(folder: str | Path) -> Results:
    """Read a stored run back into :class:`Results`.

    Raises:
        StoreError: If the folder is missing or holds no complete run.

    Example:
        >>> res = load_results("results/baseline/20240314T120000Z-seed1-n1000")  # doctest: +SKIP
    """
    folder = Path(folder)
    manifest_path = folder / MANIFEST
    if not manifest_path.is_file():
        what = "does not exist" if not folder.exists() else "holds no complete run (no manifest.json)"
        raise StoreError(f"{folder} {what}")
    manifest = json.loads(manifest_path.read_text())
    scenario = scenario_from_dict(manifest["scenario"], source=str(manifest_path))
    return Results(
        scenario=scenario,
        seed=int(manifest["seed"]),
        runs=int(manifest["runs"]),
        replications=pd.read_parquet(folder / "replications.parquet"),
        bands=pd.read_parquet(folder / "bands.parquet"),
        run_id=manifest.get("run_id", folder.name),
        path=folder,
        wall_time_s=manifest.get("wall_time_s"),
    )


def command_line() -> list[str]:
    """This process's command line, for the manifest."""
    return [Path(sys.argv[0]).name, *sys.argv[1:]]
