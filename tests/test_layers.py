"""Production code never depends on the simulators (DESIGN.md layers): only the demo entry points
import them, lazily, inside the function that starts the demo."""

from __future__ import annotations

import ast
from pathlib import Path

APP = Path(__file__).resolve().parents[1] / "app"


def _module_level_imports(tree: ast.Module) -> list[str]:
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            continue
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.append(node.module)
    return names


def _top_level_nodes(tree: ast.Module) -> ast.Module:
    """The module without function bodies (lazy imports inside functions are allowed)."""
    body: list[ast.stmt] = []
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        if isinstance(node, ast.ClassDef):
            node = ast.ClassDef(
                name=node.name,
                bases=node.bases,
                keywords=node.keywords,
                body=[n for n in node.body if not isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)],
                decorator_list=[],
                type_params=[],
            )
        body.append(node)
    return ast.Module(body=body, type_ignores=[])


def test_no_production_module_imports_the_simulators() -> None:
    offenders: list[str] = []
    for path in sorted(APP.rglob("*.py")):
        if APP / "simulators" in path.parents:
            continue
        tree = _top_level_nodes(ast.parse(path.read_text(encoding="utf-8")))
        if any(name.startswith("app.simulators") for name in _module_level_imports(tree)):
            offenders.append(str(path.relative_to(APP.parent)))
    assert offenders == []
