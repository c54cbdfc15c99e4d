"""Probability distributions as data.

A scenario file writes an uncertain input either as a plain number or as a table such as
``{ dist = "lognormal", median = 30, p90 = 90 }``. Each table validates into one of the frozen
models below, which can draw samples from a numpy Generator and state their theoretical mean and
quantiles, so tests can check samples against theory and sensitivity analysis can pin an input at
its P10 or P90. Durations use :data:`Duration`, which refuses any distribution that can go negative.

Example:
    >>> from pydantic import TypeAdapter
    >>> durations = TypeAdapter(Duration)
    >>> durations.validate_python(5)                     # a plain number is a fixed value
    Fixed(dist='fixed', value=5.0)
    >>> durations.validate_python({"dist": "normal", "mean": 10, "sd": 5}).low   # truncated at 0
    0.0
"""

from __future__ import annotations

import bisect
import functools
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
#: Largest truncation point, in standard deviations above the mean, that a normal may have: beyond
#: it the tail's mass underflows double precision.
MAX_TRUNCATION_SDS = 30.0


def _fmt(x: float) -> str:
    """A number for a message: short when that loses nothing (``5``, ``1e+07``), else exact."""
    short = f"{x:g}"
    return short if float(short) == x else repr(x)


def _clip(x: float, low: float, high: float) -> float:
    """``x`` kept within [low, high]: rounding in numpy's samplers can step just outside."""
    return min(max(x, low), high)


def _upper_tail(z: float) -> float:
    """P(Z > z) for a standard normal Z, accurate far into the tail (unlike ``1 - cdf(z)``)."""
    return 0.5 * math.erfc(z / math.sqrt(2.0))


def as_tuple(value: Any) -> Any:
    """Before strict validation: a TOML array (a list) may fill a tuple field."""
    return tuple(value) if isinstance(value, list) else value


