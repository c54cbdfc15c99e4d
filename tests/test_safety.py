"""Nothing lost: --force replaces only our own folders, creation is exclusive, a full or read-only disk
gets one line, and leftovers of killed runs are cleaned up. Everything happens in temporary folders;
devices are simulated there (a node made in the temporary folder, or a monkeypatched stat)."""

from __future__ import annotations

import builtins
import errno
import json
import os
import resource
import signal
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

import sim.batch.safeio
import sim.batch.store
from sim import load_scenario, run
from sim.batch import safeio
from sim.batch.store import StoreError, is_own_folder, load_results, save_results
from sim.commands.main import main

ROOT = Path(__file__).resolve().parents[1]
BASELINE = ROOT / "scenarios" / "baseline.toml"
QUICK = ["--runs", "2", "--quiet", "--no-plots", "--set", "horizon_days=30"]


@pytest.fixture(scope="module")
def small():
    return run(load_scenario(BASELINE, ["horizon_days=30"]), runs=3, seed=1)


def one_error_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("deploysim"), err
    assert "Traceback" not in err
    return lines[0]


def tree(folder: Path) -> dict[str, bytes | None]:
    """Every path under ``folder`` with its bytes (None for folders and special files)."""
    return {str(p.relative_to(folder)): p.read_bytes() if p.is_file() and not p.is_symlink() else None
            for p in sorted(folder.rglob("*"))}


# -- --force ------------------------------------------------------------------------------------------------


