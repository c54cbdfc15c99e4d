"""The one look of every figure: a matplotlib style file shipped with the package, and English date ticks.

Each figure function runs inside :func:`plot_style` (most through the :func:`styled` decorator), so its
fonts and spines come from ``styles/deploysim.mplstyle`` and nowhere else; text sizes for roles that
matplotlib has no parameter for are read from the style with :func:`font_size`. Date ticks use
:class:`EnglishDateFormatter`, which writes month names from :mod:`sim.output.text` whatever the locale.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.resources
from collections.abc import Callable, Iterator
from typing import Literal, ParamSpec, TypeVar

import matplotlib as mpl
import matplotlib.axes
import matplotlib.transforms
from matplotlib.dates import AutoDateLocator, num2date
from matplotlib.ticker import Formatter

from sim.output.text import format_date

#: The style file, as a path inside the installed package.
STYLE_FILE = importlib.resources.files("sim.output") / "styles" / "deploysim.mplstyle"

Role = Literal["title", "label", "tick", "legend", "note"]
_ROLE_PARAMS: dict[str, str] = {
    "title": "axes.titlesize",
    "label": "axes.labelsize",
    "tick": "xtick.labelsize",
    "legend": "legend.fontsize",
    "note": "font.size",
}

P = ParamSpec("P")
R = TypeVar("R")


@contextlib.contextmanager
def plot_style() -> Iterator[None]:
    """Matplotlib's parameters set from the style file for the duration of the block."""
    with importlib.resources.as_file(STYLE_FILE) as path, mpl.rc_context(fname=str(path)):
        yield


def styled(function: Callable[P, R]) -> Callable[P, R]:
    """Run a figure function inside :func:`plot_style`: artists read the style when they are created."""

    @functools.wraps(function)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        with plot_style():
            return function(*args, **kwargs)

    return wrapper


def font_size(role: Role) -> float:
    """The style's size in points of a text role: ``title``, ``label``, ``tick``, ``legend`` or ``note``."""
    with plot_style():
        size = mpl.rcParams[_ROLE_PARAMS[role]]  # type: ignore[index]  # the stubs list only literal keys
        return float(mpl.font_manager.FontProperties(size=size).get_size_in_points())


class EnglishDateFormatter(Formatter):
    """Date ticks in English, as concise as the ticks allow: ``14 Mar``, ``Apr``, ``2025``.

    Month ticks read ``Apr``, with the year under the first tick and under each January; day ticks read
    ``14 Mar``, with the year under the first of each year; ticks on 1 January of every year read ``2025``.
    With ``one_line`` (for a vertical date axis) the year follows on the same line: ``Jan 2025``.
    """

    def __init__(self, one_line: bool = False) -> None:
        super().__init__()
        self.one_line = one_line

    def __call__(self, x: float, pos: int | None = None) -> str:
        return format_date(num2date(x), "short")

    def format_ticks(self, values: list[float]) -> list[str]:
        dates = [num2date(v) for v in values]
        if not dates:
            return []
        if all(d.month == 1 and d.day == 1 for d in dates) and len({d.year for d in dates}) == len(dates):
            return [str(d.year) for d in dates]
        monthly = all(d.day == 1 for d in dates)
        labels, year = [], None
        for d in dates:
            text = format_date(d, "month" if monthly else "short", year=d.year)
            if d.year != year:
                text += (" " if self.one_line else "\n") + str(d.year)
                year = d.year
            labels.append(text)
        return labels


def below_axis_labels(ax: mpl.axes.Axes, inches: float = 0.72) -> mpl.transforms.Transform:
    """A transform for a legend hung under an axes (anchor ``(x, 0)``): axes coordinates moved down by
    ``inches``, clear of two-line date ticks and the axis label whatever the figure's height."""
    return ax.transAxes + mpl.transforms.ScaledTranslation(0.0, -inches, ax.figure.dpi_scale_trans)


def english_date_axis(axis: mpl.axis.Axis, minticks: int = 5, maxticks: int = 12) -> None:
    """Date ticks on ``axis`` from an :class:`AutoDateLocator`, written by :class:`EnglishDateFormatter`."""
    axis.set_major_locator(AutoDateLocator(minticks=minticks, maxticks=maxticks))
    axis.set_major_formatter(EnglishDateFormatter())


__all__ = [
    "STYLE_FILE",
    "EnglishDateFormatter",
    "below_axis_labels",
    "english_date_axis",
    "font_size",
    "plot_style",
    "styled",
]