class _Dist(BaseModel):
    """Common base: frozen, unknown keys rejected."""

    # NaN and infinity are refused: TOML can write them, but no parameter means either.
    # Strict: a number must be written as a number, never as text.
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False, strict=True)

    def sample(self, rng: np.random.Generator) -> float:
        """Draw one value by inverting the CDF at one uniform draw.

        Every kind, a fixed value included, uses exactly one uniform from ``rng`` per draw. So
        replacing an input's distribution (pinning it at its P10, say) leaves every other draw of the
        same stream where it was: comparisons and sensitivity runs keep their common random numbers.

        Example:
            >>> pert = Pert(dist="pert", low=5, mode=8, high=15)
            >>> a, b = pert.sample(np.random.default_rng(1)), pert.sample(np.random.default_rng(1))
            >>> a == b, 5 <= a <= 15
            (True, True)
        """
        # random() can return exactly 0, where some quantile functions are infinite.
        return self.quantile(max(rng.random(), 1e-16))

    def sample_after(self, rng: np.random.Generator, elapsed: float) -> float:
        """Draw a duration that has already run ``elapsed`` without ending: its residual-life distribution.

        The draw is ``X`` given ``X > elapsed``, by inverting the CDF restricted to [F(elapsed), 1] at
        one uniform draw (the same one :meth:`sample` would use, so common random numbers survive, and
        with ``elapsed`` at or below the lower bound it is :meth:`sample`'s draw). Where no probability
        is left above ``elapsed`` (a fixed duration already past, say), the duration ends at
        ``elapsed``: it is over as soon as it can be.

        Example:
            >>> days = Uniform(dist="uniform", low=0, high=100)
            >>> 60 < days.sample_after(np.random.default_rng(3), 60) <= 100
            True
        """
        return self.quantile_after(rng.random(), elapsed)

    def quantile_after(self, u: float, elapsed: float) -> float:
        """The value :meth:`sample_after` draws at the uniform ``u``."""
        u = max(u, 1e-16)
        if elapsed <= self.lower_bound():
            return self.quantile(u)
        below = self.cdf(elapsed)
        if below >= 1.0:
            return float(elapsed)
        return max(float(elapsed), self.quantile(min(below + u * (1.0 - below), 1.0 - 1e-16)))

    def quantile_before(self, u: float, limit: float) -> float:
        """The value at the uniform ``u`` of a draw known to be at most ``limit``: the CDF restricted to
        [0, F(limit)]. Where no probability lies at or below ``limit``, the value is ``limit``."""
        u = max(u, 1e-16)
        below = self.cdf(limit)
        if below >= 1.0:
            return self.quantile(u)
        if below <= 0.0:
            return float(limit)
        return min(float(limit), self.quantile(u * below))

    def cdf(self, x: float) -> float:
        """P(X <= x): the share of draws at or below ``x``."""
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

    def mean(self) -> float:
        return self.value

    def quantile(self, q: float) -> float:
        return self.value

    def cdf(self, x: float) -> float:
        return 1.0 if x >= self.value else 0.0

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
            raise ValueError(f"low ({_fmt(self.low)}) must not exceed high ({_fmt(self.high)})")
        return self

    def mean(self) -> float:
        return (self.low + self.high) / 2

    def quantile(self, q: float) -> float:
        return _clip(self.low + q * (self.high - self.low), self.low, self.high)

    def cdf(self, x: float) -> float:
        if self.high == self.low:
            return 1.0 if x >= self.low else 0.0
        return _clip((x - self.low) / (self.high - self.low), 0.0, 1.0)

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
            got = ", ".join(_fmt(x) for x in (self.low, self.mode, self.high))
            raise ValueError(f"need low <= mode <= high and low < high; got {got}")
        return self

    def mean(self) -> float:
        return (self.low + self.mode + self.high) / 3

    def quantile(self, q: float) -> float:
        a, c, b = self.low, self.mode, self.high
        split = (c - a) / (b - a)
        # Square roots taken factor by factor, so a product of two tiny spans cannot underflow.
        if q <= split:
            return _clip(a + math.sqrt(q) * math.sqrt(b - a) * math.sqrt(c - a), a, b)
        return _clip(b - math.sqrt(1 - q) * math.sqrt(b - a) * math.sqrt(b - c), a, b)

    def cdf(self, x: float) -> float:
        a, c, b = self.low, self.mode, self.high
        if x <= a:
            return 0.0
        if x >= b:
            return 1.0
        if x <= c:
            return (x - a) ** 2 / ((b - a) * (c - a))
        return 1.0 - (b - x) ** 2 / ((b - a) * (b - c))

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
            got = ", ".join(_fmt(x) for x in (self.low, self.mode, self.high))
            raise ValueError(f"need low <= mode <= high and low < high; got {got}")
        return self

    def _ab(self) -> tuple[float, float]:
        span = self.high - self.low
        return (
            1 + self.shape * (self.mode - self.low) / span,
            1 + self.shape * (self.high - self.mode) / span,
        )

    def mean(self) -> float:
        return (self.low + self.shape * self.mode + self.high) / (self.shape + 2)

    def quantile(self, q: float) -> float:
        cdf, xs = _beta_quantile_table(self.low, self.mode, self.high, self.shape)
        # Linear interpolation between the grid points around q, as np.interp would, without its
        # per-call array overhead (a baseline replication draws about 30 PERTs).
        j = bisect.bisect_right(cdf, q) - 1
        if j < 0:
            x = xs[0]
        elif j >= len(cdf) - 1:
            x = xs[-1]
        else:
            x = xs[j] + (q - cdf[j]) * (xs[j + 1] - xs[j]) / (cdf[j + 1] - cdf[j])
        return _clip(self.low + (self.high - self.low) * x, self.low, self.high)

    def cdf(self, x: float) -> float:
        """The exact inverse of :meth:`quantile`: the same grid, interpolated the other way."""
        if x <= self.low:
            return 0.0
        if x >= self.high:
            return 1.0
        cdf, xs = _beta_quantile_table(self.low, self.mode, self.high, self.shape)
        z = (x - self.low) / (self.high - self.low)
        j = bisect.bisect_right(xs, z) - 1
        if j >= len(xs) - 1:
            return 1.0
        return cdf[j] + (z - xs[j]) * (cdf[j + 1] - cdf[j]) / (xs[j + 1] - xs[j])

    def lower_bound(self) -> float:
        return self.low


