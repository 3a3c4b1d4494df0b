"""The layout rules of the package that import-linter cannot check.

The layer order and the absence of import cycles are import-linter contracts
(``[tool.importlinter]`` in ``pyproject.toml``, run by ``make lint``).  Here:

an ``import`` inside a function is allowed only for an optional extra (the
``[project.optional-dependencies]`` of ``pyproject.toml``) or when a
``# deferred: <why>`` comment on the import (or in the comment block above it)
says why.
"""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "unbinned"

# Optional extras and their imports (pyproject.toml [project.optional-dependencies]).
OPTIONAL = {"matplotlib", "mplhep", "uproot", "dask", "distributed", "pyhf", "sklearn"}


def _says_why(lines: list[str], first: int, last: int) -> bool:
    """Whether the import (1-based lines) or the comment block above it says why.

    The block may hold further imports: one comment covers a group of them.
    """
    start = first - 1
    while start > 0 and lines[start - 1].lstrip().startswith(("#", "from ", "import ")):
        start -= 1
    return any("# deferred:" in line for line in lines[start:last])


def _function_level_imports() -> list[tuple[str, int, str]]:
    found = []
    for path in sorted(SRC.rglob("*.py")):
        lines = path.read_text().splitlines()
        tree = ast.parse("\n".join(lines), filename=str(path))
        for func in ast.walk(tree):
            if not isinstance(func, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            for node in ast.walk(func):
                if not isinstance(node, ast.Import | ast.ImportFrom):
                    continue
                if isinstance(node, ast.ImportFrom):
                    names = [("." * node.level) + (node.module or "")]
                else:
                    names = [alias.name for alias in node.names]
                if all(name.split(".")[0] in OPTIONAL for name in names):
                    continue
                if _says_why(lines, node.lineno, node.end_lineno or node.lineno):
                    continue
                rel = path.relative_to(SRC.parent)
                found.append((str(rel), node.lineno, ", ".join(names)))
    return sorted(set(found))


def test_imports_inside_functions_say_why() -> None:
    bad = _function_level_imports()
    listing = "\n".join(f"  {file}:{line}: {names}" for file, line, names in bad)
    assert not bad, (
        "imports inside functions must be an optional extra or carry a "
        f"'# deferred: <why>' comment (else import at module level):\n{listing}"
    )
