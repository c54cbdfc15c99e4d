"""Benchmark of one replication and of a Monte Carlo batch of a scenario (baseline by default).

Everything is measured in one run, because shared machines are noisy: batch throughput on one and
two workers, SimPy events per replication, model events per second against bare SimPy timeouts, and
``simulate`` alone against ``run``. Ratios are the figures to compare across machines. Prints a table
and writes every figure, every repeat and the machine's description as JSON. Never asserts on timings.

Run from the repository root: ``.venv/bin/python bench/bench_replication.py [--runs N]``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import simpy
from simpy.core import EmptySchedule

import sim
from sim.model.mission import Mission
from sim.model.record import Record

REPO = Path(__file__).resolve().parent.parent
DEFAULT_SCENARIO = REPO / "scenarios" / "baseline.toml"
DEFAULT_OUT = REPO / "bench" / "out" / "bench.json"
SEED = 1
EVENT_REPLICATIONS = 200  # enough for a stable mean; events are counted on untimed runs
BARE_TIMEOUTS = 1_000_000
WARMUP_RUNS = 50


class StepCounter:
    """Count the events a SimPy environment processes, by wrapping its ``step``.

    ``Environment.run`` calls ``self.step()`` once per event, so an instance attribute shadowing the
    method sees every event. A step that finds the queue empty processed nothing and is not counted;
    the step that raises ``StopSimulation`` did process the ``until`` event and is counted.

    Args:
        env: The environment to instrument, before it is run.
    """

    def __init__(self, env: simpy.Environment):
        self.events = 0
        step = env.step

        def counted_step() -> None:
            try:
                step()
            except EmptySchedule:
                raise
            except BaseException:
                self.events += 1
                raise
            self.events += 1

        env.step = counted_step  # type: ignore[method-assign]


def _ticker(env: simpy.Environment, timeouts: int):
    """A process that waits ``timeouts`` times for one time unit."""
    for _ in range(timeouts):
        yield env.timeout(1)


def bare_events(timeouts: int) -> int:
    """Events SimPy processes for one ticker run to exhaustion: its Initialize, its timeouts, its end."""
    return timeouts + 2


def verify_counter() -> dict[str, int]:
    """Check :class:`StepCounter` on bare SimPy runs whose event count is known.

    Returns:
        The counted events of each check, by name.

    Raises:
        RuntimeError: If a count differs from the expected one.
    """
    checks: dict[str, tuple[int, int]] = {}

    env = simpy.Environment()
    counter = StepCounter(env)
    env.process(_ticker(env, 3))
    env.process(_ticker(env, 5))
    env.run()
    checks["two_tickers_3_and_5"] = (counter.events, bare_events(3) + bare_events(5))

    # Stopping at a horizon adds the until event and leaves later timeouts unprocessed.
    env = simpy.Environment()
    counter = StepCounter(env)
    env.process(_ticker(env, 10))
    env.run(until=4.5)
    checks["ticker_10_until_4.5"] = (counter.events, 1 + 4 + 1)

    env = simpy.Environment()
    counter = StepCounter(env)
    env.process(_ticker(env, 1000))
    env.run()
    checks["ticker_1000"] = (counter.events, bare_events(1000))

    wrong = {name: got_want for name, got_want in checks.items() if got_want[0] != got_want[1]}
    if wrong:
        raise RuntimeError(f"event counter is wrong (counted, expected): {wrong}")
    return {name: got for name, (got, _) in checks.items()}


def _same_record(a: Record, b: Record) -> bool:
    """Whether two records hold the same outcome (NaN equal to NaN)."""
    same_series = all(
        np.array_equal(a.series[name][i], b.series[name][i], equal_nan=True) for name in a.series for i in (0, 1)
    )
    return repr(a.row()) == repr(b.row()) and a.series.keys() == b.series.keys() and same_series


def count_model_events(scenario: sim.Scenario, seed: int, replications: int) -> list[int]:
    """SimPy events processed by each of replications 0..replications-1 of a batch.

    Raises:
        RuntimeError: If counting changes a replication's outcome (checked on the first one).
    """
    counts = []
    for k in range(replications):
        mission = Mission(scenario, seed, k)
        counter = StepCounter(mission.env)
        record = mission.run()
        if k == 0 and not _same_record(record, sim.simulate(scenario, seed, k)):
            raise RuntimeError("counting events changed the outcome of replication 0")
        counts.append(counter.events)
    return counts


def best_of(fn: Callable[[], object], repeats: int) -> list[float]:
    """Wall-clock seconds of ``repeats`` calls of ``fn``, in call order."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


