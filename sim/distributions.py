"""Probability distributions as data.

A scenario file writes an uncertain input either as a plain number or as a table such as
``{ dist = "lognormal", median = 30, p90 = 90 }``. Each table validates into one of the frozen
models below, which can draw samples from a numpy Generator and state their theoretical mean and
quantiles, so tests can check samples against theory and sensitivity analysis can pin an input at
its P10 or P90. Durations use :data:`Duration`, which refuses any distribution that can go negative.
"""

from __future__ import annotations

import math
from statistics import NormalDist
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    model_validator,
)

#: z-score of the 90th percentile of the standard normal distribution.
Z90 = NormalDist().inv_cdf(0.9)
_STD_NORMAL = NormalDist()


class _Dist(BaseModel):
    """Common base: frozen, unknown keys rejected."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    def sample(self, rng: np.random.Generator) -> float:
        """Draw one value."""
        raise NotImplementedError

    def mean(self) -> float:
        """The distribution's theoretical mean."""
        raise NotImplementedError

    def quantile(self, q: float) -> float:
        """The value below which a share ``q`` of draws falls (0 < q < 1)."""
        raise NotImplementedError

    def lower_bound(self) -> float:
        """The smallest value a draw can take (``-inf`` when unbounded)."""
        raise NotImplementedError


class Fixed(_Dist):
    """A known value. A plain number in a scenario file means this."""

    dist: Literal["fixed"] = "fixed"
    value: float

    def sample(self, rng: np.random.Generator) -> float:
        return self.value

    def mean(self) -> float:
        return self.value

    def quantile(self, q: float) -> float:
        return self.value

    def lower_bound(self) -> float:
        return self.value


class Uniform(_Dist):
    """Every value between ``low`` and ``high`` equally likely.

    Raise a validation error if ``low > high``.
    """

    dist: Literal["uniform"]
    low: float
    high: float

    @model_validator(mode="after")
    def _ordered(self) -> Uniform:
        if self.low > self.high:
            raise ValueError(f"low ({self.low}) must not exceed high ({self.high})")
        return self

    def sample(self, rng: np.random.Generator) -> float:
        return float(rng.uniform(self.low, self.high))

    def mean(self) -> float:
        return (self.low + self.high) / 2

    def quantile(self, q: float) -> float:
        return self.low + q * (self.high - self.low)

    def lower_bound(self) -> float:
        return self.low


class Triangular(_Dist):
    """Triangular between ``low`` and ``high`` with its peak at ``mode``.

    Raise a validation error unless ``low <= mode <= high`` and ``low < high``.
    """

    dist: Literal["triangular"]
    low: float
    mode: float
    high: float

    @model_validator(mode="after")
    def _ordered(self) -> Triangular:
        if not (self.low <= self.mode <= self.high) or self.low == self.high:
            raise ValueError(
                f"need low <= mode <= high and low < high; got {self.low}, {self.mode}, {self.high}"
            )
        return self

    def sample(self, rng: np.random.Generator) -> float:
        return float(rng.triangular(self.low, self.mode, self.high))

    def mean(self) -> float:
        return (self.low + self.mode + self.high) / 3

    def quantile(self, q: float) -> float:
        a, c, b = self.low, self.mode, self.high
        split = (c - a) / (b - a)
        if q <= split:
            return a + math.sqrt(q * (b - a) * (c - a))
        return b - math.sqrt((1 - q) * (b - a) * (b - c))

    def lower_bound(self) -> float:
        return self.low


