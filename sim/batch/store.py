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
import math
import platform
import subprocess
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING

from sim.batch import safeio
from sim.scenario.errors import ScenarioError
from sim.scenario.milestones import GATED_MILESTONES, MILESTONES

if TYPE_CHECKING:
    import pandas as pd

    from sim.batch.results import Results

#: Packages whose versions every manifest records.
RECORDED_PACKAGES = ("deploysim", "simpy", "numpy", "pandas", "matplotlib", "pydantic", "pyarrow")
MANIFEST = "manifest.json"
#: Every manifest says which program wrote it: only such folders may be replaced with ``--force``.
WRITTEN_BY = "deploysim"
#: The counts a slice's bands came from (see :mod:`sim.batch.sketch`), kept for merging slices.
SKETCH_FILE = "sketch.npz"
#: Largest manifest read back, in bytes.
MAX_MANIFEST_BYTES = 64 * 1024 * 1024


class StoreError(safeio.PathError):
    """A results folder that cannot be written or read (exists already, missing, incomplete, foreign)."""


def default_run_id(results: Results, now: dt.datetime | None = None) -> str:
    """A run id that sorts by time and says what ran: ``20240314T120000Z-seed1-n1000`` (a slice of a batch:
    ``20240314T120000Z-seed1-r0-500``)."""
    if results.replication_range is not None:
        start, stop = results.replication_range
        return f"{utc_stamp(now)}-seed{results.seed}-r{start}-{stop}"
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
    """Everything needed to explain, and rerun, a stored run.

    A slice of a batch also records ``"slice": true`` and ``"replications": {"start": ..., "stop": ...}``,
    and its folder holds ``sketch.npz``, the counts its bands came from, for ``deploysim merge``.
    """
    shard: dict[str, object] = {}
    if results.replication_range is not None:
        start, stop = results.replication_range
        shard = {"slice": True, "replications": {"start": start, "stop": stop}}
    return {
        **shard,
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
            "failures.parquet": "only when some replications raised: their index, seed, error and traceback "
            "(they are absent from every other table)",
            "summary.csv": "per milestone P10/P50/P80/P90 days and dates and share reached; per total mean "
            "with 95% CI",
            "delays.parquet": "where the days went: per replication, milestone reached and cause on its critical "
            "path, the days it took (they add up to the milestone's day)",
            "delays_summary.csv": "per milestone and cause: mean days over the runs reaching the milestone, share of "
            "those runs where it took any days, P50/P90 days among them",
            "strength.parquet": "officers in theatre at the end of each checkpoint date, per replication, in "
            "total (contributor 'all') and per contributor",
            "strength_summary.csv": "per checkpoint date and contributor: officers present against plan (mean, "
            "P10/P50/P90, the plan, the median's share of it, the share of runs at or above it)",
        },
        **_failure_fields(results),
        **({"precision": results.precision} if results.precision is not None else {}),
        "scenario": results.scenario.model_dump(mode="json", by_alias=True),
        # A re-forecast: the as-of date, the observations file and everything it held fixed.
        **({} if results.as_of is None else {"as_of": results.as_of.to_dict()}),
    }


#: Failed replications listed in the manifest (all of them, with tracebacks, are in failures.parquet).
MANIFEST_FAILURES = 20


