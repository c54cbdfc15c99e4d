"""Calibration: fit chosen uncertain inputs of a scenario to what happened, by approximate Bayesian computation.

Takes a scenario, an observations file (:mod:`sim.scenario.observations`) and the dotted keys of some of its
distributions, and returns :class:`Calibration`: weighted samples of those inputs' posterior given the
observations up to a date, with the evidence of how it was found. Only the CLI (:mod:`sim.commands.calibrate`)
writes files; the figure and the calibrated scenario file are in :mod:`sim.output.calibrate`.

The method (ABC rejection with importance weights, then a few rounds of ABC-SMC; numpy and scipy only):

- **Prior**: each key's own distribution in the scenario. A parameter set is a point ``u`` of the unit cube,
  the inputs' values are ``dist.quantile(u_k)``, so the prior is uniform on the cube whatever the
  distributions, and a perturbation kernel works the same for every kind.
- **Simulation**: each draw runs a small batch (``runs_per_draw`` replications) with its values pinned as
  fixed values. Every draw uses the same seed, so replication ``k`` shares its random numbers with
  replication ``k`` of every other draw (common random numbers: a pinned value uses the same uniform draw as
  the distribution it replaces); differences between draws come from the parameters, not from the noise.
- **Distance** of one replication: the mean over the observations used of a normalised discrepancy. A milestone
  reached on day ``y``: ``|sim day - y| / scale`` (a replication that never reaches it counts as day
  ``horizon + 1``). A milestone not reached by day ``d`` (censored): 0 if the replication reaches it after ``d``
  or never, else ``(d + 1 - sim day) / scale``. A strength figure (or range): the distance from the simulated
  officers in theatre to the figure (0 inside a range) divided by the contributor's pledge (all pledges for
  ``"all"``). A milestone's ``scale`` is the median absolute deviation of its simulated day over the first
  round's draws (the prior predictive), at least :data:`MIN_SCALE_DAYS`. Money and events are not used.
  Observations dated after ``until`` are left out; a milestone reached after ``until`` counts as not reached
  by ``until``.
- **Acceptance**: the threshold ``eps`` is the ``accept`` quantile of all replications' distances in the round
  (never above the previous round's). A draw's weight is the share of its replications within ``eps`` (an
  unbiased estimate of the ABC likelihood) times prior density over proposal density; draws of weight 0
  are rejected.
- **SMC rounds**: each further round draws ``draws`` new points from the previous posterior, each moved by a
  Gaussian kernel truncated to the cube with twice the posterior's weighted variance per coordinate
  (Beaumont et al. 2009), and weights them by ``1 / proposal density`` (the prior density is 1).

ESS is ``(sum w)**2 / sum w**2`` of the final weights. With the same replications in every draw, the posterior
is conditional on those ``runs_per_draw`` random worlds: more replications per draw average more of them.
"""

from __future__ import annotations

import datetime as dt
import difflib
import math
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from sim.analysis.backtest import strength_series
from sim.analysis.sensitivity import scenario_distributions
from sim.analysis.sweep import derive_values, resolve_workers
from sim.batch.defaults import (
    DEFAULT_CALIBRATION_ACCEPT,
    DEFAULT_CALIBRATION_DRAWS,
    DEFAULT_CALIBRATION_ROUNDS,
    DEFAULT_CALIBRATION_RUNS_PER_DRAW,
    DEFAULT_SEED,
)
from sim.batch.progress import Progress, progress_callback
from sim.model import simulate
from sim.model.record import Record
from sim.scenario.distributions import Empirical, Fixed
from sim.scenario.errors import Problem, ScenarioError
from sim.scenario.observations import Observations
from sim.scenario.schema import Scenario
from sim.scenario.walk import annotation_at

