"""The one walk over the scenario schema: keys, types and values, for instances and plain data alike."""

from __future__ import annotations

from pathlib import Path

from sim import load_scenario
from sim.analysis.compare import config_diff
from sim.analysis.sensitivity import scenario_distributions
from sim.scenario.distributions import DIST_KINDS
from sim.scenario.schema import BaseStage, Pledge, Scenario
from sim.scenario.walk import annotation_at, is_distribution, keys_of, leaves, section_models

BASELINE = Path(__file__).resolve().parents[1] / "scenarios" / "baseline.toml"


def test_leaves_of_a_scenario_and_of_its_plain_data_agree() -> None:
    scenario = load_scenario(BASELINE)
    keys = [leaf.key for leaf in leaves(scenario)]
    assert keys == [leaf.key for leaf in leaves(scenario.model_dump(mode="json", by_alias=True))]
    assert keys[:4] == ["name", "description", "start_date", "horizon_days"]
    assert "funding.pledges.canada.tranche_lag_days" in keys and "base.stages.1.cost_usd" in keys
    assert "gates.equipment.after" in keys, "a list of plain values is one leaf"
    assert len(keys) == len(set(keys))


def test_a_missing_section_is_one_leaf() -> None:
    data = load_scenario(BASELINE).model_dump(mode="json", by_alias=True)
    data["mandate"] = None
    mandate = [leaf for leaf in leaves(data) if leaf.path[0] == "mandate"]
    assert [(leaf.key, leaf.value) for leaf in mandate] == [("mandate", None)]


def test_distributions_are_leaves_and_sensitivity_reads_them_from_the_walk() -> None:
    scenario = load_scenario(BASELINE)
    dists = {leaf.key: leaf.value for leaf in leaves(scenario) if is_distribution(leaf.annotation)}
    assert dists == scenario_distributions(scenario)
    assert all(isinstance(d, DIST_KINDS) for d in dists.values())


def test_types_and_keys_along_a_path() -> None:
    raw = {"funding": {"pledges": {"canada": {}}}, "base": {"stages": [{}]}}
    assert annotation_at(["funding", "pledges", "canada"], raw)[0] is Pledge
    assert annotation_at(["base", "stages", "0"], raw)[0] is BaseStage
    assert is_distribution(annotation_at(["governance", "hold_days"], raw)[0])
    assert annotation_at(["governance", "nowhere", "x"], raw) == (None, None)
    assert keys_of(Pledge) >= {"amount_usd", "tranche_lag_days"}
    assert keys_of(annotation_at(["funding", "pledges"], raw)[0]) is None, "any donor name goes"


def test_section_models_reach_every_table() -> None:
    names = {model.__name__ for model in section_models(Scenario)}
    assert {"Scenario", "Pledge", "BaseStage", "Airport", "LogNormal", "Bernoulli"} <= names


def test_config_diff_names_list_entries_by_index() -> None:
    scenario = load_scenario(BASELINE)
    other = load_scenario(BASELINE, ["base.initial_capacity_officers=7", 'name="other"'])
    assert config_diff(scenario, other)["key"].tolist() == ["base.initial_capacity_officers"]