class Pert(_Dist):
    """Beta-PERT: the three-point estimate (``low``, most likely ``mode``, ``high``) of schedule risk.

    ``shape`` (4 by default) weights the mode. Raise a validation error unless
    ``low <= mode <= high`` and ``low < high``.
    """

    dist: Literal["pert"]
    low: float
    mode: float
    high: float
    shape: float = Field(default=4.0, gt=0)

    @model_validator(mode="after")
    def _ordered(self) -> Pert:
        if not (self.low <= self.mode <= self.high) or self.low == self.high:
            raise ValueError(
                f"need low <= mode <= high and low < high; got {self.low}, {self.mode}, {self.high}"
            )
        return self

    def _ab(self) -> tuple[float, float]:
        span = self.high - self.low
        return (
            1 + self.shape * (self.mode - self.low) / span,
            1 + self.shape * (self.high - self.mode) / span,
        )

    def sample(self, rng: np.random.Generator) -> float:
        a, b = self._ab()
        return float(self.low + (self.high - self.low) * rng.beta(a, b))

    def mean(self) -> float:
        return (self.low + self.shape * self.mode + self.high) / (self.shape + 2)

    def quantile(self, q: float) -> float:
        # No closed form for the beta quantile; bisect its CDF, integrated numerically.
        a, b = self._ab()
        xs = np.linspace(0.0, 1.0, 4001)
        dens = xs[1:-1] ** (a - 1) * (1 - xs[1:-1]) ** (b - 1)
        dens = np.concatenate(([0.0], dens, [0.0]))
        cdf = np.concatenate(([0.0], np.cumsum((dens[1:] + dens[:-1]) / 2)))
        cdf /= cdf[-1]
        return float(self.low + (self.high - self.low) * np.interp(q, cdf, xs))

    def lower_bound(self) -> float:
        return self.low


class LogNormal(_Dist):
    """Log-normal given the way analysts think of it: a ``median`` and a ``p90`` (90th percentile).

    Raise a validation error unless ``0 < median < p90``.
    """

    dist: Literal["lognormal"]
    median: float = Field(gt=0)
    p90: float = Field(gt=0)

    @model_validator(mode="after")
    def _ordered(self) -> LogNormal:
        if self.p90 <= self.median:
            raise ValueError(f"p90 ({self.p90}) must exceed median ({self.median})")
        return self

    @property
    def mu(self) -> float:
        """Mean of the underlying normal."""
        return math.log(self.median)

    @property
    def sigma(self) -> float:
        """Standard deviation of the underlying normal."""
        return math.log(self.p90 / self.median) / Z90

    def sample(self, rng: np.random.Generator) -> float:
        return float(rng.lognormal(self.mu, self.sigma))

    def mean(self) -> float:
        return math.exp(self.mu + self.sigma**2 / 2)

    def quantile(self, q: float) -> float:
        return math.exp(self.mu + self.sigma * _STD_NORMAL.inv_cdf(q))

    def lower_bound(self) -> float:
        return 0.0


class Exponential(_Dist):
    """Exponential with the given ``mean`` (memoryless waiting times)."""

    dist: Literal["exponential"]
    mean_value: float = Field(gt=0, alias="mean")

    def sample(self, rng: np.random.Generator) -> float:
        return float(rng.exponential(self.mean_value))

    def mean(self) -> float:
        return self.mean_value

    def quantile(self, q: float) -> float:
        return -self.mean_value * math.log1p(-q)

    def lower_bound(self) -> float:
        return 0.0


class Normal(_Dist):
    """Normal with ``mean`` and ``sd``, truncated below at ``low`` when it is given.

    As a duration, ``low`` defaults to 0 (a duration cannot be negative). Draws below ``low``
    are redrawn, so the mean is that of the truncated distribution.
    """

    dist: Literal["normal"]
    mu: float = Field(alias="mean")
    sd: float = Field(gt=0)
    low: float | None = None

    def _alpha(self) -> float:
        return -math.inf if self.low is None else (self.low - self.mu) / self.sd

    def sample(self, rng: np.random.Generator) -> float:
        if self.low is None:
            return float(rng.normal(self.mu, self.sd))
        if _STD_NORMAL.cdf(self._alpha()) > 0.5:
            # Far into the tail rejection would crawl; invert the CDF instead.
            return self.quantile(float(rng.uniform()))
        while True:
            x = float(rng.normal(self.mu, self.sd))
            if x >= self.low:
                return x

    def mean(self) -> float:
        if self.low is None:
            return self.mu
        a = self._alpha()
        return self.mu + self.sd * _STD_NORMAL.pdf(a) / (1 - _STD_NORMAL.cdf(a))

    def quantile(self, q: float) -> float:
        lo = 0.0 if self.low is None else _STD_NORMAL.cdf(self._alpha())
        p = min(max(lo + q * (1 - lo), 1e-12), 1 - 1e-12)
        return self.mu + self.sd * _STD_NORMAL.inv_cdf(p)

    def lower_bound(self) -> float:
        return -math.inf if self.low is None else self.low