def test_force_leaves_a_plain_folder_untouched(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    (scratch / "keep").write_text("mine\n")
    before = tree(tmp_path)
    assert main(["run", str(BASELINE), *QUICK, "--out", str(scratch), "--force"]) == 2
    line = one_error_line(capsys.readouterr().err)
    assert "not a results folder written by deploysim" in line and "holding 1 entry" in line
    assert tree(tmp_path) == before


@pytest.mark.parametrize("command", [
    ["run", str(BASELINE), *QUICK],
    ["sweep", str(BASELINE), "--vary", "funding.runway_days=30,60", "--runs", "2", "--quiet", "--set",
     "horizon_days=30"],
])
def test_force_leaves_a_file_and_an_empty_folder_untouched(tmp_path: Path, command: list[str],
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "file").write_text("mine\n")
    (tmp_path / "empty").mkdir()
    before = tree(tmp_path)
    for target in ("file", "empty"):
        assert main([*command, "--out", str(tmp_path / target), "--force"]) == 2
        assert "refusing to replace it" in one_error_line(capsys.readouterr().err)
    assert tree(tmp_path) == before


def test_force_leaves_a_device_untouched(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # A character device node made inside the temporary folder where allowed (root), else a named pipe;
    # never a real one under /dev.
    device = tmp_path / "null"
    try:
        os.mknod(device, stat.S_IFCHR | 0o600, os.makedev(1, 3))
    except (PermissionError, OSError):
        os.mkfifo(device)
    kind = stat.S_IFMT(device.lstat().st_mode)
    assert main(["run", str(BASELINE), *QUICK, "--out", str(device), "--force"]) == 2
    line = one_error_line(capsys.readouterr().err)
    assert "refusing to replace it" in line and ("a device" in line or "a named pipe" in line)
    assert stat.S_IFMT(device.lstat().st_mode) == kind
    assert sorted(p.name for p in tmp_path.iterdir()) == ["null"]


def test_force_refuses_what_stat_calls_a_device(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    """The refusal rests on what the path is, as seen through stat, not on its name."""
    target = tmp_path / "looks-like-a-device"
    target.write_text("x")
    real_lstat = os.lstat

    class DeviceStat:
        def __init__(self, st: os.stat_result):
            self._st = st
            self.st_mode = stat.S_IFCHR | 0o666

        def __getattr__(self, name: str):
            return getattr(self._st, name)

    def fake_lstat(path, *args, **kwargs):
        st = real_lstat(path, *args, **kwargs)
        return DeviceStat(st) if os.fspath(path) == str(target) else st

    monkeypatch.setattr(os, "lstat", fake_lstat)
    monkeypatch.setattr(Path, "lstat", lambda self: fake_lstat(self))
    assert main(["run", str(BASELINE), *QUICK, "--out", str(target), "--force"]) == 2
    assert "a device" in one_error_line(capsys.readouterr().err)
    monkeypatch.undo()
    assert target.read_text() == "x"


def test_force_replaces_our_own_run_and_only_that(small, tmp_path: Path) -> None:
    folder = save_results(small, folder=tmp_path / "run")
    assert is_own_folder(folder)
    save_results(small, folder=folder, force=True)
    assert load_results(folder).runs == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]
    # A manifest of some other program does not make a folder ours.
    other = tmp_path / "other"
    other.mkdir()
    (other / "manifest.json").write_text(json.dumps({"name": "someone else's"}))
    with pytest.raises(StoreError, match="not a results folder written by deploysim"):
        save_results(small, folder=other, force=True)
    assert json.loads((other / "manifest.json").read_text()) == {"name": "someone else's"}


def test_report_force_replaces_only_a_report(small, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = save_results(small, folder=tmp_path / "run")
    page = tmp_path / "page.html"
    page.write_text("<html>my notes</html>")
    assert main(["report", str(folder), "--out", str(page), "--force"]) == 2
    assert "not a report written by deploysim" in one_error_line(capsys.readouterr().err)
    assert page.read_text() == "<html>my notes</html>"


@pytest.mark.parametrize("name", ["..", ".", "a/b", "../../x", ".hidden", ""])
def test_run_ids_and_scenario_names_cannot_leave_the_root(tmp_path: Path, name: str,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "root"
    assert main(["run", str(BASELINE), *QUICK, "--results-root", str(root), "--run-id", name]) == 2
    one_error_line(capsys.readouterr().err)
    scenario = tmp_path / "s.toml"
    scenario.write_text(f'extends = "{BASELINE}"\nname = "{name}"\n')
    assert main(["run", str(scenario), *QUICK, "--results-root", str(root)]) == 2
    one_error_line(capsys.readouterr().err)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.toml"]


def test_check_inside_follows_links(tmp_path: Path) -> None:
    (tmp_path / "root").mkdir()
    os.symlink(tmp_path, tmp_path / "root" / "up")
    with pytest.raises(safeio.PathError, match="lies outside"):
        safeio.check_inside(tmp_path / "root" / "up" / "x", tmp_path / "root", "run folder")


# -- exclusive creation ---------------------------------------------------------------------------------------


def test_two_writers_of_one_folder_one_wins(small, tmp_path: Path) -> None:
    """Both writers pass the up-front check, then write at the same time: exactly one result is kept."""
    folder = tmp_path / "run"
    barrier = threading.Barrier(2)
    outcomes: list[object] = []

    def writer(tag: str) -> None:
        def extra(partial: Path) -> None:
            (partial / "writer.txt").write_text(tag)
            barrier.wait(timeout=30)

        try:
            save_results(small, folder=folder, extra=extra)
            outcomes.append(tag)
        except StoreError as exc:
            outcomes.append(exc)

    threads = [threading.Thread(target=writer, args=(tag,)) for tag in ("a", "b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    winners = [o for o in outcomes if isinstance(o, str)]
    losers = [o for o in outcomes if isinstance(o, StoreError)]
    assert len(winners) == 1 and len(losers) == 1, outcomes
    assert "created meanwhile" in str(losers[0])
    assert (folder / "writer.txt").read_text() == winners[0]
    assert load_results(folder).runs == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]


def test_two_processes_with_one_run_id(tmp_path: Path) -> None:
    args = [sys.executable, "-m", "sim", "run", str(BASELINE), "--runs", "20", "--quiet", "--no-plots",
            "--set", "horizon_days=200", "--results-root", str(tmp_path), "--run-id", "same"]
    procs = [subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path)
             for _ in range(2)]
    results = [(p.wait(120), p.stderr.read()) for p in procs]
    for p in procs:
        p.stdout.close()
        p.stderr.close()
    codes = sorted(code for code, _ in results)
    assert codes == [0, 2], results
    err = next(err for code, err in results if code == 2)
    line = one_error_line(err)
    assert "already exists" in line or "created meanwhile" in line
    folder = tmp_path / "baseline" / "same"
    assert load_results(folder).runs == 20
    assert sorted(p.name for p in (tmp_path / "baseline").iterdir()) == ["same"]


# -- the machine refusing ----------------------------------------------------------------------------------


def _limited(limit_bytes: int):
    def apply() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit_bytes, limit_bytes))

    return apply


@pytest.mark.parametrize("command", [
    ["run", str(BASELINE), "--runs", "5", "--quiet", "--set", "horizon_days=200"],
    ["schema", "--out", "{tmp}/schema.json"],
    ["report", "{run}", "--out", "{tmp}/new/report.html"],
])
def test_a_full_disk_gets_one_line_and_leaves_nothing(small, tmp_path: Path, command: list[str]) -> None:
    """A file-size limit stands in for a full disk: writes fail with EFBIG, as they would with ENOSPC."""
    stored = save_results(small, folder=tmp_path / "stored")
    before = tree(tmp_path)
    argv = [a.format(tmp=tmp_path, run=stored) for a in command]
    if argv[0] == "run":
        argv += ["--results-root", str(tmp_path / "results")]
    proc = subprocess.run([sys.executable, "-m", "sim", *argv], capture_output=True, text=True, cwd=tmp_path,
                          preexec_fn=_limited(16_000), timeout=300)
    assert proc.returncode == 1, proc.stderr
    assert "too large" in one_error_line(proc.stderr).lower()
    assert tree(tmp_path) == before


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EROFS, errno.EACCES])
@pytest.mark.parametrize("command", [
    ["run", str(BASELINE), *QUICK],
    ["compare", "{run}", "{run}", "--no-plots", "--quiet"],
    ["sweep", str(BASELINE), "--vary", "funding.runway_days=30,60", "--runs", "2", "--quiet", "--set",
     "horizon_days=30"],
    ["trace", str(BASELINE), "--set", "horizon_days=30"],
    ["schema", "--out", "{tmp}/schema.json"],
    ["report", "{run}", "--out", "{tmp}/report.html"],
])
def test_the_machine_refusing_gets_exit_1_and_one_line(small, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                       capsys: pytest.CaptureFixture[str], code: int,
                                                       command: list[str]) -> None:
    stored = save_results(small, folder=tmp_path / "stored")
    monkeypatch.setattr(sim.batch.store, "git_commit", lambda cwd=None: None)
    argv = [a.format(tmp=tmp_path, run=stored) for a in command]
    if argv[0] in ("run", "compare", "sweep", "trace"):
        argv += ["--results-root", str(tmp_path / "results")]
    before = tree(tmp_path)
    real_open, real_mkdir, real_builtin_open = os.open, os.mkdir, builtins.open

    def refuse(path: object) -> None:
        if str(tmp_path) in os.fspath(path):
            raise OSError(code, os.strerror(code), os.fspath(path))

    def refusing_open(path, flags, *args, **kwargs):
        if flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT):
            refuse(path)
        return real_open(path, flags, *args, **kwargs)

    def refusing_mkdir(path, *args, **kwargs):
        refuse(path)
        return real_mkdir(path, *args, **kwargs)

    def refusing_builtin_open(file, mode="r", *args, **kwargs):
        if isinstance(file, str | os.PathLike) and any(c in mode for c in "wxa+"):
            refuse(file)
        return real_builtin_open(file, mode, *args, **kwargs)

    # Creating a folder or a file, or opening one for writing, fails as on a full or read-only disk.
    monkeypatch.setattr(os, "open", refusing_open)
    monkeypatch.setattr(os, "mkdir", refusing_mkdir)
    monkeypatch.setattr(builtins, "open", refusing_builtin_open)
    assert main(argv) == 1
    monkeypatch.undo()
    line = one_error_line(capsys.readouterr().err)
    assert os.strerror(code) in line
    assert tree(tmp_path) == before


