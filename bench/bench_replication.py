"""Benchmark of one replication, a Monte Carlo batch, a 4-point sweep and the default sensitivity analysis.

Built for a shared, noisy machine. Every phase is timed in CPU time (``time.process_time``, plus the
CPU time of reaped worker processes for the pool phase) and in wall time. Phases are interleaved in
rounds (the order rotates from round to round), and every figure is the median of the rounds with
their range. The reference, bare SimPy (one process yielding ``env.timeout(1)``), is measured in the
same rounds, so the ratio of the model's event rate to SimPy's is taken under the same conditions.
Each model phase is bracketed by bare SimPy runs, and its ratio uses the mean of the two. The load
average is recorded before and after each round. Events are counted on separate, untimed
runs. Never asserts on timings.

Run from the repository root: ``.venv/bin/python bench/bench_replication.py [--rounds N] [--quick]``.
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
from collections.abc import Callable
from pathlib import Path

import numpy as np
import simpy
from simpy.core import EmptySchedule

import sim
from sim.model.mission import Mission
from sim.model.record import Record

REPO = Path(__file__).resolve().parent.parent
DEFAULT_SCENARIO = REPO / "scenarios" / "baseline.toml"
OUT_DIR = REPO / "bench" / "out"
SEED = 1
EVENT_REPLICATIONS = 200  # replications whose events are counted (untimed)
BARE_TIMEOUTS = 300_000
WARMUP_RUNS = 50
SWEEP_KEY = "funding.runway_days"
SWEEP_VALUES = [30, 60, 90, 120]
SENSITIVITY_COUNT_RUNS = 10  # replications per batch whose events are counted for the sensitivity phase


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


class EveryEnvironment:
    """Count the events of every SimPy environment created in this process while in the block.

    Used for the sweep and sensitivity phases, whose environments are created deep inside
    :func:`sim.run`: it wraps ``Environment.__init__`` so each new environment gets a
    :class:`StepCounter`.
    """

    def __init__(self) -> None:
        self.counters: list[StepCounter] = []
        self._init = simpy.Environment.__init__

    def __enter__(self) -> EveryEnvironment:
        original = self._init
        counters = self.counters

        def init(env: simpy.Environment, *args: object, **kwargs: object) -> None:
            original(env, *args, **kwargs)
            counters.append(StepCounter(env))

        simpy.Environment.__init__ = init  # type: ignore[method-assign]
        return self

    def __exit__(self, *exc: object) -> None:
        simpy.Environment.__init__ = self._init  # type: ignore[method-assign]

    @property
    def events(self) -> int:
        """Events counted so far, all environments."""
        return sum(c.events for c in self.counters)


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

    with EveryEnvironment() as every:
        run_bare(1000)
    checks["every_environment_ticker_1000"] = (every.events, bare_events(1000))

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


def run_bare(timeouts: int) -> None:
    """Run one ticker of ``timeouts`` timeouts in a fresh environment, uninstrumented."""
    env = simpy.Environment()
    env.process(_ticker(env, timeouts))
    env.run()


def simulate_batch(scenario: sim.Scenario, seed: int, runs: int) -> None:
    """Call :func:`sim.simulate` for replications 0..runs-1 and drop the records."""
    for k in range(runs):
        sim.simulate(scenario, seed, k)


def run_sweep(scenario: sim.Scenario, runs: int | None = None) -> None:
    """The 4-point sweep of ``funding.runway_days`` at the sweep's default replications, in this process."""
    from sim.analysis.sweep import sweep

    kwargs = {} if runs is None else {"runs": runs}
    sweep(scenario, {SWEEP_KEY: SWEEP_VALUES}, seed=SEED, workers=1, **kwargs)


def run_sensitivity(scenario: sim.Scenario, runs: int | None = None) -> None:
    """The default sensitivity analysis (a tornado of every uncertain input), in this process."""
    from sim.analysis.sensitivity import tornado

    kwargs = {} if runs is None else {"runs": runs}
    tornado(scenario, workers=1, **kwargs)


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(fn: Callable[[], object]) -> dict[str, float]:
    """CPU and wall seconds of one call of ``fn``; CPU includes worker processes reaped during it."""
    wall, cpu, children = time.perf_counter(), time.process_time(), _children_cpu()
    fn()
    return {
        "cpu_s": time.process_time() - cpu + _children_cpu() - children,
        "wall_s": time.perf_counter() - wall,
    }