def _failure_fields(results: Results) -> dict[str, object]:
    """The manifest's record of replications that raised: how many, and the first few (index, seed, error)."""
    failures = results.failures
    if failures is None:
        return {}
    listed = [{"replication": int(r.replication), "seed": int(r.seed), "error": str(r.error)}
              for r in failures.head(MANIFEST_FAILURES).itertuples()]
    return {"failed": len(failures), "failures": listed}


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
    if run_id is not None:
        safeio.check_name(run_id, "run id")
    if folder is None:
        safeio.check_name(results.scenario.name, "scenario name")
        base = Path(root) / results.scenario.name
        folder = base / run_id if run_id is not None else unused_folder(base, default_run_id(results))
        safeio.check_inside(folder, Path(root), "run folder")
    folder = Path(folder)
    run_id = run_id or folder.name

    def write(partial: Path) -> None:
        labels = run_metadata(results, run_id)
        write_table(results, "replications", partial / "replications.parquet", labels)
        write_parquet(results.bands, partial / "bands.parquet", labels)
        results.summary().to_csv(partial / "summary.csv", index=False, float_format="%.6g")
        if results.has("delays"):
            write_table(results, "delays", partial / "delays.parquet", labels)
            results.delay_summary().to_csv(partial / "delays_summary.csv", index=False, float_format="%.6g")
        if results.has("strength"):
            write_table(results, "strength", partial / "strength.parquet", labels)
            results.strength_summary().to_csv(partial / "strength_summary.csv", index=False, float_format="%.6g")
        if results.failures is not None and len(results.failures):
            write_parquet(results.failures, partial / "failures.parquet", labels)
        if results.replication_range is not None and results.sketches is not None:
            from sim.batch.sketch import save_sketches

            save_sketches(results.sketches, str(partial / SKETCH_FILE))
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

    ``write`` is called with an empty ``.partial-<name>-<token>-<pid>`` folder beside ``folder`` and fills it;
    only when it returns is the partial folder flushed and renamed to ``folder`` (see
    :func:`sim.batch.safeio.replace_folder`). If it raises (or the user interrupts), the partial folder is
    removed, so nothing half-written ever looks finished. Callers that write a manifest write it last
    (:func:`write_manifest`): a folder with a manifest is complete.

    Args:
        folder: The final folder.
        write: Fills the folder it is given.
        force: Replace an existing ``folder``, which must be one this program wrote
            (:func:`is_own_folder`). Without it an existing folder is an error.

    Returns:
        The final folder, as a :class:`pathlib.Path`.

    Raises:
        StoreError: If ``folder`` exists and ``force`` is false or it is not this program's, or if
            another process created it while ``write`` ran.
    """
    try:
        return safeio.replace_folder(Path(folder), write, force, is_ours=is_own_folder, kind="results folder")
    except StoreError:
        raise
    except safeio.PathError as exc:
        raise StoreError(str(exc)) from None


def is_own_folder(folder: Path) -> bool:
    """Whether ``folder`` is a complete output folder this program wrote (its manifest says so)."""
    manifest = folder / MANIFEST
    if not safeio.is_regular_file(manifest):
        return False
    try:
        if manifest.stat().st_size > MAX_MANIFEST_BYTES:
            return False
        data = json.loads(manifest.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        return False
    if not isinstance(data, dict):
        return False
    versions = data.get("versions")
    # Manifests written before ``written_by`` existed still name the package among their versions.
    return data.get("written_by") == WRITTEN_BY or (isinstance(versions, dict) and WRITTEN_BY in versions)


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
    text = json.dumps({"written_by": WRITTEN_BY, **manifest}, indent=2, default=_json_default)
    with open(path, "x", encoding="utf-8") as stream:
        stream.write(text + "\n")
    return path


def _json_default(value: object) -> object:
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot store {type(value).__name__} in a manifest")


def load_results(folder: str | Path) -> Results:
    """Read a stored run back into :class:`Results`.

    Raises:
        StoreError: If the folder is missing or holds no complete run.

    Example:
        >>> res = load_results("results/baseline/20240314T120000Z-seed1-n1000")  # doctest: +SKIP
        >>> res.milestone_summary()  # doctest: +SKIP

        :func:`save_results` shows a round trip that runs.
    """

    from sim.batch.results import DELAY_COLUMNS, STRENGTH_COLUMNS, Results, compact_labels
    from sim.scenario.loader import scenario_from_dict

    folder = Path(folder)
    manifest = read_manifest(folder, kind="run")
    source = str(folder / MANIFEST)
    for key, kinds in (("seed", int), ("runs", int), ("scenario", dict)):
        if key not in manifest:
            raise StoreError(f"{source}: no '{key}'; this is not a complete run folder")
        if not isinstance(manifest[key], kinds) or isinstance(manifest[key], bool):
            raise StoreError(f"{source}: '{key}' should be {_KIND_WORDS[kinds]}, got {_json_word(manifest[key])}")
    seed, runs = manifest["seed"], manifest["runs"]
    if seed < 0 or runs < 1:
        raise StoreError(f"{source}: seed must be 0 or more and runs at least 1, got seed {seed}, runs {runs}")
    for key in ("run_id", "wall_time_s"):
        value = manifest.get(key)
        wanted = str if key == "run_id" else (int, float)
        if value is not None and (not isinstance(value, wanted) or isinstance(value, bool)):
            raise StoreError(f"{source}: '{key}' has the wrong type ({_json_word(value)})")
    try:
        scenario = scenario_from_dict(manifest["scenario"], source=source)
    except ScenarioError as exc:
        first = exc.problems[0] if exc.problems else "invalid"
        raise StoreError(f"{source}: the stored scenario is not valid ({first})") from None
    failed = manifest.get("failed", 0)
    if not isinstance(failed, int) or isinstance(failed, bool) or not 0 <= failed < runs:
        raise StoreError(f"{source}: 'failed' should be a whole number from 0 to runs - 1, got {_json_word(failed)}")
    failures_file = folder / "failures.parquet"
    failures = _read_table(failures_file, FAILURE_COLUMNS, failed) if failed else None
    span = _slice_of(manifest, source, runs)
    replications = _read_table(folder / "replications.parquet", _replication_columns(), runs - failed)
    bands = _read_table(folder / "bands.parquet", _band_columns(), None)
    delays = folder / "delays.parquet"  # runs stored before the delay ledger have none
    strength = folder / "strength.parquet"  # nor before the checkpoints of officers in theatre
    failed_indices = [] if failures is None else [int(k) for k in failures["replication"]]
    _check_values(folder, replications, bands, scenario.horizon_days, failed_indices,
                  0 if span is None else span[0])
    sketches = None
    if span is not None:
        from sim.batch.sketch import load_sketches

        path = folder / SKETCH_FILE
        if not path.is_file():
            raise StoreError(f"{safeio.short(str(path))} is missing; the slice cannot be merged")
        try:
            sketches = load_sketches(str(path))
        except (ValueError, KeyError, OSError) as exc:
            raise StoreError(f"{safeio.short(str(path))} is not readable ({safeio.short(str(exc), 80)})") from None
    wall = manifest.get("wall_time_s")
    as_of = None
    if manifest.get("as_of") is not None:
        from sim.scenario.asof import AsOf, AsOfError

        try:
            as_of = AsOf.from_dict(manifest["as_of"])
        except AsOfError as exc:
            raise StoreError(f"{source}: {exc}") from None
    return Results(
        scenario=scenario,
        seed=seed,
        runs=runs,
        replications=replications,
        bands=bands,
        # Label columns as a fresh batch holds them (Categoricals of the same categories), whatever the file's type.
        delays=compact_labels(_read_table(delays, DELAY_COLUMNS, None), scenario) if delays.is_file() else None,
        strength=(compact_labels(_read_table(strength, STRENGTH_COLUMNS, None), scenario)
                  if strength.is_file() else None),
        run_id=manifest.get("run_id", folder.name),
        path=folder,
        wall_time_s=None if wall is None or not math.isfinite(wall) else float(wall),
        as_of=as_of,
        failures=failures if failures is not None else (_no_failures() if "failed" in manifest else None),
        precision=manifest["precision"] if isinstance(manifest.get("precision"), dict) else None,
        sketches=sketches,
        replication_range=span,
    )


#: Columns of failures.parquet.
FAILURE_COLUMNS = ("replication", "seed", "error", "traceback")


def _no_failures() -> object:
    from sim.batch.runner import failures_frame

    return failures_frame([])


def _slice_of(manifest: dict, source: str, runs: int) -> tuple[int, int] | None:
    """The ``(start, stop)`` of a stored slice of a batch, checked; None for a whole batch."""
    if not manifest.get("slice"):
        return None
    span = manifest.get("replications")
    start = span.get("start") if isinstance(span, dict) else None
    stop = span.get("stop") if isinstance(span, dict) else None
    if not (isinstance(start, int) and isinstance(stop, int)) or isinstance(start, bool) or isinstance(stop, bool):
        raise StoreError(f"{source}: a slice should record its replications as {{\"start\": N, \"stop\": M}}")
    if start < 0 or stop - start != runs:
        raise StoreError(f"{source}: replications {start} to {stop} do not match runs {runs}")
    return start, stop


_KIND_WORDS = {int: "a whole number", dict: "a JSON object", str: "text"}
def _band_columns() -> tuple[str, ...]:
    from sim.batch.results import BAND_QUANTILES

    return ("series", "day", "date", "mean", *(f"p{round(q * 100)}" for q in BAND_QUANTILES))


def _json_word(value: object) -> str:
    """A JSON value for a message: its text, cut short."""
    try:
        return safeio.short(json.dumps(value), 60)
    except (TypeError, ValueError):
        return type(value).__name__


def _replication_columns() -> tuple[str, ...]:
    return ("replication", "seed", *(f"{m}_day" for m in MILESTONES), *(f"{m}_binding" for m in GATED_MILESTONES))


def _check_values(folder: Path, replications: pd.DataFrame, bands: pd.DataFrame, horizon_days: int,
                  failed: Sequence[int] = (), first: int = 0) -> None:
    """Refuse tables whose values no run could have written (text for numbers, days off the horizon...).

    ``failed``: replications that raised, absent from the table; ``first`` is the number of the first
    replication (that of a slice's start)."""
    import numpy as np
    import pandas as pd

    where = safeio.short(str(folder / "replications.parquet"))
    expected = sorted(set(range(first, first + len(replications) + len(failed))) - set(failed))
    if sorted(pd.to_numeric(replications["replication"], errors="coerce").fillna(-1)) != expected:
        what = f"the runs {first}, {first + 1}, {first + 2}, ..." + (" except the failed ones" if failed else "")
        raise StoreError(f"{where}: the replication column should number {what}")
    for name in MILESTONES:
        column = replications[f"{name}_day"]
        if not pd.api.types.is_float_dtype(column):
            raise StoreError(f"{where}: column {name}_day should hold numbers of days")
        reached = column.dropna()
        if len(reached) and not reached.between(0, horizon_days).all():
            raise StoreError(f"{where}: column {name}_day holds days outside 0 to {horizon_days}")
    for column in replications.columns:
        values = replications[column]
        numeric = pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)
        if numeric and np.isinf(values.to_numpy(dtype=float)).any():
            raise StoreError(f"{where}: column {safeio.short(str(column), 60)} holds an infinite value")
    where = safeio.short(str(folder / "bands.parquet"))
    days = horizon_days + 1
    if not len(bands) or len(bands) % days or bands["series"].value_counts().ne(days).any():
        raise StoreError(f"{where}: expected {days} rows per series, found {len(bands)} rows")
    for column in _band_columns()[1:]:
        if column == "date":
            continue
        values = pd.to_numeric(bands[column], errors="coerce") if bands[column].dtype == object else bands[column]
        if not pd.api.types.is_numeric_dtype(values) or not np.isfinite(values.to_numpy(dtype=float)).all():
            raise StoreError(f"{where}: column {column} should hold finite numbers")
    if "in_theatre" not in set(bands["series"].astype(str)):
        raise StoreError(f"{where}: no in_theatre series")