class Empirical(_Dist):
    """Resample observed ``values``, optionally with ``weights`` (which need not sum to one)."""

    dist: Literal["empirical"]
    values: list[float] = Field(min_length=1)
    weights: list[float] | None = None

    @model_validator(mode="after")
    def _check_weights(self) -> Empirical:
        if self.weights is not None:
            if len(self.weights) != len(self.values):
                raise ValueError(
                    f"weights has {len(self.weights)} entries but values has {len(self.values)}"
                )
            if any(w < 0 for w in self.weights) or sum(self.weights) <= 0:
                raise ValueError("weights must be non-negative with a positive sum")
        return self

    def _probs(self) -> np.ndarray:
        w = np.ones(len(self.values)) if self.weights is None else np.asarray(self.weights)
        return w / w.sum()

    def sample(self, rng: np.random.Generator) -> float:
        return float(rng.choice(np.asarray(self.values), p=self._probs()))

    def mean(self) -> float:
        return float(np.dot(self.values, self._probs()))

    def quantile(self, q: float) -> float:
        order = np.argsort(self.values)
        values = np.asarray(self.values)[order]
        cdf = np.cumsum(self._probs()[order])
        return float(values[min(int(np.searchsorted(cdf, q)), len(values) - 1)])

    def lower_bound(self) -> float:
        return min(self.values)


class Bernoulli(_Dist):
    """A yes/no event that happens with probability ``p``; draws are 1.0 (yes) or 0.0 (no)."""

    dist: Literal["bernoulli"]
    p: float = Field(ge=0, le=1)

    def sample(self, rng: np.random.Generator) -> float:
        return 1.0 if rng.random() < self.p else 0.0

    def mean(self) -> float:
        return self.p

    def quantile(self, q: float) -> float:
        return 0.0 if q <= 1 - self.p else 1.0

    def lower_bound(self) -> float:
        return 0.0


DIST_KINDS = (Fixed, Uniform, Triangular, Pert, LogNormal, Exponential, Normal, Empirical, Bernoulli)


def _number_to_fixed(value: Any) -> Any:
    """Let a plain number stand for a fixed distribution."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return {"dist": "fixed", "value": value}
    return value


def _as_duration(value: Any) -> Any:
    """Before validation: numbers become fixed values, and a normal is truncated at zero."""
    value = _number_to_fixed(value)
    if isinstance(value, dict) and value.get("dist") == "normal" and value.get("low") is None:
        value = {**value, "low": 0.0}
    return value


def _non_negative(d: _Dist) -> _Dist:
    if d.lower_bound() < 0:
        raise ValueError(
            f"a duration or amount cannot be negative, but this {d.dist} distribution "
            f"can draw values down to {d.lower_bound()}"
        )
    return d


_Union = Annotated[
    Fixed | Uniform | Triangular | Pert | LogNormal | Exponential | Normal | Empirical | Bernoulli,
    Field(discriminator="dist"),
]

#: Any distribution (a plain number is a fixed value).
Distribution = Annotated[_Union, BeforeValidator(_number_to_fixed)]


#: A distribution of a non-negative quantity such as a number of days; normals are truncated at 0.
Duration = Annotated[_Union, BeforeValidator(_as_duration), AfterValidator(_non_negative)]
