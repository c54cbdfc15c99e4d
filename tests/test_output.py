"""The output layer's shared parts: dates and names as people read them, the one figure style, figures drawn on
a caller's axes, the thin plot methods, and the report's templates."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
import textwrap
from pathlib import Path

import matplotlib as mpl
import pytest
from matplotlib.dates import date2num
from matplotlib.figure import Figure

from sim import compare, derive, load_scenario, run
from sim import plot as sim_plot
from sim.batch.results import Results
from sim.output import plots
from sim.output.compare_figures import COMPARISON_KINDS
from sim.output.report import build_report
from sim.output.style import STYLE_FILE, EnglishDateFormatter, font_size, plot_style
from sim.output.text import display_name, format_date

BASELINE = Path(__file__).resolve().parents[1] / "scenarios" / "baseline.toml"
OUTPUT = Path(__file__).resolve().parents[1] / "sim" / "output"


@pytest.fixture(scope="module")
def results() -> Results:
    return run(derive(load_scenario(BASELINE), {"horizon_days": 200}), runs=20, seed=3)


# -- text -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("style", "year", "expected"),
    [("long", None, "3 August 2024"), ("short", None, "3 Aug 2024"), ("short", 2024, "3 Aug"),
     ("short", 2025, "3 Aug 2024"), ("month", None, "Aug 2024"), ("month_long", None, "August 2024")],
)
def test_format_date_writes_english_without_leading_zeros(style: str, year: int | None, expected: str) -> None:
    for value in (dt.date(2024, 8, 3), dt.datetime(2024, 8, 3, 17, 5), dt.datetime(2024, 8, 3).astimezone()):
        assert format_date(value, style, year=year) == expected  # type: ignore[arg-type]


def test_format_date_refuses_a_missing_date() -> None:
    with pytest.raises(ValueError, match="needs a date"):
        format_date(None)  # type: ignore[arg-type]


def test_dates_do_not_follow_the_locale() -> None:
    """Under a French LC_TIME (where strftime('%b') reads 'août'), dates and date ticks stay English."""
    script = textwrap.dedent("""
        import datetime as dt, locale
        from matplotlib.dates import date2num
        for name in ("fr_FR.UTF-8", "fr_FR.utf8", "de_DE.UTF-8", "C.UTF-8"):
            try:
                locale.setlocale(locale.LC_TIME, name)
                break
            except locale.Error:
                continue
        from sim.output.style import EnglishDateFormatter
        from sim.output.text import format_date
        day = dt.date(2024, 8, 3)
        print(format_date(day), "|", EnglishDateFormatter().format_ticks([date2num(day)])[0].replace(chr(10), " "))
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "3 August 2024 | 3 Aug 2024"


def test_no_output_module_formats_dates_with_strftime() -> None:
    for path in OUTPUT.glob("*.py"):
        text = path.read_text(encoding="utf-8")
        for pattern in ("%-d", "%b", "%B", "strftime", "ConciseDateFormatter", "DateFormatter("):
            if pattern == "DateFormatter(" and "EnglishDateFormatter(" in text:
                text = text.replace("EnglishDateFormatter(", "")
            assert pattern not in text, f"{path.name} uses {pattern}"


@pytest.mark.parametrize(
    ("key", "expected"),
    [("caricom_others", "CARICOM others"), ("us_defense_support", "US Defense Support"), ("benin", "Benin"),
     ("Kenya", "Kenya"), ("bangladesh_chad", "Bangladesh Chad"), ("un_trust_fund", "UN Trust Fund"),
     ("antigua_and_barbuda", "Antigua and Barbuda")],
)
def test_display_name(key: str, expected: str) -> None:
    assert display_name(key) == expected


def test_a_label_wins_over_the_key() -> None:
    assert display_name("caricom_others", "Other CARICOM states") == "Other CARICOM states"


def test_date_ticks_name_the_year_once_and_at_each_january() -> None:
    ticks = [date2num(dt.date(2024, m, 1)) for m in (10, 11, 12)] + [date2num(dt.date(2025, 1, 1))]
    assert EnglishDateFormatter().format_ticks(ticks) == ["Oct\n2024", "Nov", "Dec", "Jan\n2025"]
    assert EnglishDateFormatter(one_line=True).format_ticks(ticks)[-1] == "Jan 2025"
    years = [date2num(dt.date(y, 1, 1)) for y in (2024, 2025, 2026)]
    assert EnglishDateFormatter().format_ticks(years) == ["2024", "2025", "2026"]


# -- style ------------------------------------------------------------------------------------------------------


def test_the_style_file_sets_every_size_and_is_package_data() -> None:
    text = STYLE_FILE.read_text(encoding="utf-8")
    for key in ("font.size", "axes.titlesize", "axes.labelsize", "xtick.labelsize", "legend.fontsize"):
        assert f"{key}:" in text
    with plot_style():
        assert mpl.rcParams["axes.titlesize"] == font_size("title")
    assert font_size("note") < font_size("legend") < font_size("label") < font_size("title")
    pyproject = (OUTPUT.parents[1] / "pyproject.toml").read_text(encoding="utf-8")
    assert '"styles/*.mplstyle"' in pyproject and '"templates/*.j2"' in pyproject


