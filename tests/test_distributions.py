"""Distributions against their theory: sample means, quantiles, bounds and parameter validation.

Every statistical assertion compares draws with the distribution's own ``mean()`` or
``quantile()`` within a tolerance derived from the standard error of the estimate. Seeds are fixed
only so that a run is repeatable; no assertion names a number that a particular seed produced.
"""

from __future__ import annotations

import functools
import math
from typing import Any

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError

from sim.scenario.distributions import Distribution, Duration, Fixed, LogNormal, Normal

N_DRAWS = 20_000
#: Standard errors allowed between an estimate and the theory: about 6e-5 of two-sided mass, so
#: the ~60 checks below fail by chance with a probability under 0.5% for any seed.
Z_TOLERANCE = 4.0

_any = TypeAdapter(Distribution)
_duration = TypeAdapter(Duration)


def dist(spec: Any) -> Any:
    """Validate a distribution exactly as a scenario file's value would be."""
    return _any.validate_python(spec)


def duration(spec: Any) -> Any:
    """Validate a distribution as a duration field would (normals truncated at zero)."""
    return _duration.validate_python(spec)


#: One case per kind, plus the awkward ones: a skewed pert, a heavy-ish lognormal, normals
#: truncated lightly, beyond the mean and far in the tail, weighted and unweighted empirical data.
CASES: dict[str, Any] = {
    "fixed": dist(3.5),
    "fixed-table": dist({"dist": "fixed", "value": 12}),
    "uniform": dist({"dist": "uniform", "low": 2, "high": 9}),
    "triangular": dist({"dist": "triangular", "low": 1, "mode": 3, "high": 10}),
    "triangular-mode-at-low": dist({"dist": "triangular", "low": 0, "mode": 0, "high": 5}),
    "pert": dist({"dist": "pert", "low": 5, "mode": 18, "high": 45}),
    "pert-shape-8": dist({"dist": "pert", "low": 0, "mode": 1, "high": 10, "shape": 8}),
    "pert-mode-at-low": dist({"dist": "pert", "low": 2, "mode": 2, "high": 12}),
    "lognormal": dist({"dist": "lognormal", "median": 30, "p90": 90}),
    # p90 five times the median: sigma 1.26, coefficient of variation about 2.
    "lognormal-heavy": dist({"dist": "lognormal", "median": 30, "p90": 150}),
    "exponential": dist({"dist": "exponential", "mean": 45}),
    "normal": dist({"dist": "normal", "mean": 10, "sd": 3}),
    "normal-duration": duration({"dist": "normal", "mean": 5, "sd": 4}),
    "normal-low-above-mean": dist({"dist": "normal", "mean": 0, "sd": 1, "low": 0.5}),
    "normal-duration-deep-tail": duration({"dist": "normal", "mean": -7, "sd": 1}),
    "normal-low-far-below-mean": dist({"dist": "normal", "mean": 100, "sd": 2, "low": 0}),
    "empirical": dist({"dist": "empirical", "values": [3, 7, 7, 20]}),
    "empirical-weighted": dist({"dist": "empirical", "values": [1, 2, 3], "weights": [1, 0, 3]}),
    "bernoulli": dist({"dist": "bernoulli", "p": 0.3}),
    "bernoulli-rare": dist({"dist": "bernoulli", "p": 0.02}),
}


@functools.cache
def draws(case: str) -> np.ndarray:
    """N draws of a case, shared by the tests below; each case has its own fixed stream."""
    rng = np.random.default_rng([20240314, sorted(CASES).index(case)])
    d = CASES[case]
    return np.array([d.sample(rng) for _ in range(N_DRAWS)])


@pytest.mark.parametrize("case", sorted(CASES))
def test_sample_mean_matches_theoretical_mean(case: str) -> None:
    """The mean of N draws lies within 4 standard errors of ``mean()``: |x̄ − μ| < 4·s/√N.

    s is the sample standard deviation; a tiny absolute slack covers the rounding of a sum of N
    equal values when s is zero (fixed values, a degenerate empirical).
    """
    x = draws(case)
    mu = CASES[case].mean()
    se = x.std(ddof=1) / math.sqrt(N_DRAWS)
    assert abs(x.mean() - mu) <= Z_TOLERANCE * se + 1e-9 * max(1.0, abs(mu)), (x.mean(), mu, se)


