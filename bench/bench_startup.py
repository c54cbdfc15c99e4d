"""Benchmark of the command line's start-up: how long ``deploysim --version``, ``validate`` and ``schema`` take.

Each command runs in a fresh interpreter (``python -m sim ...``) several times; the median wall time
and the median CPU time (user + system, of the child) are reported, with a bare ``python -c pass``
as the floor measured in the same run, and the load average before and after, since a loaded shared
machine stretches wall time but hardly CPU time. Also lists which heavy libraries each command
imported. Never asserts on timings.

Run from the repository root: ``.venv/bin/python bench/bench_startup.py [--repeats N] [--out FILE]``;
``--tree PATH`` times another checkout's ``sim/`` (e.g. an older commit exported with ``git archive``)
with this interpreter, for a before/after comparison in one session.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DEFAULT_OUT = REPO / "bench" / "out" / "startup.json"
HEAVY = ("numpy", "pandas", "matplotlib", "pyarrow", "scipy", "pydantic")

#: What is timed: a name and the arguments after ``python``.
COMMANDS = {
    "python (floor)": ["-c", "pass"],
    "deploysim --version": ["-m", "sim", "--version"],
    "deploysim validate baseline": ["-m", "sim", "validate", "scenarios/baseline.toml"],
    "deploysim schema": ["-m", "sim", "schema"],
    "import sim": ["-c", "import sim"],
}

_IMPORTS_PROBE = """
import contextlib, io, json, sys
from sim.commands.main import main
with contextlib.redirect_stdout(io.StringIO()):
    try:
        main({argv!r})
    except SystemExit:
        pass
print(json.dumps(sorted({{m.split(".")[0] for m in sys.modules}} & set({heavy!r}))))
"""


def time_once(args: list[str], tree: Path = REPO) -> tuple[float, float]:
    """Wall and CPU seconds (the child's user + system time) of one ``python ARGS`` run in ``tree``."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    # -m and -c put the working folder first on sys.path: the tree's sim/ is the one imported.
    subprocess.run([sys.executable, *args], cwd=tree, check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def heavy_imports(args: list[str], tree: Path = REPO) -> list[str] | None:
    """Which heavy libraries a ``deploysim`` command imports (None for a command that is not one)."""
    if args[:2] != ["-m", "sim"]:
        return None
    script = _IMPORTS_PROBE.format(argv=args[2:], heavy=HEAVY)
    done = subprocess.run([sys.executable, "-c", script], cwd=tree, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7, help="runs of each command (default 7)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"JSON file (default {DEFAULT_OUT})")
    parser.add_argument("--tree", type=Path, default=REPO,
                        help="folder holding the sim/ package and scenarios/ to time (default: this repository)")
    args = parser.parse_args()
    tree = args.tree.resolve()

    load_before = os.getloadavg()
    rows = {}
    for name, command in COMMANDS.items():
        time_once(command, tree)  # warm the file cache: the first run reads every .pyc from disk
        samples = [time_once(command, tree) for _ in range(args.repeats)]
        rows[name] = {
            "wall_s": [round(w, 4) for w, _ in samples],
            "cpu_s": [round(c, 4) for _, c in samples],
            "median_wall_s": statistics.median(w for w, _ in samples),
            "median_cpu_s": statistics.median(c for _, c in samples),
            "heavy_imports": heavy_imports(command, tree),
        }
    load_after = os.getloadavg()

    print(f"Start-up of {tree}, median of {args.repeats} runs each (load average before {load_before[0]:.2f}, "
          f"after {load_after[0]:.2f}, on {os.cpu_count()} CPUs)")
    print(f"{'command':<30} {'wall s':>8} {'CPU s':>8}  heavy libraries imported")
    for name, row in rows.items():
        heavy = "-" if row["heavy_imports"] is None else (", ".join(row["heavy_imports"]) or "none")
        print(f"{name:<30} {row['median_wall_s']:>8.3f} {row['median_cpu_s']:>8.3f}  {heavy}")

    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({
        "created_utc": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "tree": str(tree),
        "repeats": args.repeats,
        "load_average_before": load_before,
        "load_average_after": load_after,
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "commands": {name: {"argv": COMMANDS[name], **row} for name, row in rows.items()},
    }, indent=2) + "\n")
    print(f"\nWritten: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
