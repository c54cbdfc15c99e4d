"""Benchmark of a batch's memory, of what workers send back, and of the resume journal's cost.

- **Peak RSS** of ``deploysim run --runs N`` (one worker, no plots) for each N, each in a fresh
  process, read from ``os.wait4`` (``ru_maxrss`` of that child alone), with its CPU and wall time.
  ``--tree PATH`` measures another checkout's ``sim/`` too (e.g. the code before the change), with the
  same interpreter, for a same-run ratio.
- **Bytes per replication sent back**: the pickle size of a :class:`sim.batch.runner.ChunkResult`
  over its chunk length (chunks of 250, the default), split into its parts, and what the dense daily
  grid (``keep_daily``) would add.
- **Journal overhead**: ``sim.run`` in this process with and without a journal (``--resume``'s), in
  interleaved rounds (order alternating), CPU time (``time.process_time``) and wall time, the load
  average before and after each round. Never asserts on timings.

Run from the repository root: ``.venv/bin/python bench/bench_memory.py [--runs 10000 100000] [--rounds 3]``.
Writes ``bench/out/memory.json`` (git-ignored) unless ``--out`` says otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SCENARIO = REPO / "scenarios" / "baseline.toml"
OUT = REPO / "bench" / "out" / "memory.json"


def peak_rss(runs: int, tree: Path, seed: int = 1, workers: int = 1) -> dict[str, float]:
    """Peak RSS (MiB), CPU and wall seconds of ``deploysim run --runs N`` from ``tree``, in a fresh process.

    ``ru_maxrss`` from ``wait4`` is the largest of that process and of the worker processes it waited for."""
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "sim", "run", str(SCENARIO), "--runs", str(runs), "--seed", str(seed),
               "--quiet", "--no-plots", "--workers", str(workers), "--out", str(Path(tmp) / "run")]
        env = {**os.environ, "PYTHONPATH": str(tree)}
        load = os.getloadavg()[0]
        started = time.perf_counter()
        proc = subprocess.Popen(cmd, env=env, cwd=tmp, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        err = proc.stderr.read().decode() if proc.stderr else ""
        if proc.returncode:
            raise SystemExit(f"run --runs {runs} failed ({proc.returncode}): {err[-500:]}")
    return {"runs": runs, "workers": workers, "tree": str(tree), "peak_rss_mib": usage.ru_maxrss / 1024,
            "cpu_s": usage.ru_utime
            + usage.ru_stime, "wall_s": wall, "load_before": load, "load_after": os.getloadavg()[0]}


def bytes_sent(chunk: int = 250) -> dict[str, float]:
    """Pickle size per replication of one chunk's result, by part."""
    from sim import load_scenario
    from sim.batch.results import checkpoint_dates
    from sim.batch.runner import Chunk, run_chunk

    scenario = load_scenario(SCENARIO)
    days = tuple(int(scenario.day_of(d)) for d in checkpoint_dates(scenario))
    result = run_chunk(Chunk(scenario, 1, 0, chunk, strength_days=days))
    dense = run_chunk(Chunk(scenario, 1, 0, min(chunk, 50), strength_days=days, keep_daily=True))

    def size(obj: object, n: int = chunk) -> float:
        return len(pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)) / n

    return {"chunk": chunk, "total": size(result), "rows": size(result.rows), "delays": size(result.delays),
            "strength": size(result.strength), "sketches": size(result.sketches),
            "daily_grid_if_kept": size(dense.daily, min(chunk, 50))}


