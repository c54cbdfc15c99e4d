"""Stop at a precision: fixed-size rounds until each named statistic's 95% interval is narrow enough."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from sim import load_scenario, run
from sim.batch.precision import (
    PrecisionTarget,
    estimate,
    order_statistic_interval,
    parse_precision,
    run_to_precision,
)
from sim.batch.store import load_results
from sim.commands.main import main
from sim.model.mission import Mission

SHORT = ["horizon_days=200"]


@pytest.fixture(scope="module")
def short():
    return load_scenario("baseline", SHORT)


def test_the_order_statistic_interval_on_a_known_sample() -> None:
    values = np.arange(1.0, 101.0)  # 1..100
    # n q -+ 1.96 sqrt(n q (1 - q)) = 50 -+ 9.8: ranks 40 and 60, values 40 and 60.
    point, half = order_statistic_interval(values, 0.5)
    assert point == 50.0 and half == pytest.approx(10.0)
    censored = np.concatenate([np.arange(1.0, 56.0), np.full(45, np.inf)])
    assert order_statistic_interval(censored, 0.5)[1] == np.inf  # the upper rank is not reached
    assert order_statistic_interval(np.arange(1.0, 6.0), 0.5)[1] == np.inf  # too few for a 95% interval


def test_the_order_statistic_interval_covers_the_quantile_95_percent_of_the_time() -> None:
    rng = np.random.default_rng(1)
    trials, n, q = 2000, 150, 0.9
    true = -np.log(1 - q)  # the exponential distribution's quantile
    covered = 0
    for _ in range(trials):
        x = np.sort(rng.exponential(size=n))
        spread = 1.959963984540054 * np.sqrt(n * q * (1 - q))
        lo, hi = int(np.floor(n * q - spread)), int(np.ceil(n * q + spread))
        covered += x[lo - 1] <= true <= x[hi - 1]
        assert order_statistic_interval(x, q)[1] == pytest.approx((x[hi - 1] - x[lo - 1]) / 2)
    share = covered / trials
    se = np.sqrt(0.95 * 0.05 / trials)
    # Rounding the ranks outwards makes the interval a little conservative, never less than 95%.
    assert 0.95 - 3 * se <= share <= 0.99


def test_parse_precision() -> None:
    assert parse_precision(["first_arrival.p50=2d", "lead_100pct.share=0.01", "spent_usd.mean=1e6"],
                           ["spent_usd"]) == [PrecisionTarget("first_arrival", "p50", 2.0),
                                              PrecisionTarget("lead_100pct", "share", 0.01),
                                              PrecisionTarget("spent_usd", "mean", 1e6)]
    for bad, words in [("first_arrival=2", "NAME.STAT=TARGET"), ("nowhere.p50=2", "neither a milestone"),
                       ("first_arrival.p50=0", "above 0"), ("spent_usd.share=0.1", "applies to milestones"),
                       ("first_arrival.mean=3", "undefined"), ("spent_usd.p50=3d", "unit d"),
                       ("first_arrival.share=0.6", "below 0.5")]:
        with pytest.raises(ValueError, match=words):
            parse_precision([bad], ["spent_usd"])


def test_rounds_stop_at_the_first_that_meets_every_target(short, monkeypatch) -> None:
    calls = []
    real = Mission.run

    def counted(self):
        calls.append(self.replication)
        return real(self)

    monkeypatch.setattr(Mission, "run", counted)
    targets = parse_precision(["first_arrival.share=0.08", "recon_done.p50=15d"])
    res = run_to_precision(short, targets, round_runs=20, max_runs=400, seed=3, progress=False)
    p = res.precision
    n = p["runs"]
    assert p["met"] and n == 20 * p["rounds"] and n < 400
    assert sorted(calls) == list(range(n))  # each replication ran once, over all rounds
    for t in targets:
        assert p["targets"][t.label]["half_width"] <= t.target
    # The round before did not meet them all; the tables are those of one batch of n runs.
    plain = run(short, runs=n, seed=3, progress=False)
    pd.testing.assert_frame_equal(res.replications, plain.replications)
    pd.testing.assert_frame_equal(res.bands, plain.bands)
    if n > 20:
        before = run(short, runs=n - 20, seed=3, progress=False)
        assert any(estimate(before, t)[1] > t.target for t in targets)
    # The same command gives the same rounds.
    again = run_to_precision(short, targets, round_runs=20, max_runs=400, seed=3, progress=False)
    assert again.precision == p


def test_an_unreachable_target_stops_at_max_runs(short) -> None:
    res = run_to_precision(short, parse_precision(["first_arrival.share=0.001"]), round_runs=10, max_runs=25,
                           seed=1, progress=False)
    assert res.precision["runs"] == 25 and res.precision["rounds"] == 3 and not res.precision["met"]
    assert len(res.replications) == 25


def test_rounds_spilled_to_files_give_the_same_batch_and_keep_only_the_last_round(short, tmp_path) -> None:
    targets = parse_precision(["first_arrival.share=0.1"])
    held = run_to_precision(short, targets, round_runs=15, max_runs=60, seed=4, progress=False)
    spilled = run_to_precision(short, targets, round_runs=15, max_runs=60, seed=4, progress=False,
                               spill=tmp_path / "p")
    assert spilled.precision == held.precision and held.precision["rounds"] > 1
    rounds = held.precision["rounds"]
    # The chunks kept between rounds and every round's tables but the last are gone.
    assert [p.name for p in (tmp_path / "p").iterdir()] == [f"round-{rounds}"]
    assert spilled.spill.folder == tmp_path / "p" / f"round-{rounds}" and spilled.is_spilled("replications")
    for name in ("summary", "strength_summary", "delay_summary"):
        pd.testing.assert_frame_equal(getattr(held, name)(), getattr(spilled, name)(), obj=name)
    for table in ("replications", "delays", "strength"):
        pd.testing.assert_frame_equal(getattr(held, table), getattr(spilled, table), obj=table)
    # With spill=True, every file is temporary: none is left once the batch is gone.
    temporary = run_to_precision(short, targets, round_runs=15, max_runs=60, seed=4, progress=False, spill=True)
    folder = temporary.spill.folder
    assert folder.is_dir() and temporary.precision == held.precision
    del temporary
    import gc

    gc.collect()
    assert not folder.exists()


def test_the_command_line_runs_to_a_precision_and_stores_it(tmp_path, capsys) -> None:
    out = tmp_path / "run"
    code = main(["run", "baseline", "--set", SHORT[0], "--runs", "20", "--max-runs", "60", "--precision",
                 "first_arrival.share=0.12", "--out", str(out), "--quiet", "--no-plots"])
    printed = capsys.readouterr().out
    assert code == 0
    assert "Precision reached after" in printed or "Precision NOT reached after" in printed
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["precision"]["targets"]["first_arrival.share"]["target"] == 0.12
    assert manifest["runs"] == manifest["precision"]["runs"]
    assert load_results(out).precision == manifest["precision"]
    assert [p.name for p in tmp_path.iterdir()] == ["run"]  # the rounds' files went with the run
    assert main(["run", "baseline", "--runs", "20", "--max-runs", "60", "--out", str(tmp_path / "x")]) == 2
    assert "--max-runs goes with --precision" in capsys.readouterr().err
    assert main(["run", "baseline", "--precision", "first_arrival.p50=0", "--out", str(tmp_path / "x")]) == 2
    assert not (tmp_path / "x").exists()
