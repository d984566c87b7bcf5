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


def _ingest(
    redis_url: str, tmp_path: Path, *args: str, **env: str
) -> subprocess.CompletedProcess[str]:
    key_file = tmp_path / "k.key"
    key_file.write_text("00" * 32)
    return subprocess.run(
        [sys.executable, "-m", "vecq.api.cli", *args, "--index", "x", "--key-file", str(key_file)],
        env=_env(redis_url, VECQ_QDRANT_PATH=":memory:", **env),
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize("command", ["ingest", "verify"])
def test_a_source_server_out_of_reach_fails_with_one_line_naming_it(
    redis_url: str, tmp_path: Path, command: str
) -> None:
    """PostgreSQL or an S3 endpoint that does not answer: exit 1 (the command could not do its
    work; the command line was right), one line naming the URL or the setting."""
    postgres = _ingest(
        redis_url,
        tmp_path,
        command,
        "postgresql://etl@127.0.0.1:1/shop",
        "--table",
        "t",
        PGPASSWORD="s3cr3t",
    )
    assert postgres.returncode == 1, postgres.stderr
    (line,) = postgres.stderr.splitlines()
    assert line.startswith(
        f"vecq {command}: postgresql://etl@127.0.0.1:1/shop (table t): cannot connect"
    )
    assert "s3cr3t" not in line
    s3 = _ingest(
        redis_url,
        tmp_path,
        command,
        "s3://bucket/day/*.parquet",
        AWS_ENDPOINT_URL="http://127.0.0.1:1",
        AWS_ACCESS_KEY_ID="x",
        AWS_SECRET_ACCESS_KEY="y",
    )
    assert s3.returncode == 1, s3.stderr
    assert s3.stderr.splitlines() == [
        f"vecq {command}: s3://bucket/day/*.parquet (AWS_ENDPOINT_URL): cannot reach "
        "127.0.0.1:1 (Connection refused)"
    ]


def test_a_malformed_redis_url_is_one_line_naming_the_setting(
    redis_url: str, tmp_path: Path
) -> None:
    source = tmp_path / "a.jsonl"
    source.write_text('{"id": 1, "vector": [1, 2]}\n')
    for command in ("ingest", "verify"):
        done = _ingest("redis://h:port/0", tmp_path, command, str(source))
        assert done.returncode == 1, done.stderr
        assert len(done.stderr.splitlines()) == 1 and "Traceback" not in done.stderr
        assert f"vecq {command}: ValueError: VECQ_REDIS_URL='redis://h:port/0': Port" in (
            done.stderr
        )
