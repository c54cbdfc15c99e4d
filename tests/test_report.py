"""The HTML report: its sentences quote its tables, it needs no network, and it renders cleanly in Chromium.

The browser tests load a copy of the report with a small probe script placed before the page's
Content-Security-Policy: the probe records every failed load, script error, policy violation and
console.error, and on load writes whether each image decoded into the DOM, which ``--dump-dom`` prints.
A negative control feeds the same checks a page with a broken image, a blocked external image and a
deliberate console error, so a check that silently passes everything would fail the suite.
"""

from __future__ import annotations

import base64
import datetime as dt
import html
import json
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from sim import derive, load_scenario, run
from sim.batch.store import load_results, save_results
from sim.commands.main import main
from sim.output.plots import FIGURES

BASELINE = Path(__file__).resolve().parents[1] / "scenarios" / "baseline.toml"
AFTER = "after the horizon"
ONE_YEAR_ON = dt.date(2025, 3, 14)
CHROMIUM = shutil.which("chromium")
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None, reason="Debian's chromium is not installed here (.ci/run installs it, so CI runs this test)"
)


# -- fixtures ---------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def stored(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 100-run baseline in the store, with one extra figure of its own in figures/."""
    folder = save_results(run(load_scenario(BASELINE), runs=100, seed=1),
                          folder=tmp_path_factory.mktemp("store") / "baseline")
    extra = Figure(figsize=(3, 2))
    extra.add_subplot().plot([0, 1], [1, 0])
    (folder / "figures").mkdir()
    extra.savefig(folder / "figures" / "custom_extra.png", format="png", dpi=50)
    return folder


@pytest.fixture(scope="module")
def report(stored: Path) -> Path:
    assert main(["report", str(stored), "--deadline", f"one year on={ONE_YEAR_ON}"]) == 0
    return stored / "report.html"


@pytest.fixture(scope="module")
def page(report: Path) -> Page:
    return Page.of(report.read_text(encoding="utf-8"))


# -- the numbers ------------------------------------------------------------------------------------------------


def test_first_landing_sentence_quotes_the_milestone_table(page: Page) -> None:
    p10, p50, p80, p90, reached = page.rows["milestone-first_arrival"][1:]
    sentence = page.finding("first contingent lands")
    assert p50 != AFTER, "the baseline lands in most runs"
    assert f"In half the runs Kenya's first contingent lands by {p50}" in sentence
    if p80 != AFTER:
        assert f"in 80% of runs by {p80}" in sentence
    if p90 != AFTER:
        assert f"in 90% by {p90}" in sentence
    share = re.search(r"It lands within the simulated two years \(to 14 March 2026\) in (?:over |only )?(\d+)% of runs",
                      sentence)
    if share is None:
        assert "in every run" in sentence and reached == "100%"
    else:
        assert abs(int(share[1]) - _percent(reached)) <= 0.5


def test_pledge_sentence_quotes_the_milestone_table(page: Page) -> None:
    _, _, p50, p80, _, reached = page.rows["milestone-lead_100pct"]
    sentence = page.finding("pledge (1,000 officers) is delivered")
    if p50 != AFTER:
        assert f"In half the runs all of Kenya's pledge (1,000 officers) is delivered by {p50}" in sentence
    if p80 != AFTER:
        assert f"in 80% of runs by {p80}" in sentence
    share = re.search(r"delivered within the simulated two years in (?:only )?(\d+)% of runs", sentence)
    assert share and abs(int(share[1]) - _percent(reached)) <= 0.5


def test_quantile_dates_are_the_dates_by_which_that_share_of_runs_got_there(stored: Path, page: Page) -> None:
    reps = pd.read_parquet(stored / "replications.parquet")
    start = dt.date(2024, 3, 14)
    dates = [start + dt.timedelta(days=int(d)) if not np.isnan(d) else None for d in reps["first_arrival_day"]]
    for column, q in ((2, 0.5), (3, 0.8)):
        text = page.rows["milestone-first_arrival"][column]
        day = dt.datetime.strptime(text, "%d %B %Y").date()
        by = np.mean([d is not None and d <= day for d in dates])
        before = np.mean([d is not None and d < day for d in dates])
        assert before < q <= by, (text, before, by)