#: Smallest scale of a milestone's discrepancy, in days: a judgement that being a week off counts as one unit at
#: most, so a milestone the prior predictive almost never varies (say never reached) cannot dominate the distance.
MIN_SCALE_DAYS = 7.0
#: Defaults of :func:`calibrate` (kept in :mod:`sim.batch.defaults` for the command line's help).
DEFAULT_DRAWS = DEFAULT_CALIBRATION_DRAWS
DEFAULT_RUNS_PER_DRAW = DEFAULT_CALIBRATION_RUNS_PER_DRAW
DEFAULT_ACCEPT = DEFAULT_CALIBRATION_ACCEPT
DEFAULT_ROUNDS = DEFAULT_CALIBRATION_ROUNDS
#: Tag of the calibration's own random numbers (draws, resampling, kernel moves), kept apart from the model's.
RNG_TAG = 0xCA1B
#: Quantiles of the intervals reported (a central 90% interval).
INTERVAL = (0.05, 0.95)


class CalibrationError(ValueError):
    """A calibration that cannot be run as asked (no observation before the date, too few accepted draws)."""


@dataclass(frozen=True)
class Target:
    """One observation as the distance uses it.

    Attributes:
        kind: ``milestone`` (reached on ``day``), ``not_reached`` (not by ``day``) or ``strength``.
        name: The milestone, or the contributor (``all`` for the mission).
        day: Day after the start date of the observation.
        low: The observed day, or the lowest officers figure.
        high: The observed day, or the highest officers figure.
        scale: What a discrepancy is divided by (days, or officers pledged).
    """

    kind: str
    name: str
    day: int
    low: float
    high: float
    scale: float = 1.0


@dataclass(frozen=True)
class Calibration:
    """The result of :func:`calibrate`.

    Attributes:
        scenario: The scenario calibrated (its distributions are the priors).
        params: The calibrated dotted keys, in the order asked.
        priors: Each key's prior distribution.
        observations: The observations.
        until: The last date of the observations used.
        targets: The observations used, with their scales.
        posterior: One row per accepted draw of the last round: ``round``, each key's value, ``u_<k>`` (its
            point in the unit cube, by key index), ``distance`` (mean over its replications), ``weight``
            (normalised to sum to 1).
        draws: Every draw of every round: ``round``, the values, ``u_<k>``, ``distance`` (mean over its
            replications), ``within`` (share of its replications within the round's threshold), ``accepted``.
        distances: Each round's replication distances, shape (draws, runs_per_draw): what the threshold cuts.
        ess: Effective sample size of the posterior weights.
        threshold: The last round's acceptance threshold ``eps``.
        thresholds: Each round's threshold.
        simulations: Replications run in all.
        seed: The seed of every batch.
        runs_per_draw: Replications per draw.
        accept: The acceptance quantile.
    """

    scenario: Scenario
    params: tuple[str, ...]
    priors: dict[str, Any]
    observations: Observations
    until: dt.date
    targets: tuple[Target, ...]
    posterior: pd.DataFrame
    draws: pd.DataFrame
    ess: float
    threshold: float
    thresholds: tuple[float, ...]
    simulations: int
    seed: int
    runs_per_draw: int
    accept: float
    distances: tuple[np.ndarray, ...] = field(default=(), compare=False)

    def values(self, key: str) -> np.ndarray:
        """The posterior samples of one key."""
        return self.posterior[key].to_numpy(dtype=float)

    @property
    def weights(self) -> np.ndarray:
        """The posterior weights (sum 1)."""
        return self.posterior["weight"].to_numpy(dtype=float)

    def summary(self) -> pd.DataFrame:
        """Per key: prior mean and 90% interval (from the distribution), posterior weighted mean and interval.

        Columns: ``param, prior_mean, prior_p05, prior_p95, posterior_mean, posterior_p05, posterior_p95``.
        """
        rows = []
        for key in self.params:
            prior = self.priors[key]
            values, weights = self.values(key), self.weights
            low, high = (weighted_quantile(values, weights, q) for q in INTERVAL)
            rows.append({"param": key, "prior_mean": prior.mean(), "prior_p05": prior.quantile(INTERVAL[0]),
                         "prior_p95": prior.quantile(INTERVAL[1]),
                         "posterior_mean": float(np.dot(values, weights)), "posterior_p05": low,
                         "posterior_p95": high})
        return pd.DataFrame(rows)

    def empirical(self, key: str, digits: int = 6) -> Empirical:
        """The posterior of one key as an ``empirical`` distribution: the accepted values and their weights."""
        values = [float(f"{v:.{digits}g}") for v in self.values(key)]
        weights = [float(f"{w:.{digits}g}") for w in self.weights]
        return Empirical(dist="empirical", values=tuple(values), weights=tuple(weights))

    def calibrated_scenario(self) -> Scenario:
        """The scenario with each calibrated key's distribution replaced by its posterior (:meth:`empirical`)."""
        values = {key: self.empirical(key).model_dump(mode="python") for key in self.params}
        return derive_values(self.scenario, values, source="calibrate")


