"""A/B of two versions of the model in one process: the same replications, block by block, in turn.

On a shared machine the speed of a process drifts by 10-20% from one minute to the next, so two
benchmark runs made one after the other (``compare.py OLD NEW``) cannot see a change of a few
percent. This loads both versions of the ``sim`` package into one interpreter and alternates between
them in short blocks (the order swapping every block), so both see the same machine; each pair of
neighbouring blocks gives one ratio, and the median and quartiles of the ratios are the result.

Each version is a git commit, exported with ``git archive`` into a temporary folder, or a folder that
holds a ``sim/`` package; by default the new one is this working tree. Each version loads the scenario
with its own loader, from its own tree unless ``--scenario`` names a file. Before timing, the script
says whether the two versions give the same records for the first replications (a pure speed change
should). CPU time is ``time.process_time``; the load average is recorded before and after. Never
part of the tests.

Usage, from the repository root::

    .venv/bin/python bench/bench_ab.py d488365             # that commit against the working tree
    .venv/bin/python bench/bench_ab.py HEAD HEAD           # an A/A run: the spread of the ratios is the noise
    .venv/bin/python bench/bench_ab.py OLD NEW --blocks 16 --reps 300 --out bench/out/ab.json
    .venv/bin/python bench/bench_ab.py OLD --call run --reps 1000   # whole batches through sim.run
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parent.parent
SEED = 1
WARMUP = 50
CHECKED = 10  # replications whose records are compared between the versions


@dataclass
class Version:
    """One version of the package, loaded: its modules, and its simulate and scenario."""

    label: str
    root: Path
    modules: dict[str, ModuleType]
    simulate: Any
    run: Any
    scenario: Any


def _is_sim(name: str) -> bool:
    return name == "sim" or name.startswith("sim.")


def _activate(modules: dict[str, ModuleType]) -> None:
    """Make ``modules`` the ``sim`` package that imports (and lazy imports inside functions) resolve to."""
    for name in [n for n in sys.modules if _is_sim(n)]:
        del sys.modules[name]
    sys.modules.update(modules)


def export(ref: str, into: Path) -> Path:
    """The tree to load for ``ref``: a folder holding ``sim/`` as it is, or a commit exported into ``into``."""
    folder = Path(ref)
    if (folder / "sim" / "__init__.py").is_file():
        return folder.resolve()
    archive = subprocess.run(["git", "archive", "--format=tar", ref, "sim", "scenarios"], cwd=REPO,
                             capture_output=True, check=False, timeout=60)
    if archive.returncode:
        sys.exit(f"bench_ab: {ref!r} is neither a folder holding sim/ nor a commit: "
                 f"{archive.stderr.decode().strip()}")
    target = into / ref.replace("/", "_")
    target.mkdir()
    with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
        tar.extractall(target, filter="data")
    return target


def load(label: str, root: Path, scenario: Path | None) -> Version:
    """Import the ``sim`` package under ``root`` (apart from any other loaded one) and its scenario."""
    _activate({})
    sys.path.insert(0, str(root))
    try:
        import sim  # noqa: PLC0415 - imported afresh from root, once per version
        from sim.batch.runner import run  # noqa: PLC0415
        from sim.model.mission import simulate  # noqa: PLC0415

        if not Path(sim.__file__).resolve().is_relative_to(root):
            sys.exit(f"bench_ab: importing sim from {root} gave {sim.__file__}")
        loaded = sim.load_scenario(str(scenario or root / "scenarios" / "baseline.toml"))
        simulate(loaded, SEED, 0)  # pulls in whatever simulate and run import lazily
        run(loaded, runs=2, seed=SEED, workers=1, progress=False)
    finally:
        sys.path.remove(str(root))
    return Version(label, root, {n: m for n, m in sys.modules.items() if _is_sim(n)}, simulate, run, loaded)


def block(version: Version, reps: int, call: str = "simulate") -> tuple[float, float]:
    """CPU and wall seconds per replication of replications 0..reps-1: each through ``simulate``, or as
    one batch through ``run`` on one worker (tables and bands included)."""
    _activate(version.modules)
    simulate, scenario = version.simulate, version.scenario
    cpu, wall = time.process_time(), time.perf_counter()
    if call == "run":
        version.run(scenario, runs=reps, seed=SEED, workers=1, progress=False)
    else:
        for k in range(reps):
            simulate(scenario, SEED, k)
    return (time.process_time() - cpu) / reps, (time.perf_counter() - wall) / reps


def same_records(old: Version, new: Version) -> bool:
    """Whether both versions give the same rows and series for the first replications."""
    for k in range(CHECKED):
        _activate(old.modules)
        a = old.simulate(old.scenario, SEED, k)
        _activate(new.modules)
        b = new.simulate(new.scenario, SEED, k)
        if repr(a.row()) != repr(b.row()) or a.series.keys() != b.series.keys():
            return False
        for name, (days, values) in a.series.items():
            other_days, other_values = b.series[name]
            if not (np.array_equal(days, other_days) and np.array_equal(values, other_values, equal_nan=True)):
                return False
    return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("old", help="a commit, or a folder holding sim/")
    parser.add_argument("new", nargs="?", default=str(REPO), help="likewise (default: this working tree)")
    parser.add_argument("--blocks", type=int, default=12, help="blocks per version, at least 4 (default 12)")
    parser.add_argument("--reps", type=int, default=300, help="replications per block (default 300)")
    parser.add_argument("--scenario", type=Path, default=None,
                        help="scenario TOML for both (default: each tree's baseline)")
    parser.add_argument("--call", choices=("simulate", "run"), default="simulate",
                        help="time simulate per replication (default), or run: one batch of --reps on 1 worker")
    parser.add_argument("--out", type=Path, default=None, help="also write the timings as JSON here")
    args = parser.parse_args()
    if args.blocks < 4 or args.reps < 1:
        parser.error("--blocks must be at least 4 and --reps at least 1")

    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="bench-ab-") as scratch:
        old = load("old", export(args.old, Path(scratch)), args.scenario)
        new = load("new", export(args.new, Path(scratch)), args.scenario)
        same = same_records(old, new)
        for version in (old, new):
            block(version, WARMUP, args.call)
        cpu: dict[str, list[float]] = {"old": [], "new": []}
        wall: dict[str, list[float]] = {"old": [], "new": []}
        for i in range(args.blocks):
            for version in ((old, new) if i % 2 == 0 else (new, old)):
                c, w = block(version, args.reps, args.call)
                cpu[version.label].append(c)
                wall[version.label].append(w)
    load_after = os.getloadavg()

    ratios = [o / n for o, n in zip(cpu["old"], cpu["new"], strict=True)]
    low, _, high = statistics.quantiles(ratios, n=4)  # at least 4 pairs
    median = {label: statistics.median(v) * 1e6 for label, v in cpu.items()}
    print(f"bench_ab: {args.old} (old) against {args.new} (new), {args.blocks} blocks of {args.reps} "
          f"replications each ({args.call}), seed {SEED}")
    print(f"load average before {load_before[0]:.2f}, after {load_after[0]:.2f}")
    print(f"same records for replications 0-{CHECKED - 1}: {'yes' if same else 'NO'}")
    print(f"CPU us per replication, median of blocks: old {median['old']:.0f}, new {median['new']:.0f}")
    print(f"speed-up (old CPU / new CPU, paired blocks): median {statistics.median(ratios):.3f}, "
          f"quartiles {low:.3f}-{high:.3f}, range {min(ratios):.3f}-{max(ratios):.3f}; "
          f"new faster in {sum(r > 1 for r in ratios)} of {len(ratios)} pairs")
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({
            "old": args.old, "new": args.new, "call": args.call, "blocks": args.blocks, "reps": args.reps, "seed": SEED,
            "same_records": same, "load_before": load_before, "load_after": load_after,
            "cpu_s_per_rep": cpu, "wall_s_per_rep": wall, "speed_up": ratios,
        }, indent=1))
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