def test_the_parameter_table_gives_every_value_its_source(page: Page) -> None:
    from sim.scenario.parameters import parameter_table

    table = parameter_table("baseline")
    for row in table.itertuples():
        cells = page.rows[f"parameter-{row.key}"]
        assert cells[:4] == [row.key, row.value, row.unit, row.basis]
    assert page.rows["parameter-funding.pledges.canada.amount_usd"][3] == "source"


def test_where_the_days_went_quotes_the_run_s_delay_table(stored: Path, page: Page) -> None:
    results = load_results(stored)
    table = results.delay_summary(["first_arrival"]).set_index("cause")
    for cause, row in table.iterrows():
        cells = page.rows[f"delay-first_arrival-{cause.replace(' ', '-')}"]
        assert cells[1] == cause and float(cells[2]) == pytest.approx(row["mean_days"], abs=0.05)
    sentence = page.finding("Of the ")
    assert f"Of the {table['milestone_mean_day'].iloc[0]:.0f} days the first landing takes" in sentence
    top = table.index[0]
    assert f"{top} {table['mean_days'].iloc[0]:.0f}" in sentence


def test_binding_sentence_quotes_the_binding_table(page: Page) -> None:
    cell = page.rows["binding-first_arrival"][2]
    table = {name: float(share) for name, share in re.findall(r"(?:^|, )(.+?) (\d+(?:\.\d+)?)%", cell)}
    assert table and abs(sum(table.values()) - 100) < 0.5
    sentence = page.finding("What held the first landing back last")
    quoted = {name: int(m[1]) for name in table if (m := re.search(re.escape(name) + r" in (\d+)%", sentence))}
    top = max(table, key=table.get)
    assert top in quoted, "the main constraint is named"
    assert "money in the trust fund" in sentence, "money is always answered"
    for name, share in quoted.items():
        assert abs(share - table[name]) <= 0.5, name
    reached = page.rows["binding-first_arrival"][1]
    if reached != "100%":
        assert f"in the {round(_percent(reached))}% of runs where it happened" in sentence or "over 99%" in sentence


def test_deadline_sentences_quote_the_deadline_table_and_the_replications(stored: Path, page: Page) -> None:
    reps = pd.read_parquet(stored / "replications.parquet")
    for name, date, label in (("one year on", ONE_YEAR_ON, "14 March 2025"),
                              ("the mandate's first expiry", dt.date(2024, 10, 2), "2 October 2024")):
        row = next(r for r in page.tables["deadlines"] if r[0] == name)
        assert row[1] == label
        share, low, high = re.fullmatch(r"([\d.]+)%([\d.]+)–([\d.]+)%", row[2]).groups()
        day = (date - dt.date(2024, 3, 14)).days
        landed = float(np.mean(np.floor(reps["first_arrival_day"].fillna(np.inf)) <= day))
        assert float(share) == pytest.approx(landed * 100, abs=0.05)
        assert float(low) < float(share) < float(high) or float(share) in (0.0, 100.0)
        sentence = page.finding(f"By {name} ({label})")
        said = re.search(r"has landed in (\d+)% of runs \(95% CI (\d+)–(\d+)%\)", sentence)
        assert said, sentence
        assert abs(int(said[1]) - landed * 100) <= 0.5
        assert (int(said[2]), int(said[3])) == (round(float(low)), round(float(high)))


def test_money_and_withdrawal_sentences_match_the_replications(stored: Path, page: Page) -> None:
    reps = pd.read_parquet(stored / "replications.parquet")
    sentence = page.finding("Running costs go unpaid")
    ever = re.search(r"unpaid for a time in (\d+)% of runs", sentence)
    assert abs(int(ever[1]) - 100 * float((reps["arrears_days"] > 0).mean())) <= 0.5
    withdrew = re.search(r"Kenya withdraws over unpaid running costs .* in (\d+)% of runs",
                         page.finding("withdraws over unpaid"))
    assert abs(int(withdrew[1]) - 100 * float(reps["lead_withdrawal_day"].notna().mean())) <= 0.5
    assert abs(int(withdrew[1]) - _percent(page.rows["milestone-lead_withdrawal"][5])) <= 0.5


