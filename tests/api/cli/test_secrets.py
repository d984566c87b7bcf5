"""Secrets never reach the terminal: every command's output is redacted, and a password on
the command line is warned about."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.clients import broker_url

pytestmark = pytest.mark.process


def vecq(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "vecq.api.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VECQ_")}
    return {**env, "PGCONNECT_TIMEOUT": "3", **extra}


def test_a_password_in_an_ingest_url_is_warned_about_and_never_shown(tmp_path: Path) -> None:
    """The error, the --json summary and everything else say ***; a warning says where a
    password belongs instead."""
    url = "postgresql://etl:hunter2%40x@127.0.0.1:9/shop?sslmode=disable&password=pw2"
    done = vecq(
        "ingest",
        url,
        "--table",
        "t",
        "--index",
        "i",
        "--json",
        env=_env(VECQ_DATA_DIR=str(tmp_path)),
    )
    assert done.returncode == 1  # the server out of reach: the command line was right
    assert "hunter2" not in done.stdout + done.stderr and "pw2" not in done.stdout + done.stderr
    assert "the command line holds a password" in done.stderr
    summary = json.loads(done.stdout)
    assert "etl:***@127.0.0.1:9" in summary["error"] and "password=***" in summary["error"]


def test_schedule_list_shows_sources_without_their_secrets(redis_url: str, tmp_path: Path) -> None:
    """`vecq schedule --list` names each source by a URL with its password and signature
    hidden."""
    config = tmp_path / "etl.toml"
    config.write_text(
        '[[sources]]\nname = "db"\nindex = "i"\nkey_env = "K"\nevery = "5m"\ntable = "t"\n'
        'paths = ["postgresql://etl:pgsecret@db.internal/shop"]\n'
        '[[sources]]\nname = "blob"\nindex = "i"\nkey_env = "K"\nevery = "5m"\n'
        'paths = ["https://acct.blob.core.windows.net/c/*.jsonl?sv=2022&sig=sassecret"]\n'
    )
    env = _env(
        K="ab" * 32,
        VECQ_REDIS_URL=redis_url,
        VECQ_BROKER_URL=broker_url(redis_url),
        VECQ_QDRANT_PATH=":memory:",
    )
    done = vecq("schedule", "--config", str(config), "--list", env=env)
    assert done.returncode == 0, done.stderr
    assert "pgsecret" not in done.stdout and "sassecret" not in done.stdout
    assert "etl:***@db.internal" in done.stdout and "sig=***" in done.stdout


def test_a_redis_password_in_the_environment_is_never_shown(tmp_path: Path) -> None:
    """A Redis that cannot be reached is named without the password its URL holds."""
    env = _env(
        VECQ_REDIS_URL="redis://:s3cret@127.0.0.1:9/0?password=again", VECQ_QDRANT_PATH=":memory:"
    )
    done = vecq("status", env=env)
    assert done.returncode != 0
    assert "s3cret" not in done.stdout + done.stderr and "again" not in done.stdout + done.stderr
    assert "127.0.0.1:9" in done.stdout + done.stderr
