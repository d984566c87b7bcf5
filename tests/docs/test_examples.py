"""The docs' examples run as written: every Python block of docs/library.md and the README,
in order, in one fresh process on the embedded default (blocks marked ``not run`` need a
server and are skipped, visibly)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from vecq.api import launcher

ROOT = Path(__file__).resolve().parents[2]
FENCE = re.compile(r"(?P<before>[^\n]*)\n```python\n(?P<code>.*?)\n```", re.S)
RUNNER = """
import sys
blocks = eval(sys.stdin.read())
namespace = {"__name__": "__main__"}
for where, code in blocks:
    exec(compile(code, where, "exec"), namespace)
"""

pytestmark = [pytest.mark.integration, pytest.mark.process]


def python_blocks(page: Path) -> tuple[list[tuple[str, str]], int]:
    """The runnable blocks of ``page`` as ``(file:line, code)``, and how many were marked
    as needing a server."""
    text, blocks, skipped = page.read_text(), [], 0
    for found in FENCE.finditer(text):
        if found["before"].startswith("<!-- not run"):
            skipped += 1
            continue
        line = text.count("\n", 0, found.start("code")) + 1
        blocks.append((f"{page.relative_to(ROOT)}:{line}", found["code"]))
    return blocks, skipped


@pytest.mark.parametrize("page", ["README.md", "docs/library.md"])
def test_the_python_examples_run(page: str, tmp_path: Path) -> None:
    """Each page's examples, one after another as a reader would run them, exit 0."""
    blocks, skipped = python_blocks(ROOT / page)
    assert blocks, f"{page} has no Python example"
    assert skipped <= len(blocks), "most examples should run"
    env = {k: v for k, v in os.environ.items() if not k.startswith("VECQ_")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["VECQ_SERVICE_IDLE_TIMEOUT"] = "60"  # a test's service never outlives it for long
    try:
        done = subprocess.run(
            [sys.executable, "-c", textwrap.dedent(RUNNER)],
            input=repr(blocks),
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
    finally:
        launcher.stop(tmp_path / ".vecq", now=True, timeout=60)
    assert done.returncode == 0, done.stderr[-3000:]