def test_no_figure_module_keeps_its_own_font_sizes() -> None:
    for path in OUTPUT.glob("*.py"):
        text = path.read_text(encoding="utf-8")
        for name in ("_TITLE_SIZE", "_LABEL_SIZE", "_TICK_SIZE", "_LEGEND_SIZE", "_NOTE_SIZE"):
            assert name not in text, f"{path.name} defines {name}"


def test_figures_take_their_sizes_from_the_style_whatever_the_caller_set(results: Results) -> None:
    with mpl.rc_context({"axes.titlesize": 30, "axes.labelsize": 30, "font.size": 30}):
        fig = plots.fan_chart(results)
        assert mpl.rcParams["axes.titlesize"] == 30, "the caller's settings are left as they were"
    ax = fig.axes[0]
    assert ax.title.get_fontsize() == font_size("title")
    assert ax.yaxis.label.get_fontsize() == font_size("label")


# -- ax= and sim.plot ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", sorted(plots.PLOT_KINDS))
def test_each_figure_draws_on_a_given_axes_and_returns_its_figure(results: Results, kind: str) -> None:
    fig = Figure(figsize=(12, 5))
    left, right = fig.subplots(1, 2)
    assert sim_plot(results, kind, ax=right) is fig
    assert right.has_data() or right.texts
    assert not left.has_data()
    assert not [t for t in fig.texts if t.get_gid() == "provenance"], "a caller's figure gets no footer"
    assert not fig.legends, "the legend belongs to the axes drawn on"


def test_sim_plot_of_a_batch_makes_the_same_figure_as_the_function(results: Results) -> None:
    fig = sim_plot(results)
    assert isinstance(fig, Figure)
    assert [ln.get_label() for ln in fig.axes[0].get_lines()] == [
        ln.get_label() for ln in plots.fan_chart(results).axes[0].get_lines()
    ]
    assert sim_plot(results, "gantt", milestones=["first_arrival"]).axes[0].get_yticklabels()[0].get_text()
    with pytest.raises(ValueError, match="unknown kind of plot 'pie'; known: fan"):
        sim_plot(results, "pie")


def test_sim_plot_of_a_comparison(results: Results) -> None:
    other = run(derive(results.scenario, {"name": "short_runway", "funding.runway_days": 30}), runs=20, seed=3)
    comparison = compare([results, other])
    for kind in COMPARISON_KINDS:
        assert isinstance(sim_plot(comparison, kind), Figure)
    fig = Figure()
    ax = fig.add_subplot()
    assert sim_plot(comparison, "fan", ax=ax) is fig
    with pytest.raises(ValueError, match="unknown kind of comparison plot"):
        sim_plot(comparison, "pie")
    # Batches listed, the reference first, are drawn as their comparison is.
    listed = sim_plot([results, other], "scurves")
    assert [t.get_text() for t in listed.axes[0].get_legend().get_texts()] == [
        t.get_text() for t in sim_plot(comparison, "scurves").axes[0].get_legend().get_texts()]
    with pytest.raises(TypeError, match="not str"):
        sim_plot("baseline")


# -- the report's templates -------------------------------------------------------------------------------------


def test_the_report_escapes_what_a_scenario_says(results: Results) -> None:
    sneaky = derive(results.scenario, {"description": "<script>alert('x')</script> & more"})
    page = build_report([run(sneaky, runs=4, seed=1)])
    assert "<script>" not in page
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; more" in page


def test_the_templates_are_package_data() -> None:
    names = {p.name for p in (OUTPUT / "templates").iterdir()}
    assert {"page.html.j2", "section.html.j2", "macros.html.j2", "report.css"} <= names


def test_sweep_and_tornado_figures_draw_on_a_given_axes(results: Results) -> None:
    from sim.analysis.sensitivity import tornado
    from sim.analysis.sweep import sweep
    from sim.output.analysis_figures import sweep_figure, tornado_figure

    grid = sweep(results.scenario, {"funding.runway_days": [30, 90]}, runs=6, seed=2)
    table = tornado(results.scenario, "first_arrival", inputs=["reconnaissance.lead_time_days"], runs=6, seed=2)
    fig = Figure(figsize=(12, 5))
    left, right = fig.subplots(1, 2)
    assert sweep_figure(grid, "first_arrival", ax=left) is fig
    assert tornado_figure(table, ax=right) is fig
    assert left.has_data() and right.has_data()
    assert fig.get_suptitle() == "" and not [t for t in fig.texts if t.get_gid() == "provenance"]
    assert left.get_title(loc="left").startswith("First contingent lands: median")
