"""Slices of one batch, run apart (on several machines, or as a job array), merged into one run.

A slice is ``run(..., replications=range(start, stop))``: replication ``k`` is fixed by (seed, k), so
slices 0:500 and 500:1000 hold exactly the replications of a 1000-run batch. :func:`merge_results`
joins them: the tables are concatenated in replication order and the bands computed from the slices'
added counts, so the merged run's tables are those of the whole batch run at once.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import numpy as np
import pandas as pd

from sim.batch.results import BAND_QUANTILES, Results, concat_labelled
from sim.batch.sketch import SeriesSketch, bands_from_sketches


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


def merge_results(slices: Sequence[Results]) -> Results:
    """One run from slices of a batch, given in replication order (see :func:`check_slices`).

    Raises:
        MergeError: If a slice holds no counts to merge, or the slices do not follow one another from 0.
    """
    expected = 0
    for part in slices:
        if part.replication_range is None or part.sketches is None:
            raise MergeError("only slices of a batch (with their counts) can be merged")
        if part.replication_range[0] != expected:
            raise MergeError(f"the slices should follow one another from 0; expected {expected}, "
                             f"got {part.replication_range[0]}")
        expected = part.replication_range[1]
    first = slices[0]
    assert first.sketches is not None
    sketches = {name: SeriesSketch(name, sketch.n_days) for name, sketch in first.sketches.items()}
    for part in slices:
        assert part.sketches is not None
        for name, sketch in part.sketches.items():
            sketches[name].merge(sketch)

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
    )
