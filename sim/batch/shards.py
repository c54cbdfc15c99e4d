"""Slices of one batch, run apart (on several machines, or as a job array), merged into one run.

A slice is ``run(..., replications=range(start, stop))``: replication ``k`` is fixed by (seed, k), so
slices 0:500 and 500:1000 hold exactly the replications of a 1000-run batch. :func:`merge_results`
joins them: the tables are concatenated in replication order and the bands computed from the slices'
added counts, so the merged run's tables are those of the whole batch run at once.
:func:`merge_stored` does the same for stored slices, one slice in memory at a time, into a spill
(:mod:`sim.batch.spill`): merging slices of a million runs holds about one slice, not the batch.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from sim.batch.results import BAND_QUANTILES, Results, concat_labelled, is_strength_series
from sim.batch.sketch import SeriesSketch, bands_from_sketches
from sim.batch.spill import Spill, strength_frame_of

#: Replications of a slice written to a merge's spill at once (the slice itself is read whole).
MERGE_PIECE = 10_000


class MergeError(ValueError):
    """Slices that do not make one batch (another scenario, seed or version; overlapping or missing ranges)."""


def check_slices(slices: Sequence[tuple[str, dict]]) -> list[int]:
    """Check that stored slices' manifests make one batch; returns their order by first replication.

    Args:
        slices: ``(name for messages, manifest)`` of each slice.

    Raises:
        MergeError: If one is not a slice, or they differ in scenario, seed or deploysim version, or
            their replication ranges overlap, leave a gap or do not start at 0.
    """
    if not slices:
        raise MergeError("nothing to merge")
    for name, manifest in slices:
        if not manifest.get("slice"):
            raise MergeError(f"{name} is not a slice of a batch (run with --replications START:STOP)")
    first_name, first = slices[0]
    for name, manifest in slices[1:]:
        if json.dumps(manifest.get("scenario"), sort_keys=True) != json.dumps(first.get("scenario"), sort_keys=True):
            raise MergeError(f"{name} ran another scenario than {first_name}")
        if manifest.get("seed") != first.get("seed"):
            raise MergeError(f"{name} has seed {manifest.get('seed')}, {first_name} seed {first.get('seed')}")
        mine, theirs = (m.get("versions", {}).get("deploysim") for m in (manifest, first))
        if mine != theirs:
            raise MergeError(f"{name} was written by deploysim {mine}, {first_name} by {theirs}")
    order = sorted(range(len(slices)), key=lambda i: slices[i][1]["replications"]["start"])
    expected = 0
    for i in order:
        name, manifest = slices[i]
        start, stop = manifest["replications"]["start"], manifest["replications"]["stop"]
        if start < expected:
            raise MergeError(f"{name} (replications {start}:{stop}) overlaps another slice, which ends at {expected}")
        if start > expected:
            raise MergeError(f"replications {expected}:{start} are missing (no slice holds them)")
        expected = stop
    return order


def _check_next(part: Results, expected: int) -> int:
    """Where the slice after ``part`` starts, once ``part`` is checked to start at ``expected``."""
    if part.replication_range is None or part.sketches is None:
        raise MergeError("only slices of a batch (with their counts) can be merged")
    if part.replication_range[0] != expected:
        raise MergeError(f"the slices should follow one another from 0; expected {expected}, "
                         f"got {part.replication_range[0]}")
    return part.replication_range[1]


def _add_counts(sketches: dict[str, SeriesSketch], part: Results) -> None:
    assert part.sketches is not None
    for name, sketch in part.sketches.items():
        if name not in sketches:
            sketches[name] = SeriesSketch(name, sketch.n_days)
        sketches[name].merge(sketch)


def _failures(parts: Sequence[pd.DataFrame | None]) -> pd.DataFrame | None:
    """The slices' failed replications as one table (None if no slice kept a table of them)."""
    frames = [f for f in parts if f is not None]
    return pd.concat(frames, ignore_index=True) if frames else None


def merge_results(slices: Sequence[Results]) -> Results:
    """One run from slices of a batch, given in replication order (see :func:`check_slices`).

    Raises:
        MergeError: If a slice holds no counts to merge, or the slices do not follow one another from 0.
    """
    expected = 0
    for part in slices:
        expected = _check_next(part, expected)
    first = slices[0]
    sketches: dict[str, SeriesSketch] = {}
    for part in slices:
        _add_counts(sketches, part)

    def joined(table: str) -> pd.DataFrame | None:
        frames = [getattr(part, table) for part in slices]
        if any(frame is None for frame in frames):
            return None
        return concat_labelled(frames, first.scenario)

    strength = joined("strength")
    if strength is not None:
        strength = strength.sort_values(["date", "replication"], kind="stable").reset_index(drop=True)
    walls = [part.wall_time_s for part in slices]
    return Results(
        scenario=first.scenario,
        seed=first.seed,
        runs=expected,
        replications=joined("replications"),  # type: ignore[arg-type]
        bands=bands_from_sketches(sketches, BAND_QUANTILES, first.scenario.start_date),
        wall_time_s=None if any(w is None for w in walls) else float(np.sum(walls)),  # type: ignore[arg-type]
        delays=joined("delays"),
        strength=strength,
        sketches=sketches,
        failures=_failures([part.failures for part in slices]),
    )


