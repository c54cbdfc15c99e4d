"""Regenerate the golden replications table. Run deliberately, after a change that should move it:

    .venv/bin/python tests/golden/regenerate.py

then review the diff (git diff tests/golden) and say in the commit why the numbers moved.
"""

from __future__ import annotations

from pathlib import Path

from sim import load_scenario, run
from sim.scenario.loader import scenario_from_dict
from sim.scenario.schema import Scenario

HERE = Path(__file__).resolve().parent
SCENARIO = HERE.parents[1] / "scenarios" / "baseline.toml"
GOLDEN = HERE / "baseline_seed1_runs25.csv"
RUNS, SEED = 25, 1


def mechanisms_off() -> Scenario:
    """The baseline with the mechanisms of issue 11 it uses switched off, as it was before them: no
    pledging process, and Kenya's one cliff (withdrawal after 180 days of unbroken arrears) instead of
    the graded response. With every new mechanism off the table must not move."""
    data = load_scenario(SCENARIO).model_dump(mode="python", by_alias=True, exclude_none=True)
    data["funding"].pop("donor_response", None)
    data["force"].pop("arrears_response", None)
    data["force"]["withdraw_after_arrears_days"] = 180.0
    return scenario_from_dict(data, source="baseline with the new mechanisms off")


def golden_table():
    """The table the golden file holds: the baseline's replications (mechanisms off) for a fixed seed."""
    return run(mechanisms_off(), runs=RUNS, seed=SEED, progress=False).replications


if __name__ == "__main__":
    golden_table().to_csv(GOLDEN, index=False, float_format="%.10g")
    print(f"wrote {GOLDEN}")
