"""Regenerate the golden replications table. Run deliberately, after a change that should move it:

    .venv/bin/python tests/golden/regenerate.py

then review the diff (git diff tests/golden) and say in the commit why the numbers moved.
"""

from __future__ import annotations

from pathlib import Path

from sim import load_scenario, run

HERE = Path(__file__).resolve().parent
SCENARIO = HERE.parents[1] / "scenarios" / "baseline.toml"
GOLDEN = HERE / "baseline_seed1_runs25.csv"
RUNS, SEED = 25, 1


def golden_table():
    """The table the golden file holds: the baseline's replications for a fixed seed."""
    return run(load_scenario(SCENARIO), runs=RUNS, seed=SEED).replications


if __name__ == "__main__":
    golden_table().to_csv(GOLDEN, index=False, float_format="%.10g")
    print(f"wrote {GOLDEN}")