@functools.lru_cache(maxsize=256)
def _beta_quantile_table(low: float, mode: float, high: float, shape: float) -> tuple[list[float], list[float]]:
    """The CDF grid of a PERT's Beta as lists, keyed by the PERT's parameters so a draw skips ``_ab``.

    Points where the CDF does not rise (underflow far from a sharp peak) are dropped, keeping the
    first, so that interpolation never divides by zero.
    """
    span = high - low
    cdf, xs = _beta_cdf_grid(1 + shape * (mode - low) / span, 1 + shape * (high - mode) / span)
    keep = np.concatenate(([True], np.diff(cdf) > 0))
    return cdf[keep].tolist(), xs[keep].tolist()


@functools.lru_cache(maxsize=256)
def _beta_cdf_grid(a: float, b: float) -> tuple[np.ndarray, np.ndarray]:
    """The CDF of Beta(a, b) on a fine grid, for quantiles by interpolation (no closed form exists).

    The density is built in logs, so a large shape's sharp peak cannot underflow. Cached: a scenario
    has few distinct PERTs and draws from them thousands of times.
    """
    xs = np.linspace(0.0, 1.0, 4001)
    with np.errstate(divide="ignore"):
        log_dens = (a - 1) * np.log(xs) if a > 1 else np.zeros_like(xs)
        log_dens = log_dens + ((b - 1) * np.log1p(-xs) if b > 1 else 0.0)
    dens = np.exp(log_dens - log_dens.max())
    cdf = np.concatenate(([0.0], np.cumsum((dens[1:] + dens[:-1]) / 2)))
    cdf /= cdf[-1]
    return cdf, xs


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
            raise ValueError(f"p90 ({_fmt(self.p90)}) must exceed median ({_fmt(self.median)})")
        return self

    @property
    def mu(self) -> float:
        """Mean of the underlying normal."""
        return math.log(self.median)

    @property
    def sigma(self) -> float:
        """Standard deviation of the underlying normal."""
        return math.log(self.p90 / self.median) / Z90

    def mean(self) -> float:
        return math.exp(self.mu + self.sigma**2 / 2)

    def quantile(self, q: float) -> float:
        """The ``q`` quantile; exactly ``median`` at q = 0.5 and ``p90`` at q = 0.9.

        Example:
            >>> days = LogNormal(dist="lognormal", median=30, p90=90)
            >>> days.quantile(0.5), days.quantile(0.9), days.quantile(0.1) < 30
            (30.0, 90.0, True)
        """
        # The round trip through logarithms is off by an ulp or so; the two given points are exact.
        if q == 0.5:
            return self.median
        if q == 0.9:
            return self.p90
        return math.exp(self.mu + self.sigma * _STD_NORMAL.inv_cdf(q))

    def cdf(self, x: float) -> float:
        if x <= 0:
            return 0.0
        return _STD_NORMAL.cdf((math.log(x) - self.mu) / self.sigma)

    def lower_bound(self) -> float:
        return 0.0


class Exponential(_Dist):
    """Exponential with the given ``mean`` (memoryless waiting times)."""

    dist: Literal["exponential"]
    mean_value: float = Field(gt=0, alias="mean")

    def mean(self) -> float:
        return self.mean_value

    def quantile(self, q: float) -> float:
        return -self.mean_value * math.log1p(-q)

    def cdf(self, x: float) -> float:
        return 0.0 if x <= 0 else -math.expm1(-x / self.mean_value)

    def lower_bound(self) -> float:
        return 0.0


