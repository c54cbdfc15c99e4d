"""The long tables' repeated labels are Categoricals, of the same categories however the batch was gathered."""

from __future__ import annotations

import pandas as pd

from sim import load_scenario, run
from sim.batch.results import LABEL_COLUMNS, compact_labels
from sim.batch.shards import merge_results
from sim.batch.store import load_results, save_results
from sim.scenario.milestones import MILESTONES


def _labels(res) -> dict[str, pd.CategoricalDtype]:
    return {f"{t}.{c}": getattr(res, t)[c].dtype for t in ("delays", "strength")
            for c in LABEL_COLUMNS if c in getattr(res, t)}


def test_labels_are_categoricals_that_survive_chunks_merge_and_store(tmp_path) -> None:
    scenario = load_scenario("baseline")
    whole = run(scenario, runs=30, seed=3, progress=False)
    dtypes = _labels(whole)
    assert set(dtypes) == {"delays.milestone", "delays.cause", "strength.contributor"}
    assert all(isinstance(d, pd.CategoricalDtype) for d in dtypes.values())
    assert list(whole.delays["milestone"].cat.categories) == list(MILESTONES)
    assert list(whole.strength["contributor"].cat.categories)[0] == "all"
    causes = list(whole.delays["cause"].cat.categories)
    assert causes == sorted(set(whole.delays["cause"].astype(str)))  # only labels some run holds
    chunked = run(scenario, runs=30, seed=3, progress=False, chunk_size=7)
    slices = [run(scenario, seed=3, progress=False, replications=r) for r in (range(0, 11), range(11, 30))]
    merged = merge_results(slices)
    back = load_results(save_results(whole, tmp_path / "run"))
    for other in (chunked, merged, back):
        for table in ("replications", "delays", "strength"):
            pd.testing.assert_frame_equal(getattr(whole, table), getattr(other, table))


def test_compact_labels_turns_stored_strings_into_the_same_categoricals() -> None:
    res = run(load_scenario("baseline"), runs=10, seed=1, progress=False)
    as_strings = res.delays.astype({"milestone": "string", "cause": "string"})
    pd.testing.assert_frame_equal(compact_labels(as_strings), res.delays)