def read_manifest(folder: Path, kind: str = "run") -> dict:
    """The manifest of an output folder, checked to be a JSON object written by this program.

    Args:
        folder: The folder.
        kind: What the caller needs: ``"run"`` refuses comparisons, sweeps and the like.

    Raises:
        StoreError: If the folder is missing, is not a folder, or its manifest is missing, unreadable,
            not JSON, not an object or of another kind.
    """
    shown = safeio.short(str(folder))
    if not folder.exists():
        raise StoreError(f"{shown} does not exist")
    if not folder.is_dir():
        raise StoreError(f"{shown} is {safeio.describe(folder)}, not a results folder")
    path = folder / MANIFEST
    if not path.exists():
        raise StoreError(f"{shown} holds no complete run (no manifest.json)")
    if not path.is_file():
        raise StoreError(f"{safeio.short(str(path))} is {safeio.describe(path)}, not a file")
    if path.stat().st_size > MAX_MANIFEST_BYTES:
        raise StoreError(f"{safeio.short(str(path))} is larger than {MAX_MANIFEST_BYTES // 2**20} MiB")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise StoreError(f"{safeio.short(str(path))} is not UTF-8 text") from None
    except (ValueError, RecursionError) as exc:
        raise StoreError(f"{safeio.short(str(path))} is not valid JSON ({safeio.short(str(exc), 80)})") from None
    if not isinstance(manifest, dict):
        raise StoreError(f"{safeio.short(str(path))} should hold a JSON object")
    found = manifest.get("kind")
    if kind == "run" and found is not None:
        raise StoreError(f"{shown} holds a {safeio.short(str(found), 40)} output, not a stored run")
    return manifest