def test_deadlines_stored_with_a_run_are_reported(tmp_path: Path) -> None:
    folder = tmp_path / "run"
    assert main(["run", str(BASELINE), "--runs", "20", "--seed", "3", "--out", str(folder), "--quiet", "--no-plots",
                 "--deadline", "year_end=2024-12-31"]) == 0
    assert main(["report", str(folder)]) == 0
    stored = Page.of((folder / "report.html").read_text(encoding="utf-8"))
    assert "By year end (31 December 2024) Kenya's first contingent has landed in" in " ".join(stored.findings)
    assert [row[0] for row in stored.tables["deadlines"]] == ["year end", "the mandate's first expiry"]


def test_every_table_is_there_with_human_dates(page: Page) -> None:
    assert len(page.tables["milestones"]) == 16
    assert {"totals", "binding", "deadlines"} <= set(page.tables)
    dates = [cell for row in page.tables["milestones"] for cell in row[1:5]]
    assert all(cell == AFTER or re.fullmatch(r"\d{1,2} [A-Z][a-z]+ \d{4}", cell) for cell in dates)
    assert page.about["Runs"] == "100" and page.about["Seed"] == "1" and page.about["Scenario"] == "baseline"
    assert page.about["Versions"].startswith("deploysim ")


# -- self-contained ---------------------------------------------------------------------------------------------


def test_report_needs_no_network_and_embeds_every_figure(report: Path, page: Page) -> None:
    text = report.read_text(encoding="utf-8")
    for forbidden in ("http://", "https://", "<script", "<link", "url(", "@import", "<iframe"):
        assert forbidden not in text, forbidden
    assert all(src.startswith("data:image/png;base64,") for src, _ in page.images)
    assert [alt for _, alt in page.images][-1] == "From the run's folder: figures/custom_extra.png."
    assert len(page.images) == len(FIGURES) + 2
    for src, alt in page.images:
        png = base64.b64decode(src.removeprefix("data:image/png;base64,"), validate=True)
        assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 1000, alt
        assert alt, "every image has alternative text"


# -- the command line -------------------------------------------------------------------------------------------