@pytest.mark.parametrize("q", [0.1, 0.5, 0.9])
@pytest.mark.parametrize("case", sorted(CASES))
def test_empirical_cdf_at_quantile_is_close_to_q(case: str, q: float) -> None:
    """The share of draws at or below ``quantile(q)`` is q, within 4 binomial standard errors.

    For discrete kinds ``quantile`` is the generalised inverse, so the check is two-sided around
    the jump: P(X < x_q) <= q <= P(X <= x_q), each side within 4·√(q(1−q)/N).
    """
    x = draws(case)
    x_q = CASES[case].quantile(q)
    tol = Z_TOLERANCE * math.sqrt(q * (1 - q) / N_DRAWS)
    below, at_or_below = np.mean(x < x_q), np.mean(x <= x_q)
    assert below - tol <= q <= at_or_below + tol, (x_q, below, at_or_below)


@pytest.mark.parametrize("case", sorted(CASES))
def test_draws_and_quantiles_respect_lower_bound(case: str) -> None:
    """No draw and no quantile lies below ``lower_bound()``, and quantiles never decrease."""
    d = CASES[case]
    assert draws(case).min() >= d.lower_bound()
    qs = [d.quantile(q) for q in np.linspace(0.001, 0.999, 101)]
    assert qs[0] >= d.lower_bound()
    assert all(a <= b for a, b in zip(qs, qs[1:], strict=False))


def test_plain_number_means_fixed() -> None:
    """A plain number in a scenario file is a fixed value; booleans are not numbers."""
    assert dist(4) == Fixed(value=4.0)
    assert duration(0) == Fixed(value=0.0)
    with pytest.raises(ValidationError):
        dist(True)


@pytest.mark.parametrize(
    ("spec", "phrase"),
    [
        ({"dist": "uniform", "low": 5, "high": 1}, "must not exceed high"),
        ({"dist": "triangular", "low": 5, "mode": 6, "high": 1}, "low <= mode <= high"),
        ({"dist": "triangular", "low": 1, "mode": 9, "high": 5}, "low <= mode <= high"),
        ({"dist": "triangular", "low": 2, "mode": 2, "high": 2}, "low < high"),
        ({"dist": "pert", "low": 10, "mode": 5, "high": 1}, "low <= mode <= high"),
        ({"dist": "pert", "low": 1, "mode": 2, "high": 3, "shape": 0}, "greater than 0"),
        ({"dist": "lognormal", "median": 30, "p90": 30}, "must exceed median"),
        ({"dist": "lognormal", "median": 30, "p90": 10}, "must exceed median"),
        ({"dist": "lognormal", "median": 0, "p90": 10}, "greater than 0"),
        ({"dist": "exponential", "mean": 0}, "greater than 0"),
        ({"dist": "normal", "mean": 1, "sd": 0}, "greater than 0"),
        ({"dist": "normal", "mean": -100, "sd": 1, "low": 0}, "almost none"),
        ({"dist": "empirical", "values": []}, "at least 1"),
        ({"dist": "empirical", "values": [1, 2], "weights": [1]}, "weights has 1 entries but values has 2"),
        ({"dist": "empirical", "values": [1, 2], "weights": [1, -1]}, "non-negative"),
        ({"dist": "empirical", "values": [1, 2], "weights": [0, 0]}, "positive sum"),
        ({"dist": "bernoulli", "p": 1.5}, "less than or equal to 1"),
        ({"dist": "bernoulli", "p": -0.1}, "greater than or equal to 0"),
        ({"dist": "uniform", "low": 1}, "Field required"),
        ({"dist": "uniform", "low": 1, "high": 2, "mode": 1.5}, "Extra inputs"),
        ({"dist": "uniform", "low": 1, "high": math.inf}, "finite number"),
        ({"dist": "fixed", "value": math.nan}, "finite number"),
        ({"dist": "empirical", "values": [1, 2], "weights": [math.nan, 1]}, "finite number"),
        ({"dist": "gamma", "shape": 2}, "does not match any of the expected tags"),
    ],
)
def test_invalid_parameters_rejected(spec: dict[str, Any], phrase: str) -> None:
    """Impossible parameters are refused when the distribution is built, with a reason."""
    with pytest.raises(ValidationError, match=phrase):
        dist(spec)


def test_distributions_are_immutable() -> None:
    """Distributions are frozen values: neither fields nor empirical data can be changed."""
    d = dist({"dist": "empirical", "values": [1, 2, 3]})
    with pytest.raises(ValidationError):
        d.values = (4,)  # type: ignore[misc]
    with pytest.raises(AttributeError):
        d.values.append(4)  # type: ignore[attr-defined]


# -- properties that hold for any parameters -----------------------------------------------------

_finite = st.floats(min_value=-1e9, max_value=1e9, allow_nan=False, allow_infinity=False)
_unit = st.floats(min_value=0.0, max_value=1.0)
_seed = st.integers(min_value=0, max_value=2**32 - 1)