# -- leftovers --------------------------------------------------------------------------------------------


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_stale_partials_of_dead_processes_are_removed_and_reported(small, tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    parent = tmp_path / "baseline"
    parent.mkdir()
    dead = _dead_pid()
    stale = parent / f".partial-old-1a2b3c4d-{dead}"
    stale.mkdir()
    (stale / safeio.PARTIAL_MARKER).touch()
    (stale / "replications.parquet").write_bytes(b"half")
    stale_file = parent / f".report.html.1a2b3c4d-{dead}.partial"
    stale_file.write_text("half")
    old = parent / f".partial-older-0a0b0c0d-{os.getpid() + 1}"
    old.mkdir()
    (old / safeio.PARTIAL_MARKER).touch()
    os.utime(old, (time.time() - 2 * 86400, time.time() - 2 * 86400))
    # Look-alikes that are not ours stay: no marker, or a live process.
    lookalike = parent / f".partial-mine-0a0b0c0d-{dead}"
    lookalike.mkdir()
    (lookalike / "notes").write_text("mine")
    untokened = parent / f".notes-{dead}.partial"
    untokened.write_text("mine")
    live = parent / ".partial-live-1"  # process 1 is always alive
    live.mkdir()
    (live / safeio.PARTIAL_MARKER).touch()
    save_results(small, root=tmp_path, run_id="fresh")
    err = capsys.readouterr().err
    assert not stale.exists() and not stale_file.exists() and not old.exists()
    assert (lookalike / "notes").read_text() == "mine" and live.exists() and untokened.read_text() == "mine"
    assert err.count("left by an interrupted run") == 3
    assert sorted(p.name for p in parent.iterdir()) == sorted(["fresh", lookalike.name, live.name, untokened.name])


def test_a_results_root_that_cannot_be_filled_is_not_left_behind(small, tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    def full(partial: Path) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(partial / "replications.parquet"))

    with pytest.raises(OSError):
        save_results(small, root=tmp_path / "a" / "b", run_id="x", extra=full)
    assert list(tmp_path.iterdir()) == []


def test_debug_shows_the_traceback(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "sim", "run", str(BASELINE), *QUICK, "--run-id", "a/b",
                           "--results-root", str(tmp_path), "--debug"], capture_output=True, text=True)
    assert proc.returncode != 0 and "Traceback" in proc.stderr
    proc = subprocess.run([sys.executable, "-m", "sim", "run", str(BASELINE), *QUICK, "--run-id", "a/b",
                           "--results-root", str(tmp_path)], capture_output=True, text=True)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert sim.batch.safeio is safeio