def journal_record_cost(chunk: int = 250, repeats: int = 20) -> dict[str, float]:
    """CPU and wall seconds of journaling one chunk (pickle, SHA-256, atomic write, fsync, journal line),
    against the CPU seconds of running that chunk: the journal's overhead with the noise of the batch removed."""
    from sim import load_scenario
    from sim.batch.journal import Journal
    from sim.batch.results import checkpoint_dates
    from sim.batch.runner import Chunk, batch_key, run_chunk

    scenario = load_scenario(SCENARIO)
    days = tuple(int(scenario.day_of(d)) for d in checkpoint_dates(scenario))
    cpu = time.process_time()
    result = run_chunk(Chunk(scenario, 1, 0, chunk, strength_days=days))
    compute = time.process_time() - cpu
    with tempfile.TemporaryDirectory() as tmp:
        book = Journal.open(Path(tmp) / "journal", batch_key(scenario, 1, range(chunk), days), resume=False)
        assert book is not None
        book.begin(chunk)
        cpu, wall = time.process_time(), time.perf_counter()
        for _ in range(repeats):
            book.record(result)
        record_cpu = (time.process_time() - cpu) / repeats
        record_wall = (time.perf_counter() - wall) / repeats
        book.remove()
    return {"chunk": chunk, "chunk_cpu_s": compute, "record_cpu_s": record_cpu, "record_wall_s": record_wall,
            "cpu_overhead": record_cpu / compute, "wall_overhead_vs_chunk_cpu": record_wall / compute}


def journal_overhead(runs: int, rounds: int, chunk_size: int) -> dict[str, object]:
    """CPU and wall time of ``sim.run`` with and without a journal, in interleaved rounds."""
    from sim import load_scenario, run

    scenario = load_scenario(SCENARIO)
    run(scenario, runs=min(runs, 200), seed=0, progress=False)  # warm-up: imports, caches
    times: dict[str, list[tuple[float, float]]] = {"plain": [], "journal": []}
    loads = []
    for r in range(rounds):
        order = ["plain", "journal"] if r % 2 == 0 else ["journal", "plain"]
        before = os.getloadavg()[0]
        for kind in order:
            with tempfile.TemporaryDirectory() as tmp:
                journal = Path(tmp) / "journal" if kind == "journal" else None
                cpu, wall = time.process_time(), time.perf_counter()
                run(scenario, runs=runs, seed=r, chunk_size=chunk_size, progress=False, journal=journal)
                times[kind].append((time.process_time() - cpu, time.perf_counter() - wall))
        loads.append((before, os.getloadavg()[0]))
    ratio_cpu = [j[0] / p[0] for p, j in zip(times["plain"], times["journal"], strict=True)]
    ratio_wall = [j[1] / p[1] for p, j in zip(times["plain"], times["journal"], strict=True)]
    return {"runs": runs, "chunk_size": chunk_size, "rounds": times, "load": loads,
            "cpu_ratio_median": statistics.median(ratio_cpu), "cpu_ratio_range": [min(ratio_cpu), max(ratio_cpu)],
            "wall_ratio_median": statistics.median(ratio_wall), "wall_ratio_range": [min(ratio_wall), max(ratio_wall)]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, nargs="+", default=[10_000, 100_000], help="batch sizes for peak RSS")
    parser.add_argument("--workers", type=int, default=1, help="worker processes of each peak-RSS run (default 1)")
    parser.add_argument("--tree", type=Path, action="append", default=[],
                        help="also measure this checkout's sim/ at the smallest size (repeatable)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of the journal comparison")
    parser.add_argument("--journal-runs", type=int, default=2000, help="replications per journal round")
    parser.add_argument("--skip-rss", action="store_true", help="skip the peak RSS runs")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    report: dict[str, object] = {"python": sys.version.split()[0], "cpus": os.cpu_count()}
    sent = bytes_sent()
    report["bytes_per_replication"] = sent
    print("bytes per replication sent back:", {k: round(v) for k, v in sent.items()})
    cost = journal_record_cost()
    report["journal_record"] = cost
    print("journal, one chunk:", {k: round(v, 5) for k, v in cost.items()})
    overhead = journal_overhead(args.journal_runs, args.rounds, 250)
    report["journal"] = overhead
    print(f"journal: CPU ratio {overhead['cpu_ratio_median']:.3f} (range {overhead['cpu_ratio_range']}), "
          f"wall ratio {overhead['wall_ratio_median']:.3f}, load {overhead['load']}")
    rss = []
    if not args.skip_rss:
        for tree in args.tree:
            rss.append(peak_rss(min(args.runs), tree, workers=args.workers))
            print(rss[-1], flush=True)
        for runs in args.runs:
            rss.append(peak_rss(runs, REPO, workers=args.workers))
            print(rss[-1], flush=True)
    report["peak_rss"] = rss
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"written {args.out}")


if __name__ == "__main__":
    main()