@st.composite
def bounded(draw: st.DrawFn) -> tuple[Any, float, float]:
    """A uniform, triangular or pert distribution with arbitrary finite bounds, and those bounds."""
    low, high = sorted((draw(_finite), draw(_finite)))
    assume(low < high)
    kind = draw(st.sampled_from(["uniform", "triangular", "pert"]))
    if kind == "uniform":
        return dist({"dist": kind, "low": low, "high": high}), low, high
    mode = min(max(low + draw(_unit) * (high - low), low), high)
    spec = {"dist": kind, "low": low, "mode": mode, "high": high}
    if kind == "pert":
        spec["shape"] = draw(st.floats(min_value=0.1, max_value=50))
    return dist(spec), low, high


@settings(max_examples=200, deadline=None)
@given(case=bounded(), seed=_seed)
def test_bounded_kinds_never_sample_outside_their_bounds(case: tuple[Any, float, float], seed: int) -> None:
    d, low, high = case
    rng = np.random.default_rng(seed)
    assert all(low <= d.sample(rng) <= high for _ in range(50))
    assert low <= d.quantile(0.001) <= d.quantile(0.999) <= high


@settings(max_examples=100, deadline=None)
@given(values=st.lists(_finite, min_size=1, max_size=8), seed=_seed)
def test_empirical_draws_are_observed_values(values: list[float], seed: int) -> None:
    d = dist({"dist": "empirical", "values": values})
    rng = np.random.default_rng(seed)
    assert all(d.sample(rng) in values for _ in range(20))


@settings(max_examples=50, deadline=None)
@given(p=_unit, seed=_seed)
def test_bernoulli_draws_are_zero_or_one(p: float, seed: int) -> None:
    d = dist({"dist": "bernoulli", "p": p})
    rng = np.random.default_rng(seed)
    assert {d.sample(rng) for _ in range(20)} <= {0.0, 1.0}


@given(
    median=st.floats(min_value=1e-6, max_value=1e9),
    ratio=st.floats(min_value=1.0 + 1e-6, max_value=1e4),
)
def test_lognormal_quantiles_are_its_parameters(median: float, ratio: float) -> None:
    """A lognormal written as (median, p90) gives back exactly those numbers as its quantiles."""
    p90 = median * ratio
    assume(p90 > median)
    d = dist({"dist": "lognormal", "median": median, "p90": p90})
    assert isinstance(d, LogNormal)
    assert d.quantile(0.5) == median
    assert d.quantile(0.9) == p90
    assert d.quantile(0.1) < median < d.mean()


@given(low=st.floats(min_value=-1e6, max_value=-1e-9), width=st.floats(min_value=1e-3, max_value=1e6))
def test_duration_rejects_distribution_that_can_go_negative(low: float, width: float) -> None:
    with pytest.raises(ValidationError, match="cannot be negative"):
        duration({"dist": "uniform", "low": low, "high": low + width})
    with pytest.raises(ValidationError, match="cannot be negative"):
        duration({"dist": "empirical", "values": [low, low + width]})
    with pytest.raises(ValidationError, match="cannot be negative"):
        duration(low)


def test_duration_rejects_the_examples_from_the_issue() -> None:
    with pytest.raises(ValidationError, match="cannot be negative"):
        duration({"dist": "uniform", "low": -1, "high": 5})
    with pytest.raises(ValidationError, match="cannot be negative"):
        duration({"dist": "normal", "mean": 5, "sd": 2, "low": -1})
    with pytest.raises(ValidationError, match="cannot be negative"):
        duration(-3)


@settings(deadline=None)
@given(
    sd=st.floats(min_value=1e-3, max_value=1e4),
    mean_in_sds=st.floats(min_value=-20, max_value=20),
    seed=_seed,
)
def test_duration_truncates_a_normal_at_zero(sd: float, mean_in_sds: float, seed: int) -> None:
    """Any normal is a valid duration: it is truncated at 0, so no draw or quantile is negative."""
    d = duration({"dist": "normal", "mean": mean_in_sds * sd, "sd": sd})
    assert isinstance(d, Normal)
    assert d.lower_bound() == 0.0
    rng = np.random.default_rng(seed)
    assert all(d.sample(rng) >= 0 for _ in range(20))
    assert 0 <= d.quantile(0.001) <= d.quantile(0.5) <= d.quantile(0.999)
    assert d.mean() >= 0


@given(value=st.floats(min_value=0, max_value=1e12))
def test_duration_accepts_plain_non_negative_numbers(value: float) -> None:
    d = duration(value)
    assert d == Fixed(value=value)
    assert d.mean() == d.quantile(0.5) == d.lower_bound() == value
