"""The architecture's own checks, beside import-linter's contracts in pyproject.toml.

import-linter sees which module imports which; it cannot see where in a module an import sits, nor
which names are taken from a package it does not analyse. These tests read the source itself.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from candor.api.errors import STATUS
from candor.kernel.refusal import Code

CANDOR = Path(__file__).resolve().parent.parent / "candor"
# Module names that are entry points, wherever they sit (see docs/architecture.md).
# Middleware is an entry point too: it sees the request first and shapes the response last; an app's
# `http` module holds the HTTP answers its page and its API share.
ENTRY_POINTS = {
    "views",
    "api",
    "feeds",
    "urls",
    "forms",
    "middleware",
    "http",
    "management",
    "templatetags",
    "wsgi",
    "cli",
}


def _modules() -> list[Path]:
    return sorted(p for p in CANDOR.rglob("*.py") if "migrations" not in p.parts)


def _name(path: Path) -> str:
    return ".".join(path.relative_to(CANDOR.parent).with_suffix("").parts)


def _is_entry_point(path: Path) -> bool:
    parts = path.relative_to(CANDOR).with_suffix("").parts
    return parts[0] == "web" or any(part in ENTRY_POINTS for part in parts)


def _function_local_candor_imports(tree: ast.Module) -> list[tuple[int, str]]:
    """(line, function) of every ``import candor…`` inside a function, bar AppConfig.ready."""
    found: list[tuple[int, str]] = []

    def visit(node: ast.AST, function: str | None, in_app_config: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.ClassDef):
                bases = {getattr(b, "id", getattr(b, "attr", "")) for b in child.bases}
                visit(child, function, "AppConfig" in bases)
            elif isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                allowed = in_app_config and child.name == "ready"
                visit(child, None if allowed else child.name, False)
            elif isinstance(child, ast.Import | ast.ImportFrom) and function is not None:
                names = (
                    [child.module or ""]
                    if isinstance(child, ast.ImportFrom)
                    else [a.name for a in child.names]
                )
                if any(name == "candor" or name.startswith("candor.") for name in names):
                    found.append((child.lineno, function))
            else:
                visit(child, function, in_app_config)

    visit(tree, None, False)
    return found


@pytest.mark.parametrize("path", _modules(), ids=_name)
def test_no_function_local_import_of_candor(path: Path) -> None:
    if path == CANDOR / "cli.py":
        return  # the command line's entry: Django's settings must not be imported before it sets them up
    found = _function_local_candor_imports(ast.parse(path.read_text()))
    assert not found, f"{_name(path)} imports candor inside functions: {found}; import at the top"


@pytest.mark.parametrize("path", [p for p in _modules() if not _is_entry_point(p)], ids=_name)
def test_domain_code_builds_no_http_response(path: Path) -> None:
    tree = ast.parse(path.read_text())
    taken = [
        alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("django.http")
        for alias in node.names
        if alias.name.endswith("Response")
    ]
    assert not taken, f"{_name(path)} is below the entry points but takes {taken} from django.http"


def test_the_function_local_import_check_can_fail() -> None:
    source = (
        "def f():\n    from candor.hub import models\n\n"
        "class A(AppConfig):\n    def ready(self):\n        import candor.x\n"
    )
    assert _function_local_candor_imports(ast.parse(source)) == [(2, "f")]


def test_every_refusal_code_has_an_http_status() -> None:
    assert set(STATUS) == set(Code)
    assert all(100 <= status < 600 for status in STATUS.values())