class Normal(_Dist):
    """Normal with ``mean`` and ``sd``, truncated below at ``low`` when it is given.

    As a duration, ``low`` defaults to 0 (a duration cannot be negative). Draws below ``low``
    are redrawn, so the mean is that of the truncated distribution. Raise a validation error if
    ``low`` lies more than 30 standard deviations above the mean, where no mass is left to draw.
    """

    dist: Literal["normal"]
    mu: float = Field(alias="mean")
    sd: float = Field(gt=0)
    low: float | None = None

    @model_validator(mode="after")
    def _mass_above_low(self) -> Normal:
        if self.low is not None and self._alpha() > MAX_TRUNCATION_SDS:
            raise ValueError(
                f"a normal with mean {_fmt(self.mu)} and sd {_fmt(self.sd)} truncated at {_fmt(self.low)} keeps "
                f"almost none of its probability: the mean lies {self._alpha():.0f} sd below {_fmt(self.low)}"
            )
        return self

    def _alpha(self) -> float:
        return -math.inf if self.low is None else (self.low - self.mu) / self.sd

    def mean(self) -> float:
        if self.low is None:
            return self.mu
        a = self._alpha()
        return self.mu + self.sd * _STD_NORMAL.pdf(a) / _upper_tail(a)

    def quantile(self, q: float) -> float:
        if self.low is None:
            p = min(max(q, 1e-12), 1 - 1e-12)
            return self.mu + self.sd * _STD_NORMAL.inv_cdf(p)
        if q <= 0:
            return self.low
        a = self._alpha()
        if a <= 0:
            # Less than half is cut away: P(Z <= z) = P(Z <= a) + q P(Z > a), with no cancellation.
            p = min(max(_upper_tail(-a) + q * _upper_tail(a), 1e-300), 1 - 1e-12)
            z = _STD_NORMAL.inv_cdf(p)
        else:
            # Work with upper-tail probabilities, which keep their precision however far out ``low`` is.
            z = -_STD_NORMAL.inv_cdf(max(_upper_tail(a) * (1 - q), 1e-300))
        return max(self.low, self.mu + self.sd * z)

    def cdf(self, x: float) -> float:
        z = (x - self.mu) / self.sd
        if self.low is None:
            return _STD_NORMAL.cdf(z)
        if x <= self.low:
            return 0.0
        a = self._alpha()
        # P(a < Z <= z) / P(Z > a), from upper tails so that a far truncation keeps its precision.
        return _clip((_upper_tail(a) - _upper_tail(z)) / _upper_tail(a), 0.0, 1.0)

    def lower_bound(self) -> float:
        return -math.inf if self.low is None else self.low


class Empirical(_Dist):
    """Resample observed ``values``, optionally with ``weights`` (which need not sum to one)."""

    dist: Literal["empirical"]
    values: Annotated[tuple[float, ...], BeforeValidator(as_tuple)] = Field(min_length=1, max_length=100_000)
    weights: Annotated[tuple[float, ...], BeforeValidator(as_tuple)] | None = Field(default=None, max_length=100_000)

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

    def mean(self) -> float:
        return float(np.dot(self.values, self._probs()))

    def quantile(self, q: float) -> float:
        order = np.argsort(self.values)
        values = np.asarray(self.values)[order]
        cdf = np.cumsum(self._probs()[order])
        return float(values[min(int(np.searchsorted(cdf, q)), len(values) - 1)])

    def cdf(self, x: float) -> float:
        return float(min(1.0, self._probs()[np.asarray(self.values) <= x].sum()))

    def lower_bound(self) -> float:
        return min(self.values)


class Bernoulli(_Dist):
    """A yes/no event that happens with probability ``p``; draws are 1.0 (yes) or 0.0 (no)."""

    dist: Literal["bernoulli"]
    p: float = Field(ge=0, le=1)

    def mean(self) -> float:
        return self.p

    def quantile(self, q: float) -> float:
        return 0.0 if q <= 1 - self.p else 1.0

    def cdf(self, x: float) -> float:
        return 0.0 if x < 0 else (1 - self.p if x < 1 else 1.0)

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
    if isinstance(d, Fixed) and d.value < 0:
        raise ValueError(f"a duration or amount cannot be negative; expected a number >= 0, got {_fmt(d.value)}")
    if d.lower_bound() < 0:
        raise ValueError(
            f"a duration or amount cannot be negative, but this {getattr(d, 'dist', 'fixed')} distribution "
            f"can draw values down to {_fmt(d.lower_bound())}; expected a lower bound >= 0"
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
