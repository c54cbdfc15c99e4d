"""What the package declares about itself: one version, a licence, type information, lower bounds."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import tomllib
from importlib import metadata
from pathlib import Path

import sim

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def _script():
    spec = importlib.util.spec_from_file_location("min_constraints", ROOT / "scripts" / "min_constraints.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_version_has_one_source() -> None:
    assert sim.__version__ == metadata.version("deploysim") == PYPROJECT["project"]["version"]
    assert "version" not in PYPROJECT["project"].get("dynamic", [])


def test_licence_and_type_marker_are_shipped() -> None:
    licence = (ROOT / "LICENSE").read_text()
    assert licence.startswith("MIT License") and "the deploysim authors" in licence
    assert PYPROJECT["project"]["license"] == "MIT" and "Typing :: Typed" in PYPROJECT["project"]["classifiers"]
    assert (ROOT / "sim" / "py.typed").is_file()
    data = PYPROJECT["tool"]["setuptools"]["package-data"]
    assert "*.toml" in data["sim.scenarios"] and "py.typed" in data["sim"]


def test_every_dependency_has_a_lower_bound_that_the_min_constraints_pin() -> None:
    script = _script()
    runtime = PYPROJECT["project"]["dependencies"]
    pins = script.lower_bounds(runtime)
    assert len(pins) == len(runtime), "every runtime dependency needs a >= lower bound for make test-min"
    assert pins["simpy"] == "4.1" and pins["pyarrow"] == "15"
    assert script.lower_bounds(["mkdocstrings[python]>=0.26", "Foo_Bar >= 1.2; python_version<'3.12'", "wheel"]) == {
        "mkdocstrings": "0.26", "foo-bar": "1.2"}
    out = subprocess.run([sys.executable, str(ROOT / "scripts" / "min_constraints.py"), "dev"],
                         capture_output=True, text=True, check=True).stdout
    lines = [line for line in out.splitlines() if not line.startswith("#")]
    assert "numpy==1.26" in lines and "pytest==8" in lines
    assert all("==" in line and "[" not in line for line in lines)
