"""How much faster the model gets if its modules are compiled with mypyc: an experiment, not a build option.

Issue 14 asks for a replication at a quarter of bare SimPy's cost per event. Pure-Python tuning has
reached about 0.1 (see README.md), so this measures the obvious next lever: it copies this working
tree's ``sim/`` and ``scenarios/`` into a temporary folder, compiles the model's subsystem modules
there with mypyc (``sim/model/mission.py`` stays pure: the tests patch ``Mission``), and runs
``bench_ab.py`` with the pure tree as old and the compiled copy as new, in one process, in alternating
blocks. The repository is never touched and the folder is removed afterwards. It needs a C compiler
and mypy (a dev dependency); never part of the tests.

Usage, from the repository root::

    .venv/bin/python bench/bench_compiled.py                        # 8 blocks of 150 replications
    .venv/bin/python bench/bench_compiled.py --blocks 12 --reps 300 --call run
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
#: The subsystems of sim/model. Left pure: mission.py (the tests patch Mission), and record.py and rng.py
#: (the record's data classes and the streams' seeding, not tried).
COMPILED = ("base", "conditions", "critical", "deployment", "force", "funding", "gates", "governance",
            "logistics", "mandate", "operations", "reconnaissance", "resources", "series")

SETUP = """\
from setuptools import setup
from mypyc.build import mypycify

modules = {modules!r}
flags = ["--ignore-missing-imports", "--follow-imports=silent", "--disable-error-code=annotation-unchecked"]
setup(name="deploysim-compiled-experiment", packages=[],
      ext_modules=mypycify([*flags, *("sim/model/%s.py" % m for m in modules)], opt_level="3"))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--blocks", type=int, default=8, help="blocks per version (default 8)")
    parser.add_argument("--reps", type=int, default=150, help="replications per block (default 150)")
    parser.add_argument("--call", choices=("simulate", "run"), default="simulate", help="passed to bench_ab.py")
    args = parser.parse_args()
    if shutil.which("cc") is None and shutil.which("gcc") is None:
        sys.exit("bench_compiled: no C compiler (cc or gcc) on PATH; mypyc needs one")
    with tempfile.TemporaryDirectory(prefix="bench-compiled-") as scratch:
        root = Path(scratch)
        for name in ("sim", "scenarios"):
            shutil.copytree(REPO / name, root / name, ignore=shutil.ignore_patterns("__pycache__"))
        (root / "setup.py").write_text(SETUP.format(modules=list(COMPILED)))
        print(f"bench_compiled: compiling {len(COMPILED)} modules of sim/model with mypyc (about 1-2 minutes)...",
              flush=True)
        build = subprocess.run([sys.executable, "setup.py", "build_ext", "--inplace"], cwd=root,
                               capture_output=True, text=True, check=False)
        built = sorted(p.name.split(".")[0] for p in (root / "sim" / "model").glob("*.so"))
        if build.returncode or len(built) != len(COMPILED):
            tail = textwrap.indent("\n".join((build.stdout + build.stderr).splitlines()[-15:]), "  ")
            sys.exit(f"bench_compiled: the mypyc build failed (exit {build.returncode}, "
                     f"{len(built)} of {len(COMPILED)} modules built):\n{tail}")
        print(f"bench_compiled: built {', '.join(built)}", flush=True)
        ab = [sys.executable, str(REPO / "bench" / "bench_ab.py"), str(REPO), str(root),
              "--blocks", str(args.blocks), "--reps", str(args.reps), "--call", args.call]
        sys.exit(subprocess.run(ab, check=False).returncode)


if __name__ == "__main__":
    main()
