"""Exit statuses come from one enum: no command returns a bare number, the docs list them all."""

from __future__ import annotations

import ast
from pathlib import Path

from vecq.api.cli import build_parser
from vecq.api.cli.exits import MEANINGS, ExitStatus, epilog

ROOT = Path(__file__).resolve().parents[3]


def _bare_statuses(path: Path) -> list[str]:
    """``return 2``, ``return 130, n`` (a status and a count) and ``return 1 if x else 0``."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if not isinstance(node, ast.Return) or node.value is None:
            continue
        status = node.value.elts[0] if isinstance(node.value, ast.Tuple) else node.value
        branches = [status.body, status.orelse] if isinstance(status, ast.IfExp) else [status]
        if any(isinstance(b, ast.Constant) and type(b.value) is int for b in branches):
            found.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    return found


def test_no_command_returns_a_bare_number() -> None:
    """Every exit status a command returns is an ExitStatus member, never a literal."""
    modules = sorted((ROOT / "api" / "cli").glob("*.py"))
    assert [place for path in modules for place in _bare_statuses(path)] == []


def test_every_status_has_one_meaning_shown_by_help_and_the_docs() -> None:
    """0, 1, 2 and 130, each described once; `vecq --help` and docs/cli.md show that text."""
    assert [int(s) for s in ExitStatus] == [0, 1, 2, 130]
    assert set(MEANINGS) == set(ExitStatus)
    assert build_parser().epilog == epilog()
    docs = (ROOT / "docs" / "cli.md").read_text()
    for status, meaning in MEANINGS.items():
        assert f"| {int(status)} | {meaning} |" in docs