def weighted_quantile(values: np.ndarray, weights: np.ndarray, q: float) -> float:
    """The ``q`` quantile of weighted samples (inverted CDF: the smallest value whose cumulative weight is >= q)."""
    order = np.argsort(values, kind="stable")
    cdf = np.cumsum(weights[order]) / np.sum(weights)
    return float(values[order][min(int(np.searchsorted(cdf, q - 1e-12)), len(values) - 1)])


def effective_sample_size(weights: np.ndarray) -> float:
    """``(sum w)**2 / sum w**2``: how many equally weighted samples the weights are worth."""
    w = np.asarray(weights, dtype=float)
    return float(w.sum() ** 2 / np.sum(w**2)) if np.any(w > 0) else 0.0


def check_params(scenario: Scenario, params: Sequence[str]) -> list[str]:
    """The keys to calibrate, each once, each a distribution of the scenario that is not a fixed value.

    Raises:
        ScenarioError: One problem naming the first bad key: unknown (with a did-you-mean), not a distribution,
            or a fixed value (nothing to calibrate).
    """
    keys = list(dict.fromkeys(p.strip() for p in params if p.strip()))
    if not keys:
        raise ScenarioError([Problem("--params", "", "name at least one key to calibrate")])
    dists = scenario_distributions(scenario)
    for key in keys:
        dist = dists.get(key)
        if dist is None:
            annotation, value = annotation_at(key.split("."), scenario)
            if annotation is not None:
                raise ScenarioError([Problem("--params", key, f"not a distribution (the scenario has the value "
                                             f"{value!r} there); only an uncertain input can be calibrated")])
            uncertain = [k for k, d in dists.items() if not isinstance(d, Fixed)]
            close = difflib.get_close_matches(key, list(dists), n=1, cutoff=0.6)
            hint = f"did you mean '{close[0]}'?" if close else f"uncertain inputs: {', '.join(uncertain[:6])}..."
            raise ScenarioError([Problem("--params", key, f"unknown key; {hint}")])
        if isinstance(dist, Fixed):
            raise ScenarioError([Problem("--params", key, f"a fixed value ({dist.value:g}), not a distribution: "
                                         "give it a prior distribution (e.g. with --set) to calibrate it")])
    return keys