def machine() -> dict[str, object]:
    """Where and with what the benchmark ran."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True, check=True, timeout=10
        ).stdout.strip()
        dirty = bool(
            subprocess.run(
                ["git", "status", "--porcelain", "--untracked-files=no"], cwd=REPO, capture_output=True, text=True,
                check=True, timeout=10,
            ).stdout.strip()
        )
    except (OSError, subprocess.SubprocessError):
        commit, dirty = None, None
    try:
        import scipy

        scipy_version = scipy.__version__
    except ImportError:
        scipy_version = None
    return {
        "python": sys.version.split()[0],
        "implementation": platform.python_implementation(),
        "simpy": simpy.__version__,
        "numpy": np.__version__,
        "scipy": scipy_version,
        "deploysim": sim.__version__,
        "cpu_count": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "git_commit": commit,
        "git_dirty": dirty,
    }


def _load() -> list[float] | None:
    return [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else None


def phases(scenario: sim.Scenario, args: argparse.Namespace) -> dict[str, tuple[Callable[[], object], int]]:
    """Each timed phase: the call, and the replications (or, for bare SimPy, the events) it runs."""
    out: dict[str, tuple[Callable[[], object], int]] = {
        "bare_simpy": (lambda: run_bare(BARE_TIMEOUTS), bare_events(BARE_TIMEOUTS)),
        "simulate": (lambda: simulate_batch(scenario, SEED, args.runs), args.runs),
        "run_1_worker": (lambda: sim.run(scenario, runs=args.runs, seed=SEED, workers=1), args.runs),
    }
    if not args.quick:
        out["run_2_workers"] = (lambda: sim.run(scenario, runs=args.runs, seed=SEED, workers=2), args.runs)
        out["sweep_4_points"] = (lambda: run_sweep(scenario), len(SWEEP_VALUES) * _sweep_default_runs())
        if not args.no_sensitivity:
            out["sensitivity_default"] = (lambda: run_sensitivity(scenario), _sensitivity_replications(scenario))
    return out


def _sweep_default_runs() -> int:
    import inspect

    from sim.analysis.sweep import sweep

    return inspect.signature(sweep).parameters["runs"].default


def _sensitivity_default_runs() -> int:
    import inspect

    from sim.analysis.sensitivity import tornado

    return inspect.signature(tornado).parameters["runs"].default


def _sensitivity_replications(scenario: sim.Scenario) -> int:
    from sim.analysis.sensitivity import uncertain_inputs

    return _sensitivity_default_runs() * (1 + 2 * len(uncertain_inputs(scenario)))


def events_per_replication(scenario: sim.Scenario, names: list[str]) -> dict[str, dict[str, float]]:
    """Mean SimPy events per replication of each phase, counted on untimed runs."""
    counts = count_model_events(scenario, SEED, EVENT_REPLICATIONS)
    single = {"mean": statistics.fmean(counts), "min": min(counts), "max": max(counts), "replications": len(counts)}
    out = {"simulate": single, "run_1_worker": single, "run_2_workers": single}
    if "sweep_4_points" in names:
        with EveryEnvironment() as every:
            run_sweep(scenario, runs=EVENT_REPLICATIONS // len(SWEEP_VALUES))
        reps = len(every.counters)
        out["sweep_4_points"] = {"mean": every.events / reps, "replications": reps}
    if "sensitivity_default" in names:
        with EveryEnvironment() as every:
            run_sensitivity(scenario, runs=SENSITIVITY_COUNT_RUNS)
        reps = len(every.counters)
        out["sensitivity_default"] = {"mean": every.events / reps, "replications": reps}
    return out


def measure(scenario: sim.Scenario, args: argparse.Namespace) -> dict[str, object]:
    """Warm up, count events, then time every phase in ``args.rounds`` interleaved rounds."""
    todo = phases(scenario, args)
    names = list(todo)
    sim.run(scenario, runs=WARMUP_RUNS, seed=SEED, workers=1)
    run_bare(10_000)
    counted = verify_counter()
    events = events_per_replication(scenario, names)

    model = [n for n in names if n != "bare_simpy"]
    rounds = []
    for r in range(args.rounds):
        # Rotate the order so that no phase always runs first (or after the same neighbour), and
        # bracket every model phase by bare SimPy, so each ratio compares neighbours in time.
        order = model[r % len(model):] + model[: r % len(model)]
        entry: dict[str, object] = {"order": order, "load_before": _load(), "phases": {}, "bare_simpy": []}
        entry["bare_simpy"].append(timed(todo["bare_simpy"][0]))
        for name in order:
            fn, _ = todo[name]
            entry["phases"][name] = timed(fn)
            entry["phases"][name]["bare_before_after_cpu_s"] = [entry["bare_simpy"][-1]["cpu_s"]]
            entry["bare_simpy"].append(timed(todo["bare_simpy"][0]))
            entry["phases"][name]["bare_before_after_cpu_s"].append(entry["bare_simpy"][-1]["cpu_s"])
        entry["load_after"] = _load()
        rounds.append(entry)
        print(f"round {r + 1}/{args.rounds} done, load average {entry['load_after']}", file=sys.stderr)

    return {
        "rounds": rounds,
        "events_per_replication": events,
        "replications": {name: n for name, (_, n) in todo.items()},
        "figures": figures(rounds, events, {name: n for name, (_, n) in todo.items()}),
        "counter_checks": counted,
    }


def _stats(values: list[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def figures(rounds: list[dict], events: dict[str, dict[str, float]], sizes: dict[str, int]) -> dict[str, dict]:
    """Per phase: median and range over rounds of each figure. Ratios are taken within a round."""
    out: dict[str, dict] = {}
    bare = sizes["bare_simpy"]
    bare_cpu = [b["cpu_s"] for r in rounds for b in r["bare_simpy"]]
    out["bare_simpy"] = {
        "events": bare,
        "measurements": len(bare_cpu),
        "cpu_us_per_event": _stats([1e6 * s / bare for s in bare_cpu]),
        "events_per_cpu_s": _stats([bare / s for s in bare_cpu]),
        "wall_s": _stats([b["wall_s"] for r in rounds for b in r["bare_simpy"]]),
    }
    for name, n in sizes.items():
        if name == "bare_simpy":
            continue
        cpu = [r["phases"][name]["cpu_s"] for r in rounds]
        wall = [r["phases"][name]["wall_s"] for r in rounds]
        per_rep = events[name]["mean"]
        rate = [per_rep * n / s for s in cpu]
        # The bare rate next to this phase: the mean of the bare SimPy runs just before and after it.
        bare_rate = [bare / statistics.fmean(r["phases"][name]["bare_before_after_cpu_s"]) for r in rounds]
        out[name] = {
            "replications": n,
            "events_per_replication": per_rep,
            "cpu_s": _stats(cpu),
            "wall_s": _stats(wall),
            "cpu_us_per_event": _stats([1e6 * s / (per_rep * n) for s in cpu]),
            "replications_per_cpu_s": _stats([n / s for s in cpu]),
            "replications_per_wall_s": _stats([n / s for s in wall]),
            "events_per_cpu_s": _stats(rate),
            "ratio_to_bare_simpy": _stats([m / b for m, b in zip(rate, bare_rate, strict=True)]),
            # What one replication costs in bare SimPy events: unlike the ratio, it does not fall when
            # the model does the same work with fewer events.
            "replication_cost_in_bare_events": _stats([b * s / n for b, s in zip(bare_rate, cpu, strict=True)]),
        }
    return out


def _fmt_range(s: dict[str, float], fmt: str) -> str:
    return f"{s['median']:{fmt}} [{s['min']:{fmt}}-{s['max']:{fmt}}]"


def table(result: dict[str, object]) -> str:
    """The figures as a table: medians with [min-max] over the rounds."""
    f = result["figures"]
    c = result["config"]
    m = result["machine"]
    loads = [r["load_before"] for r in result["rounds"]] + [r["load_after"] for r in result["rounds"]]
    one_min = [x[0] for x in loads if x]
    lines = [
        f"deploysim bench: {c['scenario_name']} ({c['scenario']}), seed {c['seed']}, {c['rounds']} interleaved rounds;"
        f" median [min-max] of the rounds",
        f"{m['platform']}, Python {m['python']}, simpy {m['simpy']}, numpy {m['numpy']}, {m['cpu_count']} CPUs,"
        f" commit {str(m['git_commit'])[:10]}{' (dirty)' if m['git_dirty'] else ''}",
        f"load average (1 min) during the rounds: {min(one_min):.2f}-{max(one_min):.2f}" if one_min else "",
        "",
        f"bare SimPy ({f['bare_simpy']['events']:,} timeouts, {f['bare_simpy']['measurements']} runs bracketing"
        f" the phases): {_fmt_range(f['bare_simpy']['cpu_us_per_event'], '.3f')} CPU us/event,"
        f" {_fmt_range(f['bare_simpy']['events_per_cpu_s'], ',.0f')} events/CPU s",
        "",
    ]
    head = ("phase", "reps", "events/rep", "CPU us/event", "reps/CPU s", "reps/wall s", "ratio to bare SimPy",
            "rep cost in bare events")
    rows = []
    for name, fig in f.items():
        if name == "bare_simpy":
            continue
        rows.append((
            name,
            f"{fig['replications']:,}",
            f"{fig['events_per_replication']:.1f}",
            _fmt_range(fig["cpu_us_per_event"], ".2f"),
            _fmt_range(fig["replications_per_cpu_s"], ",.0f"),
            _fmt_range(fig["replications_per_wall_s"], ",.0f"),
            _fmt_range(fig["ratio_to_bare_simpy"], ".3f"),
            _fmt_range(fig["replication_cost_in_bare_events"], ",.0f") if "replication_cost_in_bare_events" in fig
            else "-",
        ))
    widths = [max(len(str(x)) for x in col) for col in zip(head, *rows, strict=True)]
    lines.append("  ".join(h.ljust(w) for h, w in zip(head, widths, strict=True)))
    for row in rows:
        lines.append("  ".join(str(x).ljust(w) for x, w in zip(row, widths, strict=True)))
    lines.append("")
    lines.append("run_2_workers: CPU includes the workers' CPU; its ratio is per CPU, not per wall second.")
    lines.append("rep cost in bare events: CPU time of one replication over that of one bare SimPy event nearby.")
    return "\n".join(lines)


def _shown(path: Path) -> str:
    """The path relative to the repository when it lies inside it, else as given."""
    try:
        return str(path.resolve().relative_to(REPO))
    except ValueError:
        return str(path)


def default_out(commit: str | None, dirty: bool | None) -> Path:
    """``bench/out/bench-<commit>[-dirty]-<UTC time>.json``."""
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    tag = (commit or "unknown")[:10] + ("-dirty" if dirty else "")
    return OUT_DIR / f"bench-{tag}-{stamp}.json"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options; raise SystemExit if ``--runs`` is below 1 or ``--rounds`` below 3."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1000, help="replications per simulate/run phase (default 1000)")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds, at least 3 (default 3)")
    parser.add_argument("--scenario", type=Path, default=DEFAULT_SCENARIO, help="scenario TOML (default: baseline)")
    parser.add_argument("--out", type=Path, default=None,
                        help="JSON output (default bench/out/bench-<commit>-<time>.json)")
    parser.add_argument("--no-sensitivity", action="store_true", help="skip the (long) default sensitivity phase")
    parser.add_argument("--quick", action="store_true",
                        help="only bare SimPy, simulate and run on 1 worker (no pool, sweep or sensitivity)")
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    if args.rounds < 3:
        parser.error("--rounds must be at least 3: a median and a range need them")
    return args


def main(argv: list[str] | None = None) -> None:
    """Measure, print the table, write the JSON."""
    args = parse_args(argv)
    scenario = sim.load_scenario(args.scenario)
    started = dt.datetime.now(dt.UTC)
    mach = machine()
    result: dict[str, object] = {
        "config": {
            "scenario": _shown(args.scenario),
            "scenario_name": scenario.name,
            "horizon_days": scenario.horizon_days,
            "runs": args.runs,
            "rounds": args.rounds,
            "seed": SEED,
            "quick": args.quick,
            "event_replications": EVENT_REPLICATIONS,
            "bare_timeouts": BARE_TIMEOUTS,
            "sweep": {SWEEP_KEY: SWEEP_VALUES},
            "event_count_note": "events processed by Environment.step, including the stop-at-horizon event;"
                                " sweep and sensitivity events are counted on smaller untimed batches",
        },
        "machine": mach,
        "started_utc": started.isoformat(timespec="seconds"),
    }
    result.update(measure(scenario, args))
    result["elapsed_s"] = (dt.datetime.now(dt.UTC) - started).total_seconds()
    print(table(result))
    out = args.out or default_out(mach["git_commit"], mach["git_dirty"])
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nwrote {_shown(out)} in {result['elapsed_s']:.1f} s")


if __name__ == "__main__":
    main()
