"""Executors against each other: serial, a local pool and a Dask LocalCluster on the same batch.

Each round runs the batch (2,000 baseline replications by default) once per engine, in an order that
rotates every round; every phase includes starting and stopping the engine's workers (the pool's
processes, the cluster) and a small warm-up batch (two chunks per worker), and separately times the
batch alone, on the warmed engine. Recorded per phase: wall seconds,
CPU seconds of this process (``time.process_time``) plus those of the worker processes reaped
during it (``RUSAGE_CHILDREN``: pool workers and the LocalCluster's worker processes are children
of this process), and the load average before and after. Speed-ups are ratios taken within a round
(same load), then summarised as the median and range over rounds. The tables of every engine are
checked identical to the serial ones in every round.

Also measured: the bytes a chunk sends back per replication (its pickle), and the bytes each task
carries (without the scenario, which each worker receives once).
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import pickle
import resource
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import pandas as pd  # noqa: E402
from bench_replication import _load, _shown, machine  # noqa: E402

import sim  # noqa: E402
from sim.batch.executors import DaskExecutor, InProcess, ProcessPool, chunk_size_for  # noqa: E402
from sim.batch.runner import Chunk, run, run_chunk  # noqa: E402

OUT_DIR = REPO / "bench" / "out"
SEED = 20240314
#: Chunks per worker of the batch that warms each engine before the timed one.
WARM_CHUNKS = 2


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def engines(workers: int) -> dict[str, Callable[[], object]]:
    return {
        "serial": InProcess,
        f"pool_{workers}": lambda: ProcessPool(workers),
        f"dask_{workers}": lambda: DaskExecutor(workers=workers),
    }


def phase(scenario: sim.Scenario, runs: int, warm: int,
          make: Callable[[], object]) -> tuple[dict[str, float], object]:
    """Start the engine, run a batch of ``warm`` runs then the batch on it, stop it; CPU and wall of the
    whole and of the batch alone."""
    load_before = _load()
    wall, cpu, children = time.perf_counter(), time.process_time(), _children_cpu()
    with make() as executor:  # type: ignore[attr-defined]
        # A first small batch warms the engine (the scenario sent to each worker, the first tasks' imports
        # in Dask's spawned workers; the pool's forked workers inherit this process's): the batch timed
        # alone is then the engine's steady state, as for every batch after the first on a kept cluster.
        run(scenario, runs=warm, seed=SEED + 1, executor=executor, progress=False)
        workers_before = _dask_workers_cpu(executor)
        batch_wall, batch_cpu = time.perf_counter(), time.process_time()
        results = run(scenario, runs=runs, seed=SEED, executor=executor, progress=False)
        batch = {"batch_wall_s": time.perf_counter() - batch_wall,
                 "batch_parent_cpu_s": time.process_time() - batch_cpu,
                 # Dask's worker processes outlive the batch: their CPU during it, asked of each worker.
                 "batch_workers_cpu_s": None if workers_before is None else
                 sum(_dask_workers_cpu(executor).values()) - sum(workers_before.values()),
                 "chunk_size": chunk_size_for(runs, executor), "workers": executor.workers}  # type: ignore[attr-defined]
    return {
        "wall_s": time.perf_counter() - wall,
        "parent_cpu_s": time.process_time() - cpu,
        "cpu_s": time.process_time() - cpu + _children_cpu() - children,
        **batch,
        "load_before": load_before,
        "load_after": _load(),
    }, results


def _dask_workers_cpu(executor: object) -> dict[str, float] | None:
    """CPU seconds used so far by each Dask worker process (None for other engines)."""
    client = getattr(executor, "_client", None)
    return None if client is None else client.run(time.process_time)


def same_tables(a: object, b: object) -> bool:
    try:
        for name in ("replications", "bands", "delays", "strength"):
            pd.testing.assert_frame_equal(getattr(a, name), getattr(b, name))
    except AssertionError:
        return False
    return True


def bytes_sent(scenario: sim.Scenario, size: int) -> dict[str, float]:
    chunk = Chunk(scenario, SEED, 0, size)
    result = run_chunk(chunk)
    light = pickle.dumps(dataclasses.replace(chunk, scenario=None), protocol=pickle.HIGHEST_PROTOCOL)
    return {
        "chunk_replications": size,
        "result_bytes_per_replication": len(pickle.dumps(result, protocol=pickle.HIGHEST_PROTOCOL)) / size,
        "task_bytes": len(light),
        "scenario_bytes_once_per_worker": len(pickle.dumps(scenario, protocol=pickle.HIGHEST_PROTOCOL)),
    }


def _stats(values: list[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def measure(args: argparse.Namespace) -> dict[str, object]:
    scenario = sim.load_scenario(args.scenario)
    names = list(engines(args.workers))
    # The same warm-up work for every engine: two chunks per worker of the pool's chunk size.
    warm = WARM_CHUNKS * args.workers * chunk_size_for(args.runs, ProcessPool(args.workers))
    rounds = []
    identical = True
    for r in range(args.rounds):
        order = names[r % len(names):] + names[: r % len(names)]
        row: dict[str, object] = {"order": order}
        tables = {}
        for name in order:
            row[name], tables[name] = phase(scenario, args.runs, warm, engines(args.workers)[name])
            print(f"  round {r + 1} {name}: wall {row[name]['wall_s']:.1f} s, cpu {row[name]['cpu_s']:.1f} s, "
                  f"load {row[name]['load_before']}", file=sys.stderr)
        identical &= all(same_tables(tables["serial"], tables[n]) for n in names[1:])
        rounds.append(row)
    serial, pool, dask = names
    for r in rounds:
        d = r[dask]
        d["batch_cpu_s"] = d["batch_parent_cpu_s"] + d["batch_workers_cpu_s"]
    ratios = {
        f"wall speed-up {pool} / serial": [r[serial]["wall_s"] / r[pool]["wall_s"] for r in rounds],
        f"batch-only wall speed-up {pool} / serial": [r[serial]["batch_wall_s"] / r[pool]["batch_wall_s"]
                                                       for r in rounds],
        f"wall speed-up {dask} / serial": [r[serial]["wall_s"] / r[dask]["wall_s"] for r in rounds],
        f"wall {dask} against {pool} (pool wall / dask wall)": [r[pool]["wall_s"] / r[dask]["wall_s"] for r in rounds],
        f"batch-only wall {dask} against {pool}": [r[pool]["batch_wall_s"] / r[dask]["batch_wall_s"] for r in rounds],
        f"CPU serial / {pool} (1 = no overhead)": [r[serial]["cpu_s"] / r[pool]["cpu_s"] for r in rounds],
        f"CPU serial / {dask} (1 = no overhead)": [r[serial]["cpu_s"] / r[dask]["cpu_s"] for r in rounds],
        f"CPU serial / {dask}, batch only (no cluster start)": [r[serial]["batch_parent_cpu_s"]
                                                                / r[dask]["batch_cpu_s"] for r in rounds],
    }
    return {
        "rounds": rounds,
        "tables_identical": identical,
        "ratios": {k: {**_stats(v), "per_round": v} for k, v in ratios.items()},
        "phases": {n: {k: _stats([r[n][k] for r in rounds]) for k in ("wall_s", "cpu_s", "batch_wall_s")}
                   for n in names},
        "bytes": bytes_sent(scenario, min(100, args.runs)),
    }


def table(result: dict) -> str:
    lines = [f"{result['config']['runs']:,} replications of {result['config']['scenario_name']}, "
             f"{result['config']['rounds']} rounds, {result['config']['workers']} workers; CPUs "
             f"{result['machine']['cpu_count']}; tables identical across engines: {result['tables_identical']}", ""]
    lines.append(f"{'phase':<10} {'wall s (median, range)':<26} {'CPU s (median, range)':<26} batch-only wall s")
    for name, s in result["phases"].items():
        w, c, b = s["wall_s"], s["cpu_s"], s["batch_wall_s"]
        lines.append(f"{name:<10} {w['median']:6.1f} ({w['min']:.1f}-{w['max']:.1f}){'':<11} "
                     f"{c['median']:6.1f} ({c['min']:.1f}-{c['max']:.1f}){'':<11} {b['median']:6.1f}")
    lines += ["", "same-round ratios (median, range):"]
    for name, s in result["ratios"].items():
        lines.append(f"  {name:<52} {s['median']:.2f} ({s['min']:.2f}-{s['max']:.2f})")
    b = result["bytes"]
    lines += ["", f"bytes sent back per replication: {b['result_bytes_per_replication']:,.0f}; per task sent: "
              f"{b['task_bytes']} (the scenario, {b['scenario_bytes_once_per_worker']:,} bytes, once per worker)"]
    loads = [r[n]["load_before"] for r in result["rounds"] for n in result["phases"]]
    lines.append(f"load average (1, 5, 15 min) before each phase: {loads}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=2000, help="replications per phase (default 2000)")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds, at least 3 (default 3)")
    parser.add_argument("--workers", type=int, default=2, help="workers of the pool and the cluster (default 2)")
    parser.add_argument("--scenario", type=Path, default=REPO / "scenarios" / "baseline.toml")
    parser.add_argument("--quick", action="store_true", help="400 runs (for a smoke test, not for figures)")
    parser.add_argument("--out", type=Path, default=None,
                        help="JSON output (default bench/out/executors-<commit>-<time>.json)")
    args = parser.parse_args(argv)
    if args.quick:
        args.runs = 400
    if args.rounds < 3 or args.runs < 1 or args.workers < 1:
        parser.error("need --rounds >= 3, --runs >= 1 and --workers >= 1")
    mach = machine()
    started = dt.datetime.now(dt.UTC)
    result: dict = {"config": {"runs": args.runs, "rounds": args.rounds, "workers": args.workers, "seed": SEED,
                               "scenario": _shown(args.scenario),
                               "scenario_name": sim.load_scenario(args.scenario).name},
                    "machine": mach, "started_utc": started.isoformat(timespec="seconds")}
    result.update(measure(args))
    result["elapsed_s"] = (dt.datetime.now(dt.UTC) - started).total_seconds()
    print(table(result))
    stamp = started.strftime("%Y%m%dT%H%M%SZ")
    tag = (mach["git_commit"] or "unknown")[:10] + ("-dirty" if mach["git_dirty"] else "")
    out = args.out or OUT_DIR / f"executors-{tag}-{stamp}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nwrote {_shown(out)} in {result['elapsed_s']:.1f} s")


if __name__ == "__main__":
    main()