def targets_of(scenario: Scenario, observations: Observations, until: dt.date) -> list[Target]:
    """The observations the distance uses, up to ``until`` (scales of milestones still 1; see the module doc).

    Raises:
        CalibrationError: If the start dates differ, ``until`` is outside the forecast, or nothing is left.
    """
    if scenario.start_date != observations.start_date:
        raise CalibrationError(f"the scenario '{scenario.name}' starts on {scenario.start_date}, the observations "
                               f"'{observations.name}' on {observations.start_date}; calibrate with the same day 0")
    last = int(scenario.day_of(until))
    if not 0 <= last <= scenario.horizon_days:
        raise CalibrationError(f"until {until} is outside the scenario's days ({scenario.start_date} to "
                               f"{scenario.date_of(scenario.horizon_days)})")
    out: list[Target] = []
    for entry in observations.milestone:
        day = int(scenario.day_of(entry.date))
        out.append(Target("milestone", entry.name, day, day, day) if entry.date <= until
                   else Target("not_reached", entry.name, last, last, last))
    for censored in observations.not_reached:
        day = min(int(scenario.day_of(censored.by)), last)
        out.append(Target("not_reached", censored.name, day, day, day))
    pledges = {scenario.force.lead_contributor.lower(): scenario.force.pledged_officers,
               **{k.lower(): c.pledged_officers for k, c in scenario.contributors.items()}}
    for point in observations.strength:
        if point.date > until:
            continue
        who = point.contributor.lower()
        pledge = sum(pledges.values()) if who == "all" else pledges.get(who)
        if pledge is None:
            raise CalibrationError(f"the observations count officers of '{point.contributor}', a contributor the "
                                   f"scenario '{scenario.name}' does not have")
        low, high = point.bounds
        out.append(Target("strength", point.contributor, int(scenario.day_of(point.date)), low, high, float(pledge)))
    # A milestone both reached after until and listed as not reached: keep one censored row of it.
    unique = list(dict.fromkeys(out))
    if not unique:
        raise CalibrationError(f"the observations '{observations.name}' hold no milestone or strength up to {until}")
    return unique


def simulated(record: Record, scenario: Scenario, targets: Sequence[Target]) -> np.ndarray:
    """One replication's value of each target: a milestone's whole day (``horizon + 1`` if never reached) or
    officers in theatre at the end of the day (as :func:`sim.analysis.backtest.score` reads them)."""
    horizon = scenario.horizon_days
    out = np.empty(len(targets))
    for j, target in enumerate(targets):
        if target.kind == "strength":
            series = strength_series(scenario, target.name)
            assert series is not None
            out[j] = record.daily(series, horizon)[target.day]
        else:
            day = record.milestones.get(target.name, math.nan)
            out[j] = horizon + 1.0 if math.isnan(day) else math.floor(day)
    return out


def _simulate_points(task: tuple[Scenario, list[str], np.ndarray, int, int, list[Target]]) -> np.ndarray:
    """Worker: the target values of each point's replications, shape (points, runs_per_draw, targets)."""
    scenario, keys, points, seed, runs_per_draw, targets = task
    dists = scenario_distributions(scenario)
    out = np.empty((len(points), runs_per_draw, len(targets)))
    for i, u in enumerate(points):
        pinned = {key: {"dist": "fixed", "value": float(dists[key].quantile(float(u[k])))}
                  for k, key in enumerate(keys)}
        variant = derive_values(scenario, pinned, source="calibrate")
        for r in range(runs_per_draw):
            out[i, r] = simulated(simulate(variant, seed, r), variant, targets)
    return out


def discrepancies(values: np.ndarray, targets: Sequence[Target]) -> np.ndarray:
    """Normalised discrepancy of each simulated value (rows) from each target (columns); see the module doc."""
    out = np.empty_like(values, dtype=float)
    for j, target in enumerate(targets):
        v = values[..., j]
        if target.kind == "milestone":
            out[..., j] = np.abs(v - target.low) / target.scale
        elif target.kind == "not_reached":
            out[..., j] = np.where(v > target.day, 0.0, (target.day + 1 - v) / target.scale)
        else:
            out[..., j] = (np.maximum(target.low - v, 0.0) + np.maximum(v - target.high, 0.0)) / target.scale
    return out


