"""Checks of the speed work of issue 14: faster code paths give the numbers of the plain ones, and the
donor response without a process still makes pledges at the rate of the regime the mission is in."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from sim import simulate
from sim.batch.results import BAND_QUANTILES, quantiles_by_column
from sim.batch.runner import _fill_daily, _fill_daily_all
from tests.test_channels import CONFERENCE, HORIZON, START, deterministic
from tests.test_dynamics import assert_mean_within


@pytest.mark.parametrize("rows", [1, 2, 3, 10, 999, 1000])
def test_quantiles_by_column_are_numpys(rows: int) -> None:
    rng = np.random.default_rng(rows)
    for values in (rng.integers(0, 4, (rows, 40)).astype(float), rng.normal(size=(rows, 40)) * 1e6,
                   np.zeros((rows, 3))):
        assert np.array_equal(quantiles_by_column(values, BAND_QUANTILES), np.quantile(values, BAND_QUANTILES, axis=0))
    values = rng.random((rows, 4))
    values[0, 1] = np.nan
    assert np.array_equal(quantiles_by_column(values, BAND_QUANTILES), np.quantile(values, BAND_QUANTILES, axis=0),
                          equal_nan=True)


def test_fill_daily_is_the_records_daily_series() -> None:
    """Changes on whole and fractional days, several on one day, one at the horizon, a late first value."""
    horizon = 20
    grid = np.arange(1, horizon + 2, dtype=float)
    cases = [
        ([0.0], [5.0]),
        ([0.0, 3.0, 3.5, 3.5, 7.25, 20.0], [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]),
        ([0.0, 0.5, 19.999], [1.0, 2.0, 3.0]),
        ([2.0, 4.0], [1.0, 2.0]),
    ]
    for days, values in cases:
        d, v = np.array(days), np.array(values)
        idx = np.searchsorted(d, grid, side="left") - 1
        expected = np.where(idx >= 0, v[np.clip(idx, 0, None)], np.nan)
        out = np.empty(horizon + 1)
        _fill_daily(out, d, v, grid)
        np.testing.assert_array_equal(out, expected)
    # All of a replication's series at once: the same rows, with or without a series starting late.
    series = [(np.array(d), np.array(v)) for d, v in cases]
    for chosen in (series[:3], series, series[::-1], series[1:2]):
        together = np.empty((len(chosen), horizon + 1))
        _fill_daily_all(together, chosen, grid)
        for row, (d, v) in zip(together, chosen, strict=True):
            alone = np.empty(horizon + 1)
            _fill_daily(alone, d, v, grid)
            np.testing.assert_array_equal(row, alone)


def _short_share(record, short_runway_days: float) -> tuple[float, float]:
    """Days the mission was short of money (arrears, or less than the runway at today's strength) and not,
    from the record's series: the deterministic scenario has no fixed costs and 10 a day per officer."""
    balance_days, balance = record.series["fund_balance_usd"]
    strength_days, strength = record.series["in_theatre"]
    changes = np.unique(np.concatenate((balance_days, strength_days, [HORIZON])))
    short = calm = 0.0
    for start, end in zip(changes[:-1], changes[1:], strict=True):
        b = balance[np.searchsorted(balance_days, start, side="right") - 1]
        n = strength[np.searchsorted(strength_days, start, side="right") - 1]
        if b < short_runway_days * 10.0 * n:
            short += end - start
        else:
            calm += end - start
    return short, calm


def test_pledges_follow_the_regime_as_it_flips() -> None:
    """The fund runs short as bills eat it, a donor's payment ends the shortage, bills bring it back: the
    pledges made (a Poisson count) average the base rate over the calm days plus four times it over the
    short ones. The response money goes to a channel nothing draws on, so the regime's path is fixed."""
    response = {"base_pledges_per_year": 6.0, "shortfall_multiplier": 4.0, "short_runway_days": 30,
                "amount_usd": 1e6, "lag_days": 30, "channel": "conference"}
    scenario = deterministic(**{
        "funding.donor_response": response, "funding.channels": CONFERENCE,
        "funding.initial_balance_usd": 3e6,
        "funding.pledges": {"donor": {"amount_usd": 2e6, "pledged_on": START + dt.timedelta(days=400),
                                      "tranche_lag_days": 0}},
    })
    short, calm = _short_share(simulate(scenario, seed=1), 30)
    assert short > 100 and calm > 100, (short, calm)  # both regimes last, and the regime flips back
    counts = np.array([simulate(scenario, seed=9, replication=k).totals["response_pledges"] for k in range(400)])
    assert_mean_within(counts, 6.0 / 365.0 * (calm + 4.0 * short))


# -- lean resources ------------------------------------------------------------------------------


def _workload(env, kind: str, resource, rng: np.random.Generator, log: list) -> None:
    """Processes that use one resource the way the model does, at random times, logging what happens when."""

    def seats_user(i: int, amount: int):
        yield env.timeout(float(rng.integers(0, 5)))
        yield resource.get(amount)
        log.append((env.now, "got", i))
        yield env.timeout(float(rng.integers(0, 4)))
        yield resource.put(amount)
        log.append((env.now, "gave back", i))

    def producer(i: int):
        yield env.timeout(float(rng.integers(0, 6)))
        yield resource.put(i)
        log.append((env.now, "put", i))

    def consumer(n: int):
        for _ in range(n):
            get = resource.get()
            log.append((env.now, "ready at once" if get.triggered else "waits"))
            item = yield get
            log.append((env.now, "took", item))
            yield env.timeout(float(rng.integers(0, 3)))

    def flyer(i: int):
        yield env.timeout(float(rng.integers(0, 5)))
        request = resource.request()
        if request.triggered:
            log.append((env.now, "granted at once", i))
        else:
            yield request
        log.append((env.now, "flies", i))
        done = env.timeout(float(rng.integers(0, 3)))
        done.callbacks.append(lambda _: resource.release(request))

    if kind == "seats":
        for i in range(12):
            env.process(seats_user(i, int(rng.integers(1, 4))))
    elif kind == "queue":
        for i in range(10):
            env.process(producer(i))
        env.process(consumer(10))
    else:
        for i in range(10):
            env.process(flyer(i))


@pytest.mark.parametrize("kind", ["seats", "queue", "slot"])
def test_lean_resources_schedule_what_simpy_does(kind: str) -> None:
    """Same workload, SimPy's resource or ours: the same steps at the same instants in the same order.

    The one difference allowed: the aircraft grants a request it can serve at once without scheduling
    an event (nobody waits for it), so SimPy processes one more step per such grant, and nothing else
    differs."""
    import simpy

    from sim.model.resources import ReadyQueue, Seats, Slot

    def trace(lean: bool, seed: int) -> list:
        env = simpy.Environment()
        if kind == "seats":
            resource = Seats(env, 4) if lean else simpy.Container(env, init=4, capacity=4)
        elif kind == "queue":
            resource = ReadyQueue(env) if lean else simpy.Store(env)
        else:
            resource = Slot(env) if lean else simpy.Resource(env, capacity=1)
        log: list = []
        _workload(env, kind, resource, np.random.default_rng(seed), log)
        steps = 0
        while env.peek() < float("inf"):
            env.step()
            steps += 1
            log.append(("step", env.now))
        return [*log, ("steps", steps)]

    def without_steps(log: list) -> list:
        return [entry for entry in log if entry[0] not in ("step", "steps")]

    for seed in range(30):
        lean, plain = trace(True, seed), trace(False, seed)
        if kind != "slot":
            assert lean == plain
            continue
        at_once = sum(1 for entry in plain if entry[1:2] == ("granted at once",))
        assert at_once > 0
        assert without_steps(lean) == without_steps(plain)
        assert lean[-1][1] == plain[-1][1] - at_once
