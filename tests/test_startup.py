"""The command line starts without the heavy libraries, and every module imports as itself.

``deploysim --version``, ``validate`` and ``schema`` must start well under a second, so they import
neither pandas nor matplotlib (nor pyarrow or scipy). Measured in a fresh interpreter each, since this
one has imported everything already. Timing itself is a benchmark (bench/bench_startup.py), not a test.
"""

from __future__ import annotations

import importlib
import json
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import sim

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("pandas", "matplotlib", "pyarrow", "scipy")

PROBE = """
import contextlib, io, json, sys
from sim.commands.main import main
with contextlib.redirect_stdout(io.StringIO()):
    try:
        code = main({argv!r})
    except SystemExit as exc:
        code = exc.code
print(json.dumps({{"code": code, "heavy": sorted({{m.split(".")[0] for m in sys.modules}} & set({heavy!r}))}}))
"""


def _probe(argv: list[str]) -> dict:
    script = PROBE.format(argv=argv, heavy=HEAVY)
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("argv", [["--version"], ["validate", "scenarios/baseline.toml"], ["schema"], ["--help"]],
                         ids=["version", "validate", "schema", "help"])
def test_light_commands_import_no_heavy_library(argv: list[str]) -> None:
    found = _probe(argv)
    assert found["code"] == 0
    assert found["heavy"] == []


def test_the_probe_can_see_a_heavy_import() -> None:
    # The same probe on a command that loads results must see pandas: the check above can fail.
    assert "pandas" in _probe(["plot", str(ROOT / "no-such-run")])["heavy"]


def _modules() -> list[str]:
    # sim.__main__ runs the command line when imported.
    return sorted(info.name for info in pkgutil.walk_packages(sim.__path__, "sim.") if info.name != "sim.__main__")


@pytest.mark.parametrize("name", _modules())
def test_import_as_gives_the_module_not_a_function(name: str) -> None:
    namespace: dict = {}
    exec(f"import {name} as module", namespace)
    assert namespace["module"] is importlib.import_module(name)
    assert namespace["module"] is sys.modules[name]


def test_the_notebook_idiom_for_compare() -> None:
    import sim.analysis.compare as C

    assert C.__name__ == "sim.analysis.compare" and callable(C.compare)
    assert sim.compare is C.compare, "the function stays reachable as sim.compare"
