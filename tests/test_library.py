"""The scenario library: names instead of paths, from any working directory, and its listing."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from sim import ScenarioError, load_scenario
from sim.commands.main import COMMAND_MODULES, main
from sim.scenario.library import NotInLibrary, is_name, library, library_folder, library_names, resolve

ROOT = Path(__file__).resolve().parents[1]
REPOSITORY_SCENARIOS = ROOT / "scenarios"


@pytest.fixture(autouse=True)
def elsewhere(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Every test runs from an empty folder: names must not depend on the working directory."""
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    return work


def test_the_library_is_the_repository_folder() -> None:
    assert library_folder() == (ROOT / "sim" / "scenarios")
    assert REPOSITORY_SCENARIOS.resolve() == library_folder().resolve()
    assert library_names() == sorted(p.stem for p in REPOSITORY_SCENARIOS.glob("*.toml"))
    assert {"baseline", "donors_pay_late", "airport_reopens"} <= set(library_names())


def test_a_name_loads_the_same_scenario_as_its_path() -> None:
    by_name = load_scenario("baseline", ["horizon_days=365"])
    by_path = load_scenario(REPOSITORY_SCENARIOS / "baseline.toml", ["horizon_days=365"])
    assert by_name == by_path and by_name.name == "baseline"
    # A variant's `extends = "baseline.toml"` resolves inside the library.
    assert load_scenario("donors_pay_late").name == "donors_pay_late"


@pytest.mark.parametrize(("text", "expected"), [
    ("baseline", True), ("donors_pay_late", True), ("baseline.toml", False), ("scenarios/baseline", False),
    ("./baseline", False), ("/abs/baseline", False), ("..", False), ("", False),
])
def test_what_counts_as_a_bare_name(text: str, expected: bool) -> None:
    assert is_name(text) is expected


def test_a_misspelt_name_gets_a_did_you_mean() -> None:
    with pytest.raises(ScenarioError) as info:
        load_scenario("baselin")
    [problem] = info.value.problems
    assert problem.source == "baselin"
    assert "no scenario 'baselin' in the library; did you mean 'baseline'?" in problem.message
    with pytest.raises(NotInLibrary, match="did you mean 'donors_pay_late'"):
        resolve("donors_pay_lat")


def test_paths_work_as_before(elsewhere: Path) -> None:
    # A .toml in the working directory named like a library scenario is the file, not the library's.
    (elsewhere / "baseline.toml").write_text('extends = "{}"\nname = "mine"\n'.format(
        (library_folder() / "baseline.toml").as_posix()))
    assert load_scenario("baseline.toml").name == "mine"
    assert load_scenario("baseline").name == "baseline"
    # A file without .toml that is not in the library is still read as a path.
    (elsewhere / "plain").write_text('extends = "baseline"\nname = "plain"\n')
    assert load_scenario("plain").name == "plain"
    with pytest.raises(ScenarioError, match="no such file"):
        load_scenario("missing.toml")


def test_a_file_anywhere_can_extend_a_library_scenario_by_name(elsewhere: Path) -> None:
    mine = elsewhere / "sub" / "late.toml"
    mine.parent.mkdir()
    mine.write_text('extends = "donors_pay_late"\nname = "later"\n\n[funding]\nrunway_days = 30\n')
    scenario = load_scenario(mine)
    assert scenario.name == "later" and scenario.funding.runway_days == 30
    assert scenario.funding.pledges == load_scenario("donors_pay_late").funding.pledges


def test_a_misspelt_parent_name_points_at_the_extends_line(elsewhere: Path) -> None:
    mine = elsewhere / "mine.toml"
    mine.write_text('name = "mine"\nextends = "baselne"\n')
    with pytest.raises(ScenarioError) as info:
        load_scenario(mine)
    [problem] = info.value.problems
    assert (problem.source, problem.key, problem.line) == (str(mine), "extends", 2)
    assert "did you mean 'baseline'?" in problem.message


def test_every_entry_has_a_one_line_question() -> None:
    entries = library()
    assert [e.name for e in entries] == library_names()
    for entry in entries:
        description = tomllib.loads(entry.path.read_text())["description"]
        assert entry.question and "\n" not in entry.question
        assert " ".join(description.split()).startswith(entry.question)
        assert entry.question[-1] in ".?!"
    questions = {e.name: e.question for e in entries}
    assert questions["airport_reopens"] == (
        "What if Port-au-Prince's airport were open from the start date and never closed again?")


def test_the_scenarios_command_lists_the_library(capsys: pytest.CaptureFixture[str]) -> None:
    assert "sim.commands.scenarios" in COMMAND_MODULES
    assert main(["scenarios"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    for entry in library():
        [line] = [x for x in lines if x.startswith(f"{entry.name} ")]
        assert entry.question.split()[0] in line
    assert f"{len(library())} scenarios in {library_folder()}" in out
    assert main(["scenarios", "--paths"]) == 0
    assert str(library_folder() / "baseline.toml") in capsys.readouterr().out


def test_commands_take_names(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", "baseline", "kenya_alone"]) == 0
    assert capsys.readouterr().out.count("ok: ") == 2
    assert main(["validate", "kenya_alon"]) == 2
    assert "did you mean 'kenya_alone'?" in capsys.readouterr().err
