"""The shape of the package: modules a newcomer can read in one sitting, functions on a screen."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).parent.parent / "crawler"
MODULES = sorted(PACKAGE.rglob("*.py"))
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60


def name_of(module: Path) -> str:
    return str(module.relative_to(PACKAGE))


def test_every_module_is_short_and_opens_by_saying_what_it_owns() -> None:
    too_long = {
        name_of(module): lines
        for module in MODULES
        if (lines := len(module.read_text(encoding="utf-8").splitlines())) > MAX_MODULE_LINES
    }
    undocumented = [
        name_of(module)
        for module in MODULES
        if not ast.get_docstring(ast.parse(module.read_text(encoding="utf-8")))
    ]

    assert too_long == {}
    assert undocumented == []


def test_no_function_is_longer_than_a_screen() -> None:
    too_long = {}
    for module in MODULES:
        for node in ast.walk(ast.parse(module.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                lines = (node.end_lineno or node.lineno) - node.lineno + 1
                if lines > MAX_FUNCTION_LINES:
                    too_long[f"{name_of(module)}:{node.name}"] = lines

    assert too_long == {}
