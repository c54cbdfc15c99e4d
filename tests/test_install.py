"""The package as a user gets it: a wheel installed into a fresh venv, used outside the repository.

The wheel is built from a copy of the sources (so the repository gains no build/ folder) without
network: ``--no-build-isolation`` with the dev venv's setuptools. The fresh venv sees this venv's
third-party packages through a ``.pth`` file, so ``pip install --no-deps`` is all it needs; the
package itself, its scenario library and its entry point come from the wheel alone.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


def _run(args: list[str | Path], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"{args} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}"
    return done


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path | dict[str, str]]:
    """A venv in a temporary folder with the wheel installed, and a clean environment to run it in."""
    tmp = tmp_path_factory.mktemp("install")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    env.update(PIP_NO_INDEX="1", PIP_DISABLE_PIP_VERSION_CHECK="1", MPLBACKEND="Agg",
               MPLCONFIGDIR=str(tmp / "mplconfig"), HOME=str(tmp / "home"))
    src = tmp / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy2(ROOT / name, src / name)
    shutil.copytree(ROOT / "sim", src / "sim", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    dist = tmp / "dist"
    _run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation", "--wheel-dir", dist,
          src], cwd=tmp, env=env)
    [wheel] = dist.glob("deploysim-*.whl")

    venv = tmp / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", venv], cwd=tmp, env=env)
    python = venv / "bin" / "python"
    purelib = Path(_run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], tmp, env)
                   .stdout.strip())
    # This venv's dependencies (and pip), not its editable `sim`: a path in a .pth is added to
    # sys.path without running the .pth files inside it, so the editable finder stays out.
    ours = dict.fromkeys([sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]])
    (purelib / "deploysim-test-deps.pth").write_text("".join(f"{p}\n" for p in ours))
    _run([python, "-m", "pip", "install", "--quiet", "--no-deps", wheel], cwd=tmp, env=env)
    work = tmp / "work"
    work.mkdir()
    return {"wheel": wheel, "venv": venv, "python": python, "work": work, "env": env, "tmp": tmp}


def test_the_wheel_ships_the_library_the_licence_and_the_type_marker(installed) -> None:
    names = set(zipfile.ZipFile(installed["wheel"]).namelist())
    library = {p.name for p in (ROOT / "sim" / "scenarios").glob("*.toml")}
    assert {f"sim/scenarios/{name}" for name in library} <= names
    assert "sim/py.typed" in names
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)
    metadata = next(n for n in names if n.endswith(".dist-info/METADATA"))
    text = zipfile.ZipFile(installed["wheel"]).read(metadata).decode()
    assert "License-Expression: MIT" in text and "Classifier: Typing :: Typed" in text


def test_the_installed_package_loads_library_scenarios_from_anywhere(installed) -> None:
    code = (
        "import json, sim; b = sim.load_scenario('baseline'); v = sim.load_scenario('donors_pay_late');"
        "print(json.dumps({'file': sim.__file__, 'version': sim.__version__, 'names': [b.name, v.name]}))"
    )
    done = _run([installed["python"], "-c", code], cwd=installed["work"], env=installed["env"])
    out = json.loads(done.stdout)
    assert out["names"] == ["baseline", "donors_pay_late"]
    assert Path(out["file"]).is_relative_to(installed["venv"]), "imported the repository's sim, not the wheel's"
    assert out["version"] != "0.0.0+unknown"


def test_the_installed_command_runs_the_baseline_by_name(installed) -> None:
    deploysim, work, env = installed["venv"] / "bin" / "deploysim", installed["work"], installed["env"]
    out = installed["tmp"] / "x"
    done = _run([deploysim, "run", "baseline", "--runs", "20", "--out", out], cwd=work, env=env)
    assert "Scenario 'baseline': 20 runs" in done.stdout
    assert json.loads((out / "manifest.json").read_text())["runs"] == 20
    assert (out / "figures").is_dir()
    listing = _run([deploysim, "scenarios"], cwd=work, env=env).stdout
    assert "baseline" in listing and "donors_pay_late" in listing
    assert not any(work.iterdir()), "the command wrote into the working directory"
