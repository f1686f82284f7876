"""The top-level packages a module imports (``import a.b`` and ``from a.b import c``, at any
depth of the module, absolute imports only): what the structure tests check."""

from __future__ import annotations

import ast


def imported_roots(tree: ast.AST) -> set[str]:
    """Every top-level package ``tree`` imports, function-local imports included."""
    roots = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
    return roots
