"""The results store: one folder per run, written atomically, never silently overwritten.

A run lands in ``results/<scenario>/<run-id>/`` with ``manifest.json`` (resolved scenario, seed,
runs, versions, git commit, wall time), ``replications.parquet``, ``bands.parquet``,
``summary.csv`` and any figures. Everything is first written to a hidden ``.partial-*`` folder
beside it and renamed into place only when complete, so a half-written run never looks finished.
Every other output folder (comparisons, sweeps, sensitivity analyses) is written the same way, by
:func:`write_folder`, with its own ``manifest.json`` written last.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterable, Mapping
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

    from sim.batch.results import Results

#: Packages whose versions every manifest records.
RECORDED_PACKAGES = ("deploysim", "simpy", "numpy", "pandas", "matplotlib", "pydantic", "pyarrow")
MANIFEST = "manifest.json"


class StoreError(Exception):
    """A results folder that cannot be written or read (exists already, missing, incomplete)."""


def default_run_id(results: Results, now: dt.datetime | None = None) -> str:
    """A run id that sorts by time and says what ran: ``20240314T120000Z-seed1-n1000``."""
    return f"{utc_stamp(now)}-seed{results.seed}-n{results.runs}"


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
            "delays.parquet": "where the days went: per replication, milestone reached and cause on its critical "
            "path, the days it took (they add up to the milestone's day)",
            "delays_summary.csv": "per milestone and cause: mean days over the runs reaching the milestone, share of "
            "those runs where it took any days, P50/P90 days among them",
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
    """Write a run to the store atomically (see :func:`write_folder`).

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

    Example:
        >>> import tempfile
        >>> from sim import load_scenario, run
        >>> res = run(load_scenario("baseline", ["horizon_days=200"]), runs=10, seed=1)
        >>> with tempfile.TemporaryDirectory() as root:
        ...     folder = save_results(res, root=root, run_id="demo")
        ...     back = load_results(folder)
        ...     print(folder.name, back.runs, back.replications.equals(res.replications))
        demo 10 True
    """
    if folder is None:
        base = Path(root) / results.scenario.name
        folder = base / run_id if run_id is not None else unused_folder(base, default_run_id(results))
    folder = Path(folder)
    run_id = run_id or folder.name

    def write(partial: Path) -> None:
        labels = run_metadata(results, run_id)
        write_parquet(results.replications, partial / "replications.parquet", labels)
        write_parquet(results.bands, partial / "bands.parquet", labels)
        results.summary().to_csv(partial / "summary.csv", index=False, float_format="%.6g")
        if results.delays is not None:
            results.delays.to_parquet(partial / "delays.parquet", index=False)
            results.delay_summary().to_csv(partial / "delays_summary.csv", index=False, float_format="%.6g")
        if extra is not None:
            extra(partial)
        write_manifest(partial, manifest_of(results, run_id, command))

    # Figures drawn by ``extra`` name the run they belong to, so the id is known before they are drawn.
    previous = results.run_id
    results.run_id = run_id
    try:
        write_folder(folder, write, force)
    except BaseException:
        results.run_id = previous
        raise
    results.path = folder
    return folder


def write_folder(folder: str | Path, write: Callable[[Path], None], force: bool = False) -> Path:
    """Write an output folder atomically: fill a hidden partial folder, then rename it into place.

    ``write`` is called with an empty ``.partial-<name>-<pid>`` folder beside ``folder`` and fills it;
    only when it returns is the partial folder renamed to ``folder``. If it raises (or the user
    interrupts), the partial folder is removed, so nothing half-written ever looks finished. Callers
    that write a manifest write it last (:func:`write_manifest`): a folder with a manifest is complete.

    Args:
        folder: The final folder.
        write: Fills the folder it is given.
        force: Replace an existing ``folder``. Without it an existing folder is an error.

    Returns:
        The final folder, as a :class:`pathlib.Path`.

    Raises:
        StoreError: If ``folder`` exists and ``force`` is false (checked before ``write`` is called).
    """
    folder = Path(folder)
    if folder.exists() and not force:
        raise StoreError(f"{folder} already exists; pass --force (force=True) to replace it")
    folder.parent.mkdir(parents=True, exist_ok=True)
    partial = folder.parent / f".partial-{folder.name}-{os.getpid()}"
    if partial.exists():
        shutil.rmtree(partial)
    partial.mkdir()
    try:
        write(partial)
        if folder.exists():
            # Move the old folder aside first: a rename cannot replace a non-empty folder.
            trash = folder.parent / f".trash-{folder.name}-{os.getpid()}"
            os.replace(folder, trash)
            os.replace(partial, folder)
            shutil.rmtree(trash, ignore_errors=True)
        else:
            os.replace(partial, folder)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    return folder


def utc_stamp(now: dt.datetime | None = None) -> str:
    """The time (default: now) as it appears in folder names: ``20240314T120000Z``, in UTC."""
    now = now or dt.datetime.now(dt.UTC)
    return f"{now:%Y%m%dT%H%M%SZ}"


def unused_folder(parent: Path, stem: str) -> Path:
    """``parent/stem``, or the first of ``parent/stem-2``, ``-3``... that does not exist yet.

    Two default folder names made in the same second get a counter rather than clobbering each other.
    """
    folder, n = parent / stem, 1
    while folder.exists():
        n += 1
        folder = parent / f"{stem}-{n}"
    return folder


def creation_fields(command: list[str] | None) -> dict[str, object]:
    """When, by which command and with which code an output was made, for a manifest.

    Keys: ``created_utc``, ``command``, ``versions`` (see :func:`versions`) and ``git_commit``.
    """
    return {
        "created_utc": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "command": command,
        "versions": versions(),
        "git_commit": git_commit(),
    }


def write_manifest(folder: Path, manifest: Mapping[str, object]) -> Path:
    """Write ``manifest`` as ``folder/manifest.json`` (indented JSON); returns the file."""
    path = folder / MANIFEST
    path.write_text(json.dumps(manifest, indent=2) + "\n")
    return path


def load_results(folder: str | Path) -> Results:
    """Read a stored run back into :class:`Results`.

    Raises:
        StoreError: If the folder is missing or holds no complete run.

    Example:
        >>> res = load_results("results/baseline/20240314T120000Z-seed1-n1000")  # doctest: +SKIP
        >>> res.milestone_summary()  # doctest: +SKIP

        :func:`save_results` shows a round trip that runs.
    """
    import pandas as pd

    from sim.batch.results import Results
    from sim.scenario.loader import scenario_from_dict

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
        delays=pd.read_parquet(folder / "delays.parquet") if (folder / "delays.parquet").is_file() else None,
        run_id=manifest.get("run_id", folder.name),
        path=folder,
        wall_time_s=manifest.get("wall_time_s"),
    )


def command_line() -> list[str]:
    """This process's command line, for the manifest."""
    return [Path(sys.argv[0]).name, *sys.argv[1:]]