def test_cli_refuses_to_overwrite_without_force(report: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = report.read_bytes()
    assert main(["report", str(report.parent)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "already exists; pass --force" in err
    assert report.read_bytes() == before
    assert main(["report", str(report.parent), "--deadline", f"one year on={ONE_YEAR_ON}", "--force"]) == 0
    assert report.read_bytes() == before, "the same run and options give the same bytes"
    assert not [p for p in report.parent.iterdir() if p.name.endswith(".partial")]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--deadline", "no date"], "deadline 'no date': expected NAME=YYYY-MM-DD"),
        (["--deadline", "x=2024-13-01"], "2024-13-01 is not a date (expected NAME=YYYY-MM-DD)"),
        (["--deadline", "late=2030-01-01"], "is outside run"),
        (["--deadline", "a=2024-05-01", "--deadline", "a=2024-06-01"], "the name 'a' is given twice"),
    ],
)
def test_cli_user_errors_are_one_line(stored: Path, tmp_path: Path, extra: list[str], message: str,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "r.html"
    assert main(["report", str(stored), "--out", str(out), *extra]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err
    assert list(tmp_path.iterdir()) == []


def test_cli_missing_folder_and_folder_as_output(stored: Path, tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", str(tmp_path / "nowhere")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["report", str(stored), "--out", str(tmp_path)]) == 2
    assert "is a folder" in capsys.readouterr().err


def test_interrupted_write_leaves_no_file(stored: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import sim.output.report

    def interrupted(*args: object, **kwargs: object) -> str:
        raise KeyboardInterrupt

    monkeypatch.setattr(sim.output.report, "build_report", interrupted)
    with pytest.raises(KeyboardInterrupt):
        sim.output.report.write_report([stored], tmp_path / "r.html")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_observed_adds_a_backtest_section_quoting_the_backtest_command(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    observed = Path(__file__).resolve().parents[1] / "observations" / "mss_haiti.toml"
    folder = tmp_path / "run"
    assert main(["run", "baseline", "--runs", "20", "--seed", "5", "--out", str(folder), "--quiet",
                 "--no-plots"]) == 0
    capsys.readouterr()
    assert main(["backtest", str(folder), "--observed", str(observed), "--out", str(tmp_path / "bt"),
                 "--quiet", "--no-plots"]) == 0
    printed = capsys.readouterr().out.splitlines()
    out = tmp_path / "r.html"
    assert main(["report", str(folder), "--out", str(out), "--observed", str(observed)]) == 0
    capsys.readouterr()
    page = Page.of(out.read_text(encoding="utf-8"))
    assert "Back-test against observations" in page.headings
    assert {"Scores", "Calibration", "Forecast against actual"} <= set(page.headings)
    rows = page.tables["backtest"]
    scored = pd.read_csv(tmp_path / "bt" / "backtest.csv")["scored"].sum()
    assert len(rows) == scored > 0
    # Every row says what the back-test command printed for that observation, column for column.
    kinds = ("  milestone ", "  not_reached ", "  strength ", "  money ")
    lines = [line.split() for line in printed if line.startswith(kinds)]
    assert [" ".join(row).split() for row in rows] == lines
    assert any(line.startswith("Calibration over") for line in printed)
    assert page.finding("inside the 90% interval:") in " ".join(printed)
    assert any(alt.startswith("Forecast against actual") for _, alt in page.images)
    # Without --observed the page has no such section.
    plain = tmp_path / "plain.html"
    assert main(["report", str(folder), "--out", str(plain)]) == 0
    assert "Back-test" not in plain.read_text(encoding="utf-8")


def test_observed_errors_are_one_line(stored: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "x"\nstart_date = 2024-03-14\n[[milestone]]\nname = "first_arival"\n'
                   'date = 2024-06-25\nsource = "s"\n', encoding="utf-8")
    out = tmp_path / "r.html"
    assert main(["report", str(stored), "--out", str(out), "--observed", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "first_arival" in err and err.count("\n") == 1 and "Traceback" not in err
    assert not out.exists()


def test_several_runs_get_a_section_each_and_a_comparison(stored: Path, tmp_path: Path) -> None:
    other = derive(load_scenario(BASELINE), {"name": "short_runway", "funding.runway_days": 30})
    second = save_results(run(other, runs=100, seed=1), folder=tmp_path / "short_runway")
    out = tmp_path / "both.html"
    assert main(["report", str(stored), str(second), "--out", str(out)]) == 0
    both = Page.of(out.read_text(encoding="utf-8"))
    assert {"run-1", "run-2", "overview"} <= both.ids
    assert [row[0] for row in both.tables["overview"]] == [f"baseline ({stored.name})", "short_runway (short_runway)"]
    assert "short_runway (short_runway) compared with baseline (baseline)" in both.headings
    try:
        from sim.analysis.compare import config_diff, paired_differences  # noqa: F401
    except ImportError:
        assert "Paired differences are not available" in both.text
    else:
        assert "What the scenarios set differently" in both.headings and "Paired differences" in both.headings
        assert ["funding.runway_days", "90", "30"] in both.tables["config"]
        assert len(both.tables["paired"]) == 16


# -- in a browser -----------------------------------------------------------------------------------------------

PROBE = """<script>
(function () {
  var errors = [], violations = [];
  window.addEventListener("error", function (e) {
    var t = e.target;
    errors.push(t && t.tagName ? "failed to load " + t.tagName.toLowerCase() : "uncaught: " + e.message);
  }, true);
  document.addEventListener("securitypolicyviolation", function (e) {
    violations.push(e.effectiveDirective + " blocked " + e.blockedURI);
  });
  var original = console.error;
  console.error = function () {
    errors.push("console.error: " + Array.prototype.join.call(arguments, " "));
    return original.apply(console, arguments);
  };
  window.addEventListener("load", function () { setTimeout(function () {
    var images = Array.prototype.slice.call(document.images);
    var result = {images: images.length, errors: errors, violations: violations,
                  broken: images.filter(function (i) { return !(i.complete && i.naturalWidth > 0); })
                                .map(function (i) { return i.alt || i.src.slice(0, 40); })};
    var pre = document.createElement("pre");
    pre.id = "probe";
    pre.textContent = JSON.stringify(result);
    document.body.appendChild(pre);
  }, 200); });
})();
</script>
"""
CHARSET = '<meta charset="utf-8">'
CSP_META = '<meta http-equiv="Content-Security-Policy"'
# Chromium 156 logs every console message, whatever its level, as "INFO:CONSOLE:<line>"; older builds wrote
# "INFO:CONSOLE(<line>)" or "ERROR:CONSOLE". The report has no scripts, so any console line at all is a problem.
CONSOLE_LINE = re.compile(r":CONSOLE[:(]|Uncaught")


def browser_problems(page_html: str, folder: Path, expected_images: int) -> list[str]:
    """Load ``page_html`` (with the probe) in headless Chromium; every problem it shows, as text.

    Reads two witnesses: Chromium's stderr (any console line: the report has no scripts, so the browser
    itself wrote it) and the probe's report in the dumped DOM (failed loads, script errors, policy
    violations, console.error calls, images that did not decode, the number of images)."""
    assert CHARSET in page_html and CSP_META in page_html
    # Before the policy, so the probe may run; everything after it still loads under the policy.
    probed = page_html.replace(CHARSET, CHARSET + PROBE, 1)
    path = folder / "probed.html"
    path.write_text(probed, encoding="utf-8")
    proc = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         f"--user-data-dir={folder / 'profile'}", "--enable-logging=stderr", "--v=0",
         # Virtual time runs the probe's 200 ms settling delay (late policy reports) before the DOM is dumped.
         "--virtual-time-budget=2000", "--dump-dom",
         path.as_uri()],
        capture_output=True, text=True, timeout=90,
    )
    problems = [f"console: {line.strip()[:200]}" for line in proc.stderr.splitlines() if CONSOLE_LINE.search(line)]
    found = re.search(r'<pre id="probe">(.*?)</pre>', proc.stdout, re.S)
    if proc.returncode != 0 or found is None:
        return [*problems, f"chromium exited {proc.returncode} without the probe's report: {proc.stderr[-500:]}"]
    probe = json.loads(html.unescape(found[1]))
    problems += [f"page: {e}" for e in probe["errors"]] + [f"policy: {v}" for v in probe["violations"]]
    problems += [f"image did not load: {alt[:60]}" for alt in probe["broken"]]
    if probe["images"] != expected_images:
        problems.append(f"{probe['images']} images on the page, expected {expected_images}")
    return problems


@needs_chromium
def test_report_renders_in_chromium_with_every_image_and_no_console_error(report: Path, tmp_path: Path) -> None:
    assert browser_problems(report.read_text(encoding="utf-8"), tmp_path, len(FIGURES) + 2) == []


@needs_chromium
def test_browser_checks_catch_broken_images_blocked_fetches_and_console_errors(report: Path, tmp_path: Path) -> None:
    broken = (
        '<img src="data:image/png;base64,AAAA" alt="deliberately broken">'
        '<img src="https://example.invalid/x.png" alt="deliberately external">'
    )
    tampered = report.read_text(encoding="utf-8").replace(
        CSP_META, '<script>console.error("deliberate console error"); deliberatelyUndefined();</script>' + CSP_META, 1
    ).replace("</footer>", "</footer>" + broken, 1)
    problems = browser_problems(tampered, tmp_path, len(FIGURES) + 2)
    text = "\n".join(problems)
    assert "image did not load: deliberately broken" in text
    assert "image did not load: deliberately external" in text
    assert "page: console.error: deliberate console error" in text
    assert re.search(r"console: .*deliberate console error", text), "console output on stderr is read"
    assert "page: uncaught: Uncaught ReferenceError: deliberatelyUndefined" in text
    assert re.search(r"console: .*Uncaught ReferenceError: deliberatelyUndefined", text)
    assert re.search(r"(policy|console): .*example\.invalid", text), "the policy blocks the external image"
    assert f"{len(FIGURES) + 4} images on the page" in text


# -- reading the page -------------------------------------------------------------------------------------------


def _percent(cell: str) -> float:
    return float(cell.removesuffix("%"))


class Page(HTMLParser):
    """The parts of a report the tests read: findings, tables by class, rows by id, images, headings."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.findings: list[str] = []
        self.tables: dict[str, list[list[str]]] = {}
        self.rows: dict[str, list[str]] = {}
        self.images: list[tuple[str, str]] = []
        self.headings: list[str] = []
        self.ids: set[str] = set()
        self.about: dict[str, str] = {}
        self.text = ""
        self._table: str | None = None
        self._row: list[str] | None = None
        self._row_id: str | None = None
        self._cell: list[str] | None = None
        self._li: list[str] | None = None
        self._heading: list[str] | None = None
        self._term: list[str] | None = None
        self._definition: list[str] | None = None
        self._last_term = ""
        self._in_findings = False
        self._in_caption = False

    @classmethod
    def of(cls, text: str) -> Page:
        page = cls()
        page.feed(text)
        page.close()
        return page

    def finding(self, fragment: str) -> str:
        matches = [f for f in self.findings if fragment in f]
        assert matches, f"no finding contains {fragment!r}: {self.findings}"
        return matches[0]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if a.get("id"):
            self.ids.add(a["id"])
        if tag == "table":
            self._table = a.get("class") or ""
            self.tables.setdefault(self._table, [])
        elif tag == "caption":
            self._in_caption = True
        elif tag == "tr" and self._table is not None:
            self._row, self._row_id = [], a.get("id")
        elif tag in ("td",) and self._row is not None:
            self._cell = []
        elif tag == "ul" and a.get("class") == "findings":
            self._in_findings = True
        elif tag == "li" and self._in_findings:
            self._li = []
        elif tag in ("h1", "h2", "h3"):
            self._heading = []
        elif tag == "dt":
            self._term = []
        elif tag == "dd":
            self._definition = []
        elif tag == "img":
            self.images.append((a.get("src") or "", a.get("alt") or ""))

    def handle_endtag(self, tag: str) -> None:
        if tag == "table":
            self._table = None
        elif tag == "caption":
            self._in_caption = False
        elif tag == "tr" and self._row is not None:
            if self._row:
                self.tables[self._table or ""].append(self._row)
                if self._row_id:
                    self.rows[self._row_id] = self._row
            self._row = None
        elif tag == "td" and self._cell is not None and self._row is not None:
            self._row.append("".join(self._cell).strip())
            self._cell = None
        elif tag == "ul":
            self._in_findings = False
        elif tag == "li" and self._li is not None:
            self.findings.append("".join(self._li).strip())
            self._li = None
        elif tag in ("h1", "h2", "h3") and self._heading is not None:
            self.headings.append("".join(self._heading).strip())
            self._heading = None
        elif tag == "dt" and self._term is not None:
            self._last_term, self._term = "".join(self._term).strip(), None
        elif tag == "dd" and self._definition is not None:
            self.about[self._last_term] = "".join(self._definition).strip()
            self._definition = None

    def handle_data(self, data: str) -> None:
        self.text += data
        for buffer in (self._cell, self._li, self._heading, self._term, self._definition):
            if buffer is not None and not self._in_caption:
                buffer.append(data)