def calibrate(
    scenario: Scenario,
    observations: Observations,
    params: Sequence[str],
    until: dt.date | None = None,
    draws: int = DEFAULT_DRAWS,
    runs_per_draw: int = DEFAULT_RUNS_PER_DRAW,
    seed: int = DEFAULT_SEED,
    accept: float = DEFAULT_ACCEPT,
    rounds: int = DEFAULT_ROUNDS,
    workers: int | None = 1,
    progress: Progress = False,
) -> Calibration:
    """Fit the distributions of ``params`` to the observations up to ``until`` (see the module doc for the method).

    Args:
        scenario: The scenario; each key's distribution in it is that key's prior.
        observations: What happened (same start date as the scenario).
        params: Dotted keys of uncertain inputs (``governance.viable_administration_days``).
        until: Last date of the observations used (default: their ``observed_until``).
        draws: Parameter draws per round.
        runs_per_draw: Replications per draw (all draws share the seed).
        seed: The seed of every batch.
        accept: Share of the round's replication distances at or below the threshold (0 to 1).
        rounds: SMC rounds after the first (0: rejection only).
        workers: Worker processes (see :func:`sim.batch.runner.run`).
        progress: True for a progress bar over all replications, or a function called with the count.

    Returns:
        The :class:`Calibration`; ``simulations`` is ``draws * runs_per_draw * (rounds + 1)``.

    Raises:
        ScenarioError: If a key is unknown, not a distribution, or a fixed value (see :func:`check_params`).
        CalibrationError: If the observations cannot be used (see :func:`targets_of`) or an argument is out of
            range.
        ValueError: If ``workers`` is negative.

    Example:
        >>> from sim import load_scenario
        >>> from sim.scenario.observations import observations_from_dict
        >>> s = load_scenario("baseline")
        >>> obs = observations_from_dict({"name": "x", "start_date": s.start_date, "milestone": [
        ...     {"name": "administration_viable", "date": dt.date(2024, 4, 25), "source": "s"}]})
        >>> fit = calibrate(s, obs, ["governance.viable_administration_days"], draws=20, runs_per_draw=1,
        ...                 rounds=0, seed=1)
        >>> fit.simulations, fit.params, bool(0 < fit.ess <= 20), round(float(fit.weights.sum()), 9)
        (20, ('governance.viable_administration_days',), True, 1.0)
        >>> list(fit.summary().columns)
        ['param', 'prior_mean', 'prior_p05', 'prior_p95', 'posterior_mean', 'posterior_p05', 'posterior_p95']
    """
    keys = check_params(scenario, params)
    if draws < 2 or runs_per_draw < 1 or rounds < 0 or not 0 < accept <= 1:
        raise CalibrationError(f"expected draws >= 2, runs_per_draw >= 1, rounds >= 0 and 0 < accept <= 1; got "
                               f"draws={draws}, runs_per_draw={runs_per_draw}, rounds={rounds}, accept={accept}")
    until = observations.until if until is None else until
    targets = targets_of(scenario, observations, until)
    dists = scenario_distributions(scenario)
    priors = {key: dists[key] for key in keys}
    rng = np.random.default_rng([seed, RNG_TAG])
    n_params = len(keys)
    total = draws * runs_per_draw * (rounds + 1)

    workers = resolve_workers(workers)
    pool = ProcessPoolExecutor(max_workers=workers) if workers > 1 else None
    try:
        with progress_callback(progress, total) as report:
            done = [0]

            def simulate_points(points: np.ndarray) -> np.ndarray:
                size = max(1, min(16, -(-len(points) // (4 * workers))))
                tasks = [(scenario, keys, points[i : i + size], seed, runs_per_draw, targets)
                         for i in range(0, len(points), size)]
                out = []
                for values in (pool.map(_simulate_points, tasks) if pool is not None else map(_simulate_points, tasks)):
                    out.append(values)
                    done[0] += values.shape[0] * runs_per_draw
                    if report is not None:
                        report(done[0])
                return np.concatenate(out)

            points = rng.uniform(size=(draws, n_params))
            values = simulate_points(points)
            targets = _with_scales(targets, values)
            frames, thresholds, round_distances = [], [], []
            threshold = math.inf
            previous_points, previous_weights = points, np.full(draws, 1.0 / draws)
            for round_ in range(rounds + 1):
                if round_ > 0:
                    points, density = _propose(rng, previous_points, previous_weights, draws)
                    values = simulate_points(points)
                distances = discrepancies(values, targets).mean(axis=2)  # (draws, runs_per_draw)
                threshold = min(threshold, float(np.quantile(distances, accept, method="inverted_cdf")))
                within = (distances <= threshold).mean(axis=1)
                weights = within if round_ == 0 else within / density
                if not np.any(weights > 0):
                    raise CalibrationError(f"round {round_ + 1}: no draw came within the threshold {threshold:.3g}")
                frames.append(_draw_frame(round_, keys, priors, points, distances, weights)
                              .assign(within=within))
                thresholds.append(threshold)
                round_distances.append(distances)
                accepted = weights > 0
                previous_points, previous_weights = points[accepted], weights[accepted] / weights[accepted].sum()
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)

    draws_table = pd.concat(frames, ignore_index=True)
    posterior = draws_table[(draws_table["round"] == rounds) & draws_table["accepted"]].reset_index(drop=True)
    posterior = posterior.assign(weight=previous_weights).drop(columns=["accepted", "within"])
    return Calibration(
        scenario=scenario, params=tuple(keys), priors=priors, observations=observations, until=until,
        targets=tuple(targets), posterior=posterior, draws=draws_table, ess=effective_sample_size(previous_weights),
        threshold=threshold, thresholds=tuple(thresholds), simulations=total, seed=seed,
        runs_per_draw=runs_per_draw, accept=accept, distances=tuple(round_distances),
    )


def _with_scales(targets: Sequence[Target], values: np.ndarray) -> list[Target]:
    """Milestone targets with their scale: the median absolute deviation of the prior predictive days."""
    out = []
    for j, target in enumerate(targets):
        if target.kind == "strength":
            out.append(target)
            continue
        column = values[:, :, j].ravel()
        mad = float(np.median(np.abs(column - np.median(column))))
        out.append(Target(target.kind, target.name, target.day, target.low, target.high, max(mad, MIN_SCALE_DAYS)))
    return out


def _propose(rng: np.random.Generator, points: np.ndarray, weights: np.ndarray,
             n: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` points from the weighted particles moved by a Gaussian kernel truncated to the unit cube, and
    the proposal's density at each."""
    from scipy.stats import truncnorm

    mean = weights @ points
    variance = weights @ (points - mean) ** 2
    sd = np.sqrt(np.maximum(2.0 * variance, 1e-8))
    picks = rng.choice(len(points), size=n, p=weights)
    centre = points[picks]
    a, b = (0.0 - centre) / sd, (1.0 - centre) / sd
    moved = truncnorm.rvs(a, b, loc=centre, scale=sd, random_state=rng)
    moved = np.clip(moved.reshape(n, -1), 0.0, 1.0)
    # density[i] = sum_j w_j prod_k K(moved[i, k] | points[j, k]); the prior density on the cube is 1.
    lower, upper = (0.0 - points[None, :, :]) / sd, (1.0 - points[None, :, :]) / sd
    kernel = truncnorm.pdf(moved[:, None, :], lower, upper, loc=points[None, :, :], scale=sd).prod(axis=2)
    return moved, kernel @ weights


def _draw_frame(round_: int, keys: Sequence[str], priors: dict[str, Any], points: np.ndarray,
                distances: np.ndarray, weights: np.ndarray) -> pd.DataFrame:
    columns: dict[str, Any] = {"round": round_}
    for k, key in enumerate(keys):
        columns[key] = [float(priors[key].quantile(float(u))) for u in points[:, k]]
    for k in range(len(keys)):
        columns[f"u_{k}"] = points[:, k]
    columns["distance"] = distances.mean(axis=1)
    columns["accepted"] = weights > 0
    return pd.DataFrame(columns)
