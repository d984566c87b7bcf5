"""The shape of the code: long modules, long functions, reaching into other modules' privates.

    python .ci/shape.py            # counts for the package (vecq/__init__.py, api, workers,
                                   # shared) and tests
    python .ci/shape.py -v         # ... and every place counted

A module over MODULE_LINES lines is usually two concepts; a function over FUNCTION_LINES
lines is usually several steps that want names. A private access is ``obj._name`` on
anything but ``self``/``cls`` (or ``from m import _name``): one module leaning on another's
insides. Run from the repository root; it reads files only.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

MODULE_LINES = 350
FUNCTION_LINES = 60
PACKAGES = ("api", "workers", "shared")


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def shape(files: list[Path]) -> dict[str, list[str]]:
    """Places over the limits, by measure."""
    found: dict[str, list[str]] = {"long modules": [], "long functions": [], "private access": []}
    for path in files:
        text = path.read_text()
        lines = len(text.splitlines())
        if lines > MODULE_LINES:
            found["long modules"].append(f"{path}: {lines} lines")
        tree = ast.parse(text, str(path))
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > FUNCTION_LINES:
                    found["long functions"].append(f"{path}:{node.lineno} {node.name}: {length}")
            elif isinstance(node, ast.Attribute) and _private(node.attr):
                owner = node.value
                if isinstance(owner, ast.Name) and owner.id in ("self", "cls"):
                    continue
                if isinstance(owner, ast.Call) and getattr(owner.func, "id", "") == "super":
                    continue
                found["private access"].append(f"{path}:{node.lineno} .{node.attr}")
            elif isinstance(node, ast.ImportFrom):
                for alias in node.names:
                    if _private(alias.name):
                        found["private access"].append(
                            f"{path}:{node.lineno} from {node.module} import {alias.name}"
                        )
    return found


def main(argv: list[str]) -> int:
    verbose = "-v" in argv
    groups = {
        "packages": sorted(
            [Path("vecq/__init__.py"), *(p for pkg in PACKAGES for p in Path(pkg).rglob("*.py"))]
        ),
        "tests": sorted(Path("tests").rglob("*.py")),
    }
    for label, files in groups.items():
        found = shape(files)
        counts = ", ".join(f"{k} {len(v)}" for k, v in found.items())
        print(f"{label} ({len(files)} modules): {counts}")
        if verbose:
            for kind, places in found.items():
                for place in places:
                    print(f"  {kind}: {place}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
