"""The results store and the command line, end to end in temporary folders."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from sim import load_scenario, run
from sim.batch.store import StoreError, load_results, save_results
from sim.commands.main import main

ROOT = Path(__file__).resolve().parents[1]
BASELINE = ROOT / "scenarios" / "baseline.toml"
BAD_UNKNOWN_KEY = """extends = "{base}"
[funding]
runway_dayz = 30
"""


@pytest.fixture(scope="module")
def small():
    return run(load_scenario(BASELINE, ["horizon_days=365"]), runs=30, seed=1)


def test_save_then_load_round_trips(small, tmp_path: Path) -> None:
    folder = save_results(small, root=tmp_path)
    assert folder.parent == tmp_path / "baseline"
    assert {p.name for p in folder.iterdir()} == {"manifest.json", "replications.parquet", "bands.parquet",
                                                   "summary.csv", "delays.parquet", "delays_summary.csv",
                                                   "strength.parquet", "strength_summary.csv"}
    loaded = load_results(folder)
    pd.testing.assert_frame_equal(loaded.replications, small.replications)
    pd.testing.assert_frame_equal(loaded.bands, small.bands)
    pd.testing.assert_frame_equal(loaded.delays, small.delays)
    pd.testing.assert_frame_equal(loaded.strength, small.strength)
    assert loaded.scenario == small.scenario
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["seed"] == 1 and manifest["runs"] == 30
    assert manifest["versions"]["simpy"] and manifest["versions"]["deploysim"]
    summary = pd.read_csv(folder / "summary.csv")
    assert set(summary["kind"]) == {"milestone", "total"}


def test_default_run_ids_never_collide(small, tmp_path: Path) -> None:
    first = save_results(small, root=tmp_path)
    second = save_results(small, root=tmp_path)
    assert first != second and first.exists() and second.exists()


def test_existing_run_is_not_overwritten_without_force(small, tmp_path: Path) -> None:
    folder = save_results(small, folder=tmp_path / "run")
    before = (folder / "manifest.json").read_text()
    with pytest.raises(StoreError, match="already exists"):
        save_results(small, folder=folder)
    assert (folder / "manifest.json").read_text() == before
    save_results(small, folder=folder, force=True)
    assert [p.name for p in tmp_path.iterdir()] == ["run"]


def test_interrupted_write_leaves_nothing_that_looks_complete(small, tmp_path: Path) -> None:
    def interrupt(_: Path) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        save_results(small, folder=tmp_path / "run", extra=interrupt)
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(StoreError, match="does not exist"):
        load_results(tmp_path / "run")


def test_cli_run_writes_tables_and_figures(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "baseline-run"
    code = main(["run", str(BASELINE), "--runs", "40", "--seed", "5", "--out", str(out), "--quiet",
                 "--set", "horizon_days=400"])
    printed = capsys.readouterr().out
    assert code == 0
    assert "First contingent lands" in printed and str(out) in printed
    for name in ("manifest.json", "replications.parquet", "bands.parquet", "summary.csv"):
        assert (out / name).is_file()
    figures = sorted(p.name for p in (out / "figures").glob("*.png"))
    assert len(figures) >= 3
    assert all((out / "figures" / f).stat().st_size > 10_000 for f in figures)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["scenario"]["horizon_days"] == 400
    assert pd.read_parquet(out / "replications.parquet").shape[0] == 40

    # Same folder again: refused, exit 2, nothing changed; --force replaces it.
    stamp = (out / "manifest.json").stat().st_mtime_ns
    assert main(["run", str(BASELINE), "--runs", "5", "--out", str(out), "--quiet"]) == 2
    assert "--force" in capsys.readouterr().err
    assert (out / "manifest.json").stat().st_mtime_ns == stamp
    assert main(["run", str(BASELINE), "--runs", "5", "--out", str(out), "--quiet", "--force", "--no-plots"]) == 0
    assert json.loads((out / "manifest.json").read_text())["runs"] == 5


def test_cli_plot_redraws_figures(small, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = save_results(small, folder=tmp_path / "run")
    assert main(["plot", str(folder)]) == 0
    assert len(list((folder / "figures").glob("*.png"))) >= 3
    assert main(["plot", str(tmp_path / "nowhere")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_cli_validate(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", *map(str, sorted((ROOT / "scenarios").glob("*.toml")))]) == 0
    assert capsys.readouterr().out.count("ok: ") == len(list((ROOT / "scenarios").glob("*.toml")))
    bad = tmp_path / "bad.toml"
    bad.write_text(BAD_UNKNOWN_KEY.format(base=BASELINE.as_posix()))
    assert main(["validate", str(bad)]) == 2
    err = capsys.readouterr().err
    assert f"{bad}:3: funding.runway_dayz: unknown key 'runway_dayz'; did you mean 'runway_days'?" in err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["run", "missing.toml"], "missing.toml: no such file"),
        (["run", str(BASELINE), "--set", "horizon_days=-5"], "horizon_days"),
        (["run", str(BASELINE), "--set", "force.pledged_oficers=5"], "did you mean 'pledged_officers'"),
        (["run", str(BASELINE), "--runs", "zero"], "expected a whole number"),
        (["run", str(BASELINE), "--seed", "-3"], "non-negative"),
    ],
)
def test_user_errors_exit_2_without_traceback(args: list[str], message: str, tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "sim", *args, "--results-root", str(tmp_path)],
                          capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr
    assert list(tmp_path.iterdir()) == []


def test_help_shows_examples() -> None:
    proc = subprocess.run([sys.executable, "-m", "sim", "run", "--help"], capture_output=True, text=True)
    assert proc.returncode == 0
    assert "examples:" in proc.stdout and "--set" in proc.stdout


def test_trace_agrees_with_the_batch_row(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    scenario = load_scenario(BASELINE)
    batch = run(scenario, runs=8, seed=21).replications
    out = tmp_path / "timeline.png"
    assert main(["trace", str(BASELINE), "--replication", "5", "--seed", "21", "--out", str(out)]) == 0
    story = capsys.readouterr().out
    assert out.is_file() and out.stat().st_size > 10_000
    row = batch.iloc[5]
    for milestone in ("administration_viable", "recon_done", "first_arrival"):
        day = row[f"{milestone}_day"]
        if not pd.isna(day):
            assert scenario.date_of(day).isoformat() in story, milestone
    from sim import simulate

    traced = simulate(scenario, seed=21, replication=5, trace=True).row()
    for key, value in traced.items():
        if isinstance(value, float):
            assert value == pytest.approx(row[key], nan_ok=True), key


@pytest.mark.parametrize("command", ["run", "validate", "plot", "show"])
def test_each_command_help_has_a_description_and_its_own_examples(command: str, capsys) -> None:
    assert main([command, "--help"]) == 0  # help is printed, not an error
    text = capsys.readouterr().out
    usage, _, rest = text.partition("\n\n")
    assert rest.split("\n")[0].strip() and not rest.startswith("positional"), "a description after the usage"
    examples = text[text.index("examples:"):].splitlines()[1:]
    commands = [line.split()[1] for line in examples if line.startswith("  deploysim ")]
    assert commands and set(commands) == {command}, "only this command's examples"