# -- Parquet labels: several runs read as one dataset ------------------------------------------


#: Prefix of the keys a stored run writes into its Parquet files' key-value metadata.
PARQUET_PREFIX = "deploysim."


def run_metadata(results: Results, run_id: str) -> dict[str, str]:
    """What names a run's tables when several runs are read together: scenario, seed, runs and run id."""
    return {"scenario": results.scenario.name, "seed": str(results.seed), "runs": str(results.runs),
            "run_id": run_id}


def write_parquet(frame: pd.DataFrame, path: Path, labels: Mapping[str, str]) -> None:
    """Write ``frame`` as Parquet with ``labels`` in the file's key-value metadata (keys ``deploysim.*``)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pandas(frame, preserve_index=False)
    extra = {f"{PARQUET_PREFIX}{k}".encode(): str(v).encode() for k, v in labels.items()}
    pq.write_table(table.replace_schema_metadata({**(table.schema.metadata or {}), **extra}), path)


def parquet_labels(path: str | Path) -> dict[str, str]:
    """The ``deploysim.*`` key-value metadata of a stored Parquet file, without the prefix."""
    import pyarrow.parquet as pq

    metadata = pq.read_schema(path).metadata or {}
    return {k.decode().removeprefix(PARQUET_PREFIX): v.decode() for k, v in metadata.items()
            if k.decode().startswith(PARQUET_PREFIX)}


def read_tables(folders: Iterable[str | Path], table: str = "replications") -> pd.DataFrame:
    """One table of several stored runs, each row labelled with its run's ``scenario`` and ``run_id``.

    Args:
        folders: Stored run folders.
        table: ``replications`` or ``bands``.

    Raises:
        StoreError: If a folder holds no such table.

    Example:
        >>> both = read_tables(["results/baseline/RUN1", "results/donors_pay_late/RUN2"])  # doctest: +SKIP
        >>> both.groupby("scenario")["first_arrival_day"].median()  # doctest: +SKIP
    """
    import pandas as pd

    frames = []
    for folder in folders:
        path = Path(folder) / f"{table}.parquet"
        if not path.is_file():
            raise StoreError(f"{folder} holds no {table}.parquet")
        labels = parquet_labels(path)
        frame = pd.read_parquet(path)
        frame.insert(0, "run_id", labels.get("run_id", Path(folder).name))
        frame.insert(0, "scenario", labels.get("scenario", Path(folder).parent.name))
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)
