"""Property-based fuzzing of everything a user hands the tool: scenario files, ``extends`` chains,
command-line arguments and result folders.

Every case must end with exit 0, or with one line per problem and exit code 1 or 2, never a
traceback, within a time limit; a scenario that validates must also simulate in bounded time. The
fixed CI profile runs 2,012 cases (see the ``examples`` counts); ``make fuzz`` ten times as many.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import os
import shutil
import stat
import tempfile
import time
import tomllib
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import sim.batch.store
from sim import load_scenario, run
from sim.batch.store import StoreError, load_results, save_results
from sim.model import simulate
from tests.fuzzing import assert_clean, examples, run_cli, time_limit, toml_document

ROOT = Path(__file__).resolve().parents[1]
BASELINE = ROOT / "scenarios" / "baseline.toml"
BASE_DATA = tomllib.loads(BASELINE.read_text(encoding="utf-8"))
#: Seconds one validated scenario may take to simulate one replication.
SIMULATE_LIMIT_S = 20


@pytest.fixture(scope="module", autouse=True)
def sandbox(tmp_path_factory: pytest.TempPathFactory):
    """Every case runs with the working folder in a fresh temporary folder (so a default ``results/``
    lands there) and without the git look-up of manifests, which costs two processes per write."""
    root = tmp_path_factory.mktemp("fuzz")
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(root)
        mp.setattr(sim.batch.store, "git_commit", lambda cwd=None: None)
        yield root


def case_dir(root: Path) -> Path:
    return Path(tempfile.mkdtemp(dir=root))


# -- scenario mutations --------------------------------------------------------------------------------


def _paths(node: Any, prefix: tuple = ()) -> list[tuple]:
    """Every key path (dict keys and list indexes) in ``node``."""
    out = []
    if isinstance(node, dict):
        for k, v in node.items():
            out.append((*prefix, k))
            out += _paths(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out.append((*prefix, i))
            out += _paths(v, (*prefix, i))
    return out


def _deep(depth: int, leaf: Any, as_list: bool) -> Any:
    for _ in range(depth):
        leaf = [leaf] if as_list else {"a": leaf}
    return leaf


SCALARS = st.one_of(
    st.booleans(),
    st.integers(min_value=-(10**40), max_value=10**40),
    st.sampled_from([0, -1, 1, 10**9, 10**31, 2**63, -(2**63) - 1]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0.0, -0.0, -1.0, 1e-300, 1e-6, 0.5, 30.0, 1e9, 1e308, float("nan"), float("inf"),
                     float("-inf")]),
    st.text(max_size=20),
    st.sampled_from(["", "no", "1.0", "2024-03-14", "..", "../x", "a/b", "x" * 3000, "pert", "fixed"]),
    st.dates(min_value=dt.date(1, 1, 1), max_value=dt.date(9999, 12, 31)),
    st.datetimes(min_value=dt.datetime(1, 1, 1), max_value=dt.datetime(9999, 12, 31)),
    st.times(),
)
VALUES = st.one_of(
    SCALARS,
    st.lists(SCALARS, max_size=4),
    st.dictionaries(st.sampled_from(["dist", "low", "mode", "high", "median", "p90", "value", "mean", "sd",
                                     "rate", "values", "weights", "p", "x"]), SCALARS, max_size=4),
    st.builds(_deep, st.integers(1, 400), SCALARS, st.booleans()),
    st.fixed_dictionaries({"dist": st.sampled_from(["uniform", "triangular", "pert", "lognormal", "exponential",
                                                    "normal", "empirical", "bernoulli", "fixed"])},
                          optional={"low": SCALARS, "high": SCALARS, "mode": SCALARS, "median": SCALARS,
                                    "p90": SCALARS, "mean": SCALARS, "sd": SCALARS, "rate": SCALARS,
                                    "p": SCALARS, "values": st.lists(SCALARS, max_size=3), "value": SCALARS}),
)


def _get_parent(doc: Any, path: tuple) -> tuple[Any, Any]:
    node = doc
    for part in path[:-1]:
        node = node[part]
    return node, path[-1]


@st.composite
def mutated_documents(draw: st.DrawFn) -> dict[str, Any]:
    """The baseline scenario with one to four keys deleted, renamed or given another value."""
    doc = copy.deepcopy(BASE_DATA)
    for _ in range(draw(st.integers(1, 4))):
        paths = _paths(doc)
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent, key = _get_parent(doc, path)
        op = draw(st.sampled_from(["delete", "rename", "value", "value", "value", "scale", "add"]))
        if op == "delete":
            del parent[key]
        elif op == "rename" and isinstance(parent, dict):
            new = draw(st.sampled_from([f"{key}s", str(key)[:-1] or "x", str(key).upper(), f"{key}_days", ""]))
            parent[new] = parent.pop(key)
        elif op == "scale" and isinstance(parent[key], int | float) and not isinstance(parent[key], bool):
            factor = draw(st.sampled_from([-1, 0, 1e-9, 1e3, 1e6, 1e12, 1e300]))
            value = parent[key] * factor
            parent[key] = int(value) if isinstance(parent[key], int) and abs(value) < 1e40 else value
        elif op == "add" and isinstance(parent[key], dict):
            parent[key][draw(st.sampled_from(["extra", "dist", "after", "extends", "name"]))] = draw(VALUES)
        else:
            parent[key] = draw(VALUES)
    return doc


TEXT_EDITS = st.one_of(
    st.just(("none", 0, b"")),
    st.tuples(st.just("truncate"), st.floats(0, 1), st.just(b"")),
    st.tuples(st.just("insert"), st.floats(0, 1), st.binary(min_size=1, max_size=12)),
    st.tuples(st.just("bom"), st.just(0), st.just(b"")),
    st.tuples(st.just("flip"), st.floats(0, 1), st.just(b"")),
)


def _edit(text: bytes, edit: tuple[str, float, bytes]) -> bytes:
    kind, where, extra = edit
    at = int(where * len(text))
    if kind == "truncate":
        return text[:at]
    if kind == "insert":
        return text[:at] + extra + text[at:]
    if kind == "bom":
        return b"\xef\xbb\xbf" + text
    if kind == "flip" and text:
        at = min(at, len(text) - 1)
        return text[:at] + bytes([text[at] ^ 0x5A]) + text[at + 1:]
    return text


def _check_scenario_file(path: Path) -> None:
    outcome = run_cli(["validate", str(path)])
    assert_clean(outcome)
    if outcome.code == 0:
        scenario = load_scenario(path)
        started = time.perf_counter()
        with time_limit(SIMULATE_LIMIT_S):
            record = simulate(scenario, seed=1, replication=0)
        assert time.perf_counter() - started < SIMULATE_LIMIT_S
        assert isinstance(record.row(), dict)


@settings(max_examples=examples(600))
@given(doc=mutated_documents(), edit=TEXT_EDITS)
def test_mutated_scenarios_validate_cleanly(sandbox: Path, doc: dict[str, Any], edit: tuple) -> None:
    folder = case_dir(sandbox)
    try:
        path = folder / "mutant.toml"
        path.write_bytes(_edit(toml_document(doc).encode("utf-8"), edit))
        _check_scenario_file(path)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@settings(max_examples=examples(250))
@given(key=st.sampled_from(sorted({".".join(map(str, p)) for p in _paths(BASE_DATA)
                                   if all(isinstance(x, str) for x in p)}) + ["nope", "a.b.c", "", "="]),
       value=st.one_of(VALUES.map(lambda v: toml_document({"v": v})[6:-1]),
                       st.text(max_size=40), st.sampled_from(["[" * 300 + "]" * 300, "{a=" * 200 + "1" + "}" * 200,
                                                              "9999-12-31", "1e9", "1000000", "0.001", "1e-6"])))
def test_set_overrides_load_cleanly(sandbox: Path, key: str, value: str) -> None:
    folder = case_dir(sandbox)
    try:
        argv = ["run", str(BASELINE), "--runs", "1", "--no-plots", "--quiet", "--set", "horizon_days=20",
                "--set", f"{key}={value}", "--out", str(folder / "out")]
        outcome = run_cli(argv)
        assert_clean(outcome)
        if outcome.code == 0:
            load_results(folder / "out")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


# -- extends abuse -----------------------------------------------------------------------------------------

EXTENDS_TARGETS = [
    "self", "cycle", "loop", "fifo", "folder", "device", "traversal", "empty_name", "nul", "long_name", "baseline",
    "chain", "link_to_folder", "link_to_baseline", "not_a_string", "garbage", "empty_file", "huge", "missing",
    "deep_chain", "link_to_fifo",
]


def _make_target(folder: Path, kind: str, depth: int) -> Any:
    """Create what ``extends`` will name, inside ``folder``; return the value to write."""
    if kind == "self":
        return "main.toml"
    if kind == "cycle":
        (folder / "b.toml").write_text('extends = "main.toml"\n')
        return "b.toml"
    if kind == "loop":
        os.symlink("loop2", folder / "loop1")
        os.symlink("loop1", folder / "loop2")
        return "loop1"
    if kind == "fifo":
        os.mkfifo(folder / "pipe")
        return "pipe"
    if kind == "link_to_fifo":
        os.mkfifo(folder / "pipe")
        os.symlink("pipe", folder / "pipe.toml")
        return "pipe.toml"
    if kind == "folder":
        (folder / "sub").mkdir()
        return "sub"
    if kind == "device":
        # A character device made inside the temporary folder (never a real one under /dev); where
        # that is not allowed, a named pipe stands in.
        try:
            os.mknod(folder / "dev", stat.S_IFCHR | 0o600, os.makedev(1, 5))
        except (PermissionError, OSError):
            os.mkfifo(folder / "dev")
        return "dev"
    if kind == "traversal":
        return "../" * depth + "no-such-dir/x.toml"
    if kind == "empty_name":
        return ""
    if kind == "nul":
        return "a\0b.toml"
    if kind == "long_name":
        return "x" * (200 + depth * 10) + ".toml"
    if kind == "baseline":
        return str(BASELINE)
    if kind in ("chain", "deep_chain"):
        n = depth if kind == "chain" else 40
        (folder / f"c{n}.toml").write_text(f'extends = "{BASELINE}"\n')
        for i in range(n - 1, -1, -1):
            (folder / f"c{i}.toml").write_text(f'extends = "c{i + 1}.toml"\n')
        return "c0.toml"
    if kind == "link_to_folder":
        (folder / "sub").mkdir()
        os.symlink("sub", folder / "link.toml")
        return "link.toml"
    if kind == "link_to_baseline":
        os.symlink(BASELINE, folder / "base.toml")
        return "base.toml"
    if kind == "not_a_string":
        return [1, 2] if depth % 2 else 5
    if kind == "garbage":
        (folder / "g.toml").write_bytes(bytes(range(256)) * 3)
        return "g.toml"
    if kind == "empty_file":
        (folder / "e.toml").write_bytes(b"")
        return "e.toml"
    if kind == "huge":
        with open(folder / "h.toml", "wb") as stream:
            stream.truncate(3 * 1024 * 1024)  # sparse: costs no disk
        return "h.toml"
    return "missing.toml"


@settings(max_examples=examples(400))
@given(kind=st.sampled_from(EXTENDS_TARGETS), depth=st.integers(1, 12), name=st.sampled_from(["x", "..", "a/b", "."]),
       main_is=st.sampled_from(["file", "link", "loop"]))
def test_extends_abuse_is_refused_cleanly(sandbox: Path, kind: str, depth: int, name: str, main_is: str) -> None:
    folder = case_dir(sandbox)
    try:
        target = _make_target(folder, kind, depth)
        main = folder / "main.toml"
        main.write_text(toml_document({"extends": target, "name": name}))
        given_path = main
        if main_is == "link":
            os.symlink("main.toml", folder / "main-link.toml")
            given_path = folder / "main-link.toml"
        elif main_is == "loop":
            os.symlink("self-loop", folder / "self-loop")
            given_path = folder / "self-loop" / "main.toml"
        _check_scenario_file(given_path)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


# -- command-line arguments ------------------------------------------------------------------------------

NUMBERS = st.one_of(st.sampled_from(["1", "2", "0", "-1", "1e3", "x", "", " 2", "99999999999999999999", "1000000000000",
                                     "18446744073709551616", "9223372036854775808", "1" * 5000, "0x10", "nan"]),
                    st.integers(-5, 3).map(str))


def _paths_strategy(folder: Path) -> st.SearchStrategy[str]:
    return st.sampled_from([
        str(folder / "new"), str(folder / "file.txt"), str(folder / "plain"), str(folder / "pipe"),
        str(folder / "file.txt" / "under"), str(folder / ("n" * 300)), str(folder / "a\0b"), str(folder / ".."),
        str(folder / "run"), str(folder / "cmp"), str(folder / "nested" / "deeper" / "x"), "",
    ])


@st.composite
def argument_lists(draw: st.DrawFn, folder: Path, run_folder: Path) -> list[str]:
    paths = _paths_strategy(folder)
    command = draw(st.sampled_from(["run", "run", "validate", "compare", "sweep", "trace", "report", "plot", "schema",
                                    "bogus", "--version", "--help", ""]))
    argv = [command] if command else []
    if command in ("run", "sweep", "trace"):
        argv.append(draw(st.sampled_from([str(BASELINE), str(folder / "file.txt"), str(folder / "pipe"),
                                          str(folder / "missing.toml"), str(folder), "-"])))
        argv += ["--set", "horizon_days=20"]
    elif command == "validate":
        argv += draw(st.lists(st.sampled_from([str(BASELINE), str(folder / "pipe"), str(folder), "x\0y",
                                               str(folder / "file.txt")]), min_size=0, max_size=3))
    elif command == "compare":
        argv += draw(st.lists(st.sampled_from([str(run_folder), str(BASELINE), str(folder / "plain"),
                                               str(folder / "file.txt"), str(folder / "missing")]), max_size=3))
    elif command in ("report", "plot"):
        argv += draw(st.lists(st.sampled_from([str(run_folder), str(folder / "plain"), str(folder / "file.txt"),
                                               str(folder / "pipe"), str(folder)]), max_size=2))
    if command == "sweep":
        argv += ["--vary", draw(st.sampled_from(["funding.runway_days=30,60", "nope=1", "horizon_days=", "x",
                                                 "logistics.airport.closed_at_start=true,false,1"]))]
    options = {
        "--runs": NUMBERS, "--seed": NUMBERS, "--workers": NUMBERS, "--out": paths, "--results-root": paths,
        "--run-id": st.sampled_from(["ok", "..", ".", "../../x", "a/b", "", ".hidden", "x" * 300, "a\0b", "é"]),
        "--set": st.sampled_from(["horizon_days=10", "name=..", "name=x", "a=b", "=", "x", "horizon_days=1e9",
                                  "start_date=9999-12-31", "force.pledged_officers=" + "9" * 31]),
        "--deadline": st.sampled_from(["mandate_end=2024-10-02", "x", "a=b", "first_arrival=9999-99-99", "="]),
        "--replication": NUMBERS, "--milestone": st.sampled_from(["first_arrival", "nope", ""]),
        "--force": st.none(), "--no-plots": st.none(), "--quiet": st.none(), "--many-workers": st.none(),
    }
    for flag in draw(st.lists(st.sampled_from(sorted(options)), max_size=5)):
        value = draw(options[flag])
        argv += [flag] if value is None else [flag, value]
    if command in ("run", "compare", "sweep") and "--runs" not in argv:
        argv += ["--runs", "2"]
    # Small batches only: a valid but large --runs would just take long.
    for i, item in enumerate(argv[:-1]):
        value = argv[i + 1].strip()
        if item == "--runs" and value.isdigit() and len(value) < 10 and 3 < int(value) <= 10**6:
            argv[i + 1] = "3"
    if command in ("run", "compare") and "--no-plots" not in argv:
        argv.append("--no-plots")
    return argv


@pytest.fixture(scope="module")
def cli_folder(sandbox: Path) -> tuple[Path, Path]:
    folder = sandbox / "cli"
    folder.mkdir()
    (folder / "file.txt").write_text("keep me\n")
    (folder / "plain").mkdir()
    (folder / "plain" / "keep").write_text("keep me too\n")
    os.mkfifo(folder / "pipe")
    result = run(load_scenario(BASELINE, ["horizon_days=20"]), runs=2, seed=20240314)
    run_folder = save_results(result, folder=folder / "stored")
    return folder, run_folder


@settings(max_examples=examples(400))
@given(data=st.data())
def test_command_lines_end_cleanly(cli_folder: tuple[Path, Path], data: st.DataObject) -> None:
    folder, run_folder = cli_folder
    argv = data.draw(argument_lists(folder, run_folder))
    before = {p: p.read_bytes() for p in (folder / "file.txt", folder / "plain" / "keep")}
    assert_clean(run_cli(argv))
    # What the user owns is never touched, whatever was asked.
    assert {p: p.read_bytes() for p in before} == before
    assert stat.S_ISFIFO((folder / "pipe").lstat().st_mode)


# -- corrupt result folders -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def good_run(sandbox: Path) -> Path:
    result = run(load_scenario(BASELINE, ["horizon_days=30"]), runs=4, seed=20240314)
    return save_results(result, folder=sandbox / "good-run")


FILES = ["manifest.json", "replications.parquet", "bands.parquet", "summary.csv"]
MANIFEST_EDITS = ["drop", "string", "null", "bool", "list", "negative", "huge", "float", "nested"]


def _manifest_edit(manifest: dict, key: str, how: str) -> None:
    if how == "drop":
        manifest.pop(key, None)
    else:
        manifest[key] = {"string": "x", "null": None, "bool": True, "list": [1], "negative": -5, "huge": 10**30,
                         "float": 2.5, "nested": {"a": {"b": 1}}}.get(how, "x")


def _corrupt(folder: Path, kind: str, target: str, where: float, data: bytes, how: str, key: str) -> None:
    path = folder / target
    if kind == "delete":
        path.unlink()
    elif kind == "truncate":
        raw = path.read_bytes()
        path.write_bytes(raw[: int(where * len(raw))])
    elif kind == "garbage":
        path.write_bytes(data)
    elif kind == "folder":
        path.unlink()
        path.mkdir()
    elif kind == "fifo":
        path.unlink()
        os.mkfifo(path)
    elif kind == "loop":
        path.unlink()
        os.symlink(path.name, path)
    elif kind == "manifest":
        manifest = json.loads((folder / "manifest.json").read_text())
        if key.startswith("scenario."):
            section = manifest["scenario"]
            _manifest_edit(section, key.removeprefix("scenario."), how)
        else:
            _manifest_edit(manifest, key, how)
        (folder / "manifest.json").write_text(json.dumps(manifest))
    elif kind == "json":
        (folder / "manifest.json").write_text({"list": "[1, 2]", "text": "not json", "deep": "[" * 5000 + "]" * 5000,
                                               "kind": json.dumps({"kind": "comparison", "labels": []}),
                                               "nan": '{"seed": NaN}'}.get(how, "not json"))
    elif kind == "table":
        table = pd.read_parquet(folder / target) if target.endswith(".parquet") else None
        if table is None:
            (folder / target).write_text("a,b\n1,2\n")
            return
        if how == "drop":
            table = table.drop(columns=[table.columns[int(where * (len(table.columns) - 1))]])
        elif how == "rows":
            table = table.iloc[: max(0, len(table) - 1)]
        elif how == "extra":
            table = pd.concat([table, table], ignore_index=True)
        elif how == "nan":
            for column in table.select_dtypes("number").columns:
                table[column] = np.nan
        elif how == "strings":
            table = table.astype(str)
        elif how == "huge":
            for column in table.select_dtypes("number").columns:
                table[column] = 1e308
        else:
            table = pd.DataFrame({"x": [1, 2, 3]})
        table.to_parquet(folder / target)


@settings(max_examples=examples(350))
@given(kind=st.sampled_from(["delete", "truncate", "garbage", "folder", "fifo", "loop", "manifest", "manifest",
                             "json", "table", "table"]),
       target=st.sampled_from(FILES), where=st.floats(0, 1), data=st.binary(max_size=64),
       how=st.sampled_from(MANIFEST_EDITS + ["list", "text", "deep", "kind", "nan", "rows", "extra", "strings"]),
       key=st.sampled_from(["seed", "runs", "run_id", "scenario", "wall_time_s", "kind", "versions",
                            "scenario.name", "scenario.horizon_days", "scenario.start_date", "scenario.force"]))
def test_corrupt_result_folders_are_refused_cleanly(sandbox: Path, good_run: Path, kind: str, target: str,
                                                    where: float, data: bytes, how: str, key: str) -> None:
    folder = case_dir(sandbox)
    try:
        broken = folder / "run"
        shutil.copytree(good_run, broken)
        _corrupt(broken, kind, target, where, data, how, key)
        try:
            with time_limit(10):
                load_results(broken)
            loads = True
        except StoreError as exc:
            loads = False
            assert "\n" not in str(exc)
        if loads:
            # Still readable: comparing it with a good run must work or be refused cleanly.
            assert_clean(run_cli(["compare", str(broken), str(good_run), "--no-plots", "--quiet",
                                  "--out", str(folder / "cmp")]))
        else:
            for argv in (["plot", str(broken)], ["report", str(broken), "--out", str(folder / "r.html")],
                         ["compare", str(good_run), str(broken), "--no-plots", "--quiet", "--out", str(folder / "c")]):
                outcome = run_cli(argv)
                assert_clean(outcome)
                assert outcome.code == 2, outcome
            assert not (folder / "r.html").exists() and not (folder / "c").exists()
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@settings(max_examples=examples(12))
@given(how=st.sampled_from(["nan", "huge", "strings"]), target=st.sampled_from(["replications.parquet",
                                                                               "bands.parquet"]))
def test_odd_values_in_a_readable_folder_still_draw_or_refuse(sandbox: Path, good_run: Path, how: str,
                                                              target: str) -> None:
    folder = case_dir(sandbox)
    try:
        broken = folder / "run"
        shutil.copytree(good_run, broken)
        _corrupt(broken, "table", target, 0.5, b"", how, "seed")
        assert_clean(run_cli(["plot", str(broken)], limit_s=60))
    finally:
        shutil.rmtree(folder, ignore_errors=True)
