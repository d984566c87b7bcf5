"""A real PostgreSQL for the SQL source's tests: the one on 127.0.0.1:5432 where present
(as on CI), else a private server started from the installed PostgreSQL binaries, else the
tests are skipped with the reason.

``VECQ_TEST_POSTGRES_URL`` names another server; ``VECQ_TEST_POSTGRES=private`` skips the
shared one (to try the private server where both exist).
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

SHARED = "postgresql://postgres@127.0.0.1:5432/test"


def _reachable(url: str) -> bool:
    try:
        import psycopg

        with psycopg.connect(url, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
        return True
    except Exception:
        return False


def _binaries() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _as_server_user(command: list[str], home: Path) -> list[str]:
    """PostgreSQL refuses to run as root: run it as ``nobody`` (who then owns ``home``)."""
    if os.geteuid() != 0:
        return command
    shutil.chown(home, "nobody")
    os.chmod(home.parent, 0o755)
    return ["runuser", "-u", "nobody", "--", *command]


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A PostgreSQL URL the tests may create tables in."""
    pytest.importorskip("psycopg")
    explicit = os.environ.get("VECQ_TEST_POSTGRES_URL")
    if explicit:
        yield explicit
        return
    if os.environ.get("VECQ_TEST_POSTGRES") != "private" and _reachable(SHARED):
        yield SHARED
        return
    binaries = _binaries()
    if binaries is None:
        pytest.skip("no PostgreSQL on 127.0.0.1:5432 and no PostgreSQL binaries installed")
    base = Path(tempfile.mkdtemp(prefix="vecq-pg-"))
    home = base / "data"
    home.mkdir()
    port = _free_port()
    init = _as_server_user(
        [str(binaries / "initdb"), "-D", str(home), "-A", "trust", "-U", "postgres"], home
    )
    subprocess.run(init, check=True, capture_output=True, timeout=120)
    options = f"-p {port} -k {home} -c listen_addresses=127.0.0.1 -c fsync=off"
    ctl = [str(binaries / "pg_ctl"), "-D", str(home), "-o", options, "-w", "-l", str(home / "log")]
    subprocess.run(
        _as_server_user([*ctl, "start"], home), check=True, capture_output=True, timeout=120
    )
    url = f"postgresql://postgres@127.0.0.1:{port}/postgres"
    try:
        deadline = time.monotonic() + 30
        while not _reachable(url):
            assert time.monotonic() < deadline, "the private PostgreSQL did not start"
            time.sleep(0.2)
        yield url
    finally:
        subprocess.run(
            _as_server_user([*ctl, "stop", "-m", "immediate"], home),
            capture_output=True,
            timeout=60,
        )
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def pg_table(postgres_url: str) -> Iterator[str]:
    """A fresh table name, dropped after the test."""
    import psycopg

    name = f"vecq_t_{uuid.uuid4().hex[:10]}"
    yield name
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(f"DROP TABLE IF EXISTS {name}")