def merge_stored(folders: Sequence[str | Path], spill: str | Path) -> Results:
    """One run from stored slices of a batch, given in replication order (see :func:`check_slices`), its
    tables written to a new :class:`~sim.batch.spill.Spill` in ``spill`` (a new or empty folder) as each
    slice is read, so that memory holds one slice at a time. The tables and summaries are those of
    :func:`merge_results`. The caller removes the spill (``results.spill.remove()``) once done with it.

    Raises:
        MergeError: As :func:`merge_results`.
        ValueError: If ``spill`` is a folder that is not empty.
    """
    from sim.batch.store import load_results, read_manifest

    spans = [read_manifest(Path(f))["replications"] for f in folders]
    starts = [k for span in spans for k in range(int(span["start"]), int(span["stop"]), MERGE_PIECE)]
    target = Path(spill)
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise ValueError(f"spill: {target} should be a new or empty folder")
    tables = Spill(target, starts)
    try:
        return _merge_into(tables, folders, load_results)
    except BaseException:
        tables.remove()
        raise


def _merge_into(tables: Spill, folders: Sequence[str | Path], load: Callable[[str | Path], Results]) -> Results:
    expected = 0
    sketches: dict[str, SeriesSketch] = {}
    failures: list[pd.DataFrame | None] = []
    walls: list[float | None] = []
    first: Results | None = None
    for folder in folders:
        part = load(folder)
        start = expected
        expected = _check_next(part, expected)
        _add_counts(sketches, part)
        failures.append(part.failures)
        walls.append(part.wall_time_s)
        days = sorted({int(d) for d in part.strength["day"]}) if part.strength is not None else []
        if first is None:
            first = part
            tables.strength_series = [n for n in part.sketches if is_strength_series(n)]  # type: ignore[union-attr]
            tables.strength_days = days
        elif days != tables.strength_days:
            raise MergeError(f"{folder} kept officers in theatre on other dates than the first slice "
                             "(run every slice with the same --deadline strength dates)")
        for piece in range(start, expected, MERGE_PIECE):
            stop = min(piece + MERGE_PIECE, expected)
            tables.add(piece, *_piece_tables(part, piece, stop, tables.strength_series, tables.strength_days))
        del part
    assert first is not None
    tables.close()
    return Results(
        scenario=first.scenario,
        seed=first.seed,
        runs=expected,
        replications=None,  # type: ignore[arg-type]
        bands=bands_from_sketches(sketches, BAND_QUANTILES, first.scenario.start_date),
        wall_time_s=None if any(w is None for w in walls) else float(np.sum(walls)),  # type: ignore[arg-type]
        delays=None,
        strength=None,
        sketches=sketches,
        failures=_failures(failures),
        spill=tables,
    )


def _piece_tables(part: Results, start: int, stop: int, series: list[str],
                  days: list[int]) -> tuple[pd.DataFrame | None, pd.DataFrame, pd.DataFrame]:
    """A slice's rows of replications ``start`` to ``stop - 1``: its replication and delay tables' rows and
    its officers in theatre as a spill holds them (a column per series and checkpoint day)."""
    frame = part.replications
    rows = frame["replication"].to_numpy()
    low, high = np.searchsorted(rows, [start, stop])
    replications = frame.iloc[low:high].reset_index(drop=True)
    delays = part.delays if part.delays is not None else pd.DataFrame(
        {"replication": np.zeros(0, dtype=np.int64), "days": np.zeros(0)})
    at = np.searchsorted(delays["replication"].to_numpy(), [start, stop])
    kept = rows[low:high]
    columns: dict[str, np.ndarray] = {name: np.zeros((len(kept), len(days)), dtype=np.int64) for name in series}
    if part.strength is not None and len(kept):
        strength = part.strength
        inside = strength[(strength["replication"] >= start) & (strength["replication"] < stop)]
        for name in series:
            contributor = "all" if name == "in_theatre" else name.removeprefix("in_theatre.")
            mine = inside[inside["contributor"] == contributor]
            for i, day in enumerate(days):
                values = mine[mine["day"] == day].sort_values("replication", kind="stable")
                columns[name][:, i] = values["officers"].to_numpy()
    return (replications if len(replications) else None, delays.iloc[at[0]:at[1]].reset_index(drop=True),
            strength_frame_of(columns, kept, days))
