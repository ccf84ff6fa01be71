"""No module over about 600 lines, no function over about 80 (the developers' guide), in every package
under plugins/gp_allocations*. Exceptions would be listed below, each with its reason; the lists are empty
and may only shrink (a listed module or function that is within the limit fails too, so it is removed)."""

from __future__ import annotations

import ast
from pathlib import Path

PLUGINS = Path(__file__).resolve().parent.parent / "plugins"
MAX_MODULE_LINES = 600
MAX_FUNCTION_LINES = 80

# Modules over 600 lines, path under plugins/ -> why it is still allowed (none today).
MODULE_EXCEPTIONS: dict[str, str] = {}
# Functions over 80 lines, "path:qualified name" -> why it is still allowed (none today).
FUNCTION_EXCEPTIONS: dict[str, str] = {}


def _modules() -> list[Path]:
    found: list[Path] = []
    for entry in sorted(PLUGINS.glob("gp_allocations*")):
        found.extend([entry] if entry.suffix == ".py" else sorted(entry.rglob("*.py")))
    return found


def _lines(text: str) -> int:
    return len(text.splitlines())


def _functions(tree: ast.AST, prefix: str = "") -> list[tuple[str, int]]:
    """(qualified name, lines) of every function and method, nested ones included."""
    out: list[tuple[str, int]] = []
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            name = f"{prefix}{node.name}"
            if not isinstance(node, ast.ClassDef):
                out.append((name, (node.end_lineno or node.lineno) - node.lineno + 1))
            out.extend(_functions(node, f"{name}."))
        else:
            out.extend(_functions(node, prefix))
    return out


def oversized(modules: list[Path]) -> tuple[dict[str, int], dict[str, int]]:
    """(module -> lines, "module:function" -> lines) over the limits."""
    big_modules: dict[str, int] = {}
    big_functions: dict[str, int] = {}
    for path in modules:
        key = path.relative_to(PLUGINS).as_posix() if path.is_relative_to(PLUGINS) else path.name
        text = path.read_text(encoding="utf-8")
        if _lines(text) > MAX_MODULE_LINES:
            big_modules[key] = _lines(text)
        for name, length in _functions(ast.parse(text)):
            if length > MAX_FUNCTION_LINES:
                big_functions[f"{key}:{name}"] = length
    return big_modules, big_functions


def test_no_module_over_600_lines_and_no_function_over_80_beyond_the_listed_exceptions():
    modules, functions = oversized(_modules())
    assert set(modules) - set(MODULE_EXCEPTIONS) == set(), f"modules over {MAX_MODULE_LINES} lines: {modules}"
    assert set(functions) - set(FUNCTION_EXCEPTIONS) == set(), (
        f"functions over {MAX_FUNCTION_LINES}: {functions}"
    )


def test_the_exception_lists_only_shrink():
    """An exception that is now within the limit (or no longer exists) is taken off the list."""
    modules, functions = oversized(_modules())
    assert set(MODULE_EXCEPTIONS) - set(modules) == set(), "remove these from MODULE_EXCEPTIONS"
    assert set(FUNCTION_EXCEPTIONS) - set(functions) == set(), "remove these from FUNCTION_EXCEPTIONS"


def test_the_checker_catches_a_long_module_and_a_long_method(tmp_path):
    long_method = "class A:\n    def f(self):\n" + "        x = 1\n" * 80
    path = tmp_path / "planted.py"
    path.write_text(long_method + "\n" * 600, encoding="utf-8")
    modules, functions = oversized([path])
    assert modules == {"planted.py": 682} and functions == {"planted.py:A.f": 81}