def run_bare(timeouts: int) -> None:
    """Run one ticker of ``timeouts`` timeouts in a fresh environment, uninstrumented."""
    env = simpy.Environment()
    env.process(_ticker(env, timeouts))
    env.run()


def simulate_batch(scenario: sim.Scenario, seed: int, runs: int) -> None:
    """Call :func:`sim.simulate` for replications 0..runs-1 and drop the records."""
    for k in range(runs):
        sim.simulate(scenario, seed, k)


def machine() -> dict[str, object]:
    """Where and with what the benchmark ran."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True, check=True, timeout=10
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        commit = None
    return {
        "python": sys.version.split()[0],
        "implementation": platform.python_implementation(),
        "simpy": simpy.__version__,
        "numpy": np.__version__,
        "pandas": pd.__version__,
        "deploysim": sim.__version__,
        "cpu_count": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "load_average_1_5_15min": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "git_commit": commit,
    }


def measure(scenario: sim.Scenario, runs: int, repeats: int) -> dict[str, object]:
    """Take every measurement; see the module docstring. Returns the figures and raw timings."""
    sim.run(scenario, runs=WARMUP_RUNS, seed=SEED, workers=1)
    run_bare(10_000)

    counted = verify_counter()
    events = count_model_events(scenario, SEED, EVENT_REPLICATIONS)
    events_mean = statistics.fmean(events)

    t_serial = best_of(lambda: sim.run(scenario, runs=runs, seed=SEED, workers=1), repeats)
    t_pool = best_of(lambda: sim.run(scenario, runs=runs, seed=SEED, workers=2), repeats)
    t_simulate = best_of(lambda: simulate_batch(scenario, SEED, runs), repeats)
    t_bare = best_of(lambda: run_bare(BARE_TIMEOUTS), repeats)

    serial_per_s = runs / min(t_serial)
    pool_per_s = runs / min(t_pool)
    simulate_per_s = runs / min(t_simulate)
    bare_per_s = bare_events(BARE_TIMEOUTS) / min(t_bare)
    model_events_per_s = events_mean * serial_per_s
    run_ms = 1e3 * min(t_serial) / runs
    simulate_ms = 1e3 * min(t_simulate) / runs
    return {
        "figures": {
            "run_serial_replications_per_s": serial_per_s,
            "run_2_workers_replications_per_s": pool_per_s,
            "speedup_2_workers": pool_per_s / serial_per_s,
            "simulate_replications_per_s": simulate_per_s,
            "simulate_ms_per_replication": simulate_ms,
            "run_serial_ms_per_replication": run_ms,
            "batch_overhead_ms_per_replication": run_ms - simulate_ms,
            "batch_overhead_fraction_of_run": (run_ms - simulate_ms) / run_ms,
            "events_per_replication_mean": events_mean,
            "events_per_replication_max": max(events),
            "events_per_replication_min": min(events),
            "model_events_per_s_serial_run": model_events_per_s,
            "model_events_per_s_simulate": events_mean * simulate_per_s,
            "bare_simpy_events_per_s": bare_per_s,
            "model_over_bare_events_per_s": model_events_per_s / bare_per_s,
        },
        "seconds": {
            "run_serial": t_serial,
            "run_2_workers": t_pool,
            "simulate_loop": t_simulate,
            "bare_simpy": t_bare,
        },
        "events_per_replication": events,
        "counter_checks": counted,
    }


def table(result: dict[str, object]) -> str:
    """The figures as a short table with units."""
    f = result["figures"]
    c = result["config"]
    m = result["machine"]
    rows = [
        ("run(), 1 worker", f"{f['run_serial_replications_per_s']:,.0f}", "replications/s"),
        ("run(), 2 workers", f"{f['run_2_workers_replications_per_s']:,.0f}", "replications/s"),
        ("speed-up, 2 workers vs 1", f"{f['speedup_2_workers']:.2f}", "x"),
        ("simulate() alone", f"{f['simulate_replications_per_s']:,.0f}", "replications/s"),
        ("time per replication, simulate()", f"{f['simulate_ms_per_replication']:.3f}", "ms"),
        ("time per replication, run() 1 worker", f"{f['run_serial_ms_per_replication']:.3f}", "ms"),
        ("batch overhead (rows, daily grid, tables)", f"{100 * f['batch_overhead_fraction_of_run']:.1f}", "% of run()"),
        (
            f"SimPy events per replication (mean / max of {c['event_replications']})",
            f"{f['events_per_replication_mean']:.1f} / {f['events_per_replication_max']}",
            "events",
        ),
        ("model events, run() 1 worker", f"{f['model_events_per_s_serial_run']:,.0f}", "events/s"),
        ("bare SimPy timeouts", f"{f['bare_simpy_events_per_s']:,.0f}", "events/s"),
        ("model / bare", f"{f['model_over_bare_events_per_s']:.3f}", "ratio"),
    ]
    width = max(len(r[0]) for r in rows)
    value_width = max(len(r[1]) for r in rows)
    header = [
        f"deploysim bench: {c['scenario_name']} ({c['scenario']}), {c['runs']:,} replications, seed {c['seed']},"
        f" best of {c['repeats']}",
        f"{m['platform']}, Python {m['python']}, simpy {m['simpy']}, numpy {m['numpy']}, {m['cpu_count']} CPUs",
        "",
    ]
    body = [f"{name:<{width}}  {value:>{value_width}}  {unit}" for name, value, unit in rows]
    return "\n".join(header + body)


def _shown(path: Path) -> str:
    """The path relative to the repository when it lies inside it, else as given."""
    try:
        return str(path.resolve().relative_to(REPO))
    except ValueError:
        return str(path)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options; raise SystemExit if ``--runs`` or ``--repeats`` is below 1."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=2000, help="replications per timed batch (default 2000)")
    parser.add_argument("--scenario", type=Path, default=DEFAULT_SCENARIO, help="scenario TOML (default: baseline)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="JSON output (default bench/out/bench.json)")
    parser.add_argument("--repeats", type=int, default=3, help="timings per measure; the best is kept (default 3)")
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")
    return args


def main(argv: list[str] | None = None) -> None:
    """Measure, print the table, write the JSON."""
    args = parse_args(argv)
    scenario = sim.load_scenario(args.scenario)
    started = dt.datetime.now(dt.UTC)
    result: dict[str, object] = {
        "config": {
            "scenario": _shown(args.scenario),
            "scenario_name": scenario.name,
            "horizon_days": scenario.horizon_days,
            "runs": args.runs,
            "seed": SEED,
            "repeats": args.repeats,
            "workers_compared": [1, 2],
            "event_replications": EVENT_REPLICATIONS,
            "bare_timeouts": BARE_TIMEOUTS,
            "event_count_note": "events processed by Environment.step, including the stop-at-horizon event",
        },
        "machine": machine(),
        "started_utc": started.isoformat(timespec="seconds"),
    }
    result.update(measure(scenario, args.runs, args.repeats))
    result["elapsed_s"] = (dt.datetime.now(dt.UTC) - started).total_seconds()
    print(table(result))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nwrote {_shown(args.out)} in {result['elapsed_s']:.1f} s")


if __name__ == "__main__":
    main()