def _read_table(path: Path, columns: tuple[str, ...], rows: int | None) -> pd.DataFrame:
    """A Parquet table of a results folder, checked for its columns and (if given) its row count."""
    import pandas as pd

    shown = safeio.short(str(path))
    if not path.is_file():
        raise StoreError(f"{shown} is missing; the folder is incomplete")
    try:
        table = pd.read_parquet(path)
    except MemoryError:
        raise StoreError(f"{shown} is too large to read") from None
    except Exception as exc:  # pyarrow raises many kinds for a corrupt file
        if isinstance(exc, OSError) and exc.errno is not None:
            raise
        raise StoreError(f"{shown} is not a readable Parquet table ({safeio.short(str(exc), 80)})") from None
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise StoreError(f"{shown} lacks column{'s' if len(missing) > 1 else ''} {', '.join(missing[:5])}")
    if rows is not None and len(table) != rows:
        raise StoreError(f"{shown} has {len(table)} rows; the manifest says {rows} runs")
    return table


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


def write_table(results: Results, table: str, path: Path, labels: Mapping[str, str]) -> None:
    """Write one of a batch's tables (``replications``, ``delays``, ``strength``) as :func:`write_parquet`
    does; a spilled batch's table is copied from its file a row group at a time, never held whole."""
    if not results.is_spilled(table):
        frame = getattr(results, table)
        write_parquet(frame, path, labels)
        return
    spill = results.spill
    assert spill is not None
    extra = {f"{PARQUET_PREFIX}{k}".encode(): str(v).encode() for k, v in labels.items()}
    if table != "strength":
        spill.copy(table, path, extra)
        return
    # The long strength table, in its order (day, replication, series), a day and a chunk at a time.
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    from sim.batch.results import strength_from_checkpoints
    from sim.batch.spill import statistics_columns, strength_column

    writer = None
    try:
        for day in spill.strength_days:
            names = [strength_column(series, day) for series in spill.strength_series]
            for wide in spill.batches("strength", ["replication", *names]):
                columns = {series: wide[[name]].to_numpy() for series, name in zip(spill.strength_series, names,
                                                                                      strict=True)}
                long = strength_from_checkpoints(columns, wide["replication"].to_numpy(), results.scenario, [day])
                arrow = pa.Table.from_pandas(long, preserve_index=False)
                if writer is None:
                    schema = arrow.schema.with_metadata({**(arrow.schema.metadata or {}), **extra})
                    writer = pq.ParquetWriter(path, schema, write_statistics=statistics_columns(schema))
                writer.write_table(arrow.cast(schema))
        if writer is None:  # no checkpoint inside the horizon: an empty table, as a batch in memory writes
            write_parquet(strength_from_checkpoints({}, np.arange(0), results.scenario, []), path, labels)
    finally:
        if writer is not None:
            writer.close()


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
        table: ``replications``, ``bands``, ``delays`` or ``strength``. The label columns of the long
            tables (``milestone``, ``cause``, ``contributor``) are Categoricals of the labels of every run.

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
    from sim.batch.results import concat_labelled

    return concat_labelled(frames)
