"""The package's layers import downwards only, and a worker never loads matplotlib.

The layers, lowest first, follow the data flow of DESIGN.md: scenario < model < batch < analysis < output <
commands. A module imports only its own layer and lower ones, at module level or inside a function
(figures of a batch or a comparison are drawn by :func:`sim.plot`, in the output layer).
"""

from __future__ import annotations

import ast
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

SIM = Path(__file__).resolve().parents[1] / "sim"
LAYERS = ("scenario", "model", "batch", "analysis", "output", "commands")
EXEMPT = {SIM / "__init__.py", SIM / "__main__.py"}


def layer_of(module: str) -> int | None:
    """The rank of a ``sim.<layer>...`` module's layer; None for anything else (``sim`` itself included)."""
    parts = module.split(".")
    if parts[0] != "sim" or len(parts) < 2 or parts[1] not in LAYERS:
        return None
    return LAYERS.index(parts[1])


def imports(tree: ast.AST, package: str) -> list[tuple[ast.stmt, str, list[str]]]:
    """Every import in ``tree`` as (node, absolute module, enclosing function names, innermost last)."""
    found: list[tuple[ast.stmt, str, list[str]]] = []

    def visit(node: ast.AST, functions: list[str]) -> None:
        for child in ast.iter_child_nodes(node):
            inner = [*functions, child.name] if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef) else functions
            if isinstance(child, ast.Import):
                found.extend((child, alias.name, functions) for alias in child.names)
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    base = ".".join(package.split(".")[: len(package.split(".")) - child.level + 1] + [base]).strip(".")
                found.append((child, base, functions))
                found.extend((child, f"{base}.{alias.name}", functions) for alias in child.names
                             if layer_of(base) is None and base == "sim")
            visit(child, inner)

    visit(tree, [])
    return found


def modules() -> list[Path]:
    return sorted(p for p in SIM.rglob("*.py") if p not in EXEMPT)


def test_every_module_belongs_to_a_layer() -> None:
    for path in modules():
        assert path.relative_to(SIM).parts[0] in LAYERS, path


@pytest.mark.parametrize("path", modules(), ids=lambda p: str(p.relative_to(SIM.parent)))
def test_no_module_imports_a_higher_layer(path: Path) -> None:
    own = LAYERS.index(path.relative_to(SIM).parts[0])
    package = ".".join(("sim", *path.relative_to(SIM).with_suffix("").parts))
    if path.name != "__init__.py":
        package = package.rsplit(".", 1)[0]
    problems = []
    for node, module, functions in imports(ast.parse(path.read_text(encoding="utf-8")), package):
        rank = layer_of(module)
        if rank is None or rank <= own:
            continue
        where = f"inside {'.'.join(functions)}()" if functions else "at module level"
        problems.append(f"line {node.lineno}: imports {module} ({LAYERS[rank]}) {where}")
    assert not problems, f"{path.relative_to(SIM.parent)} ({LAYERS[own]}):\n" + "\n".join(problems)


def test_the_check_sees_upward_imports() -> None:
    tree = ast.parse(textwrap.dedent("""
        from sim.output.plots import fan_chart
        import sim.commands.main
        def f():
            from sim.output import report
        class R:
            def plot(self):
                from sim.output.plots import plot
    """))
    found = [(module, functions) for _, module, functions in imports(tree, "sim.batch")]
    assert ("sim.output.plots", []) in found and ("sim.commands.main", []) in found
    assert ("sim.output", ["f"]) in found and ("sim.output.plots", ["plot"]) in found


def test_import_sim_and_a_run_in_workers_never_load_matplotlib(tmp_path: Path) -> None:
    script = textwrap.dedent("""
        import sys
        import sim
        import sim.batch.runner
        from sim import load_scenario, derive
        scenario = derive(load_scenario(sys.argv[1]), {"horizon_days": 60})
        results = sim.run(scenario, runs=4, seed=1, workers=2)
        assert results.runs == 4
        loaded = sorted(m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib."))
        print("matplotlib loaded:", loaded[:3] if loaded else "no")
        sys.exit(1 if loaded else 0)
    """)
    baseline = SIM.parent / "scenarios" / "baseline.toml"
    proc = subprocess.run([sys.executable, "-c", script, str(baseline)], capture_output=True, text=True,
                          cwd=tmp_path, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "matplotlib loaded: no" in proc.stdout
