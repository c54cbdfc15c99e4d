"""Compare two benchmark files written by ``bench/bench_replication.py``: ``compare.py OLD NEW``.

For every phase in both files it prints the old and new medians of CPU µs per event, replications per
CPU second and the ratio to bare SimPy, the change (new over old) and whether the two files' ranges
over their rounds overlap (if they do, the change is within the noise of the machine). Each ratio
to bare SimPy was measured against SimPy in its own run, so it is the figure that survives a change
of machine or load; CPU seconds are comparable only on the same machine.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

FIGURES = (
    ("cpu_us_per_event", "CPU us/event", ".2f", False),
    ("replications_per_cpu_s", "reps/CPU s", ",.0f", True),
    ("ratio_to_bare_simpy", "ratio to bare SimPy", ".3f", True),
    ("replication_cost_in_bare_events", "rep cost in bare events", ",.0f", False),
)


def load(path: Path) -> dict:
    """A benchmark file's contents."""
    return json.loads(path.read_text())


def _describe(result: dict) -> str:
    m, c = result["machine"], result["config"]
    loads = [r["load_before"][0] for r in result["rounds"] if r.get("load_before")]
    load = f", load {min(loads):.2f}-{max(loads):.2f}" if loads else ""
    return (f"commit {str(m.get('git_commit'))[:10]}{' (dirty)' if m.get('git_dirty') else ''},"
            f" {c['rounds']} rounds, {result['started_utc']}{load}")


def compare(old: dict, new: dict) -> str:
    """The comparison table of two benchmark results."""
    lines = [f"old: {_describe(old)}", f"new: {_describe(new)}", ""]
    head = ("phase", "figure", "old", "new", "new/old", "ranges")
    rows = []
    for key, label, fmt, _higher_better in [("events_per_cpu_s", "bare events/CPU s", ",.0f", True)]:
        o, n = old["figures"]["bare_simpy"][key], new["figures"]["bare_simpy"][key]
        rows.append(("bare_simpy", label, f"{o['median']:{fmt}}", f"{n['median']:{fmt}}",
                     f"{n['median'] / o['median']:.2f}x", _overlap(o, n)))
    for phase, fig in new["figures"].items():
        if phase == "bare_simpy" or phase not in old["figures"]:
            continue
        before = old["figures"][phase]
        rows.append((phase, "events/rep", f"{before['events_per_replication']:.1f}",
                     f"{fig['events_per_replication']:.1f}",
                     f"{fig['events_per_replication'] / before['events_per_replication']:.2f}x", ""))
        for key, label, fmt, _higher_better in FIGURES:
            if key not in before or key not in fig:
                continue
            o, n = before[key], fig[key]
            rows.append((phase, label, f"{o['median']:{fmt}}", f"{n['median']:{fmt}}",
                         f"{n['median'] / o['median']:.2f}x", _overlap(o, n)))
    widths = [max(len(str(x)) for x in col) for col in zip(head, *rows, strict=True)]
    lines.append("  ".join(h.ljust(w) for h, w in zip(head, widths, strict=True)))
    lines += ["  ".join(str(x).ljust(w) for x, w in zip(row, widths, strict=True)) for row in rows]
    missing = sorted(set(old["figures"]) ^ set(new["figures"]))
    if missing:
        lines += ["", f"in one file only: {', '.join(missing)}"]
    return "\n".join(lines)


def _overlap(old: dict, new: dict) -> str:
    return "overlap (noise)" if old["min"] <= new["max"] and new["min"] <= old["max"] else "apart"


def main(argv: list[str] | None = None) -> None:
    """Print the comparison of two benchmark files."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("old", type=Path, help="the earlier benchmark JSON")
    parser.add_argument("new", type=Path, help="the later benchmark JSON")
    args = parser.parse_args(argv)
    print(compare(load(args.old), load(args.new)))


if __name__ == "__main__":
    main()
