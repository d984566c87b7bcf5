"""A command that fails says so in one line that names what failed, never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.clients import broker_url

pytestmark = pytest.mark.process


def _env(redis_url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VECQ_")}
    return {**env, "VECQ_REDIS_URL": redis_url, "VECQ_BROKER_URL": broker_url(redis_url), **extra}


def test_an_unreachable_qdrant_is_one_line_naming_it(redis_url: str, tmp_path: Path) -> None:
    """`vecq index create` with Qdrant down: exit 1 and one line naming Qdrant's URL."""
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "vecq.api.cli",
            "index",
            "create",
            "unreached",
            "--dimension",
            "3",
            "--key-file",
            str(tmp_path / "k.key"),
        ],
        env=_env(redis_url, VECQ_QDRANT_URL="http://127.0.0.1:1", VECQ_PREFER_GRPC="false"),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert "vecq index: Qdrant (http://127.0.0.1:1) failed" in done.stderr


def test_a_reader_that_leaves_early_is_no_error(redis_url: str) -> None:
    """`vecq status | head -1`: a pipe whose reader is gone ends the command quietly (exit 0,
    no BrokenPipeError), where Python would print a traceback and an ignored exception."""
    code = (
        "import os, sys; r, w = os.pipe(); os.close(r); os.dup2(w, 1); "
        "from vecq.api.cli import main; sys.exit(main(['status']))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        env=_env(redis_url, VECQ_QDRANT_PATH=":memory:"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr and "BrokenPipe" not in done.stderr
