"""Worker start-up checks: refuse a visibility timeout below the time limit, warn on risky Redis."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable

import pytest

from tests.support.services import RedisServer
from vecq.shared.config.redis_client import connect
from vecq.shared.config.settings import Settings
from vecq.shared.errors import VecqError
from vecq.workers.checks import preflight


def test_visibility_timeout_not_above_time_limit_is_fatal() -> None:
    """Settings built around the checks still cannot start a worker."""
    settings = Settings(redis_url="redis://x", visibility_timeout=60, task_time_limit=60)
    with pytest.raises(VecqError, match="refusing to start"):
        preflight(settings, None)  # type: ignore[arg-type]  # fails before touching Redis


@pytest.mark.process
def test_vecq_worker_refuses_to_start_with_a_short_visibility_timeout() -> None:
    """`vecq worker` exits with status 2 and says why, before connecting anywhere."""
    env = dict(
        os.environ,
        VECQ_REDIS_URL="redis://127.0.0.1:1/0",
        VECQ_VISIBILITY_TIMEOUT="100",
        VECQ_TASK_TIME_LIMIT="200",
    )
    done = subprocess.run(
        [sys.executable, "-m", "vecq.api.cli", "worker"], env=env, capture_output=True, timeout=60
    )
    assert done.returncode == 2
    assert b"visibility_timeout (100s) must exceed task_time_limit (200s)" in done.stderr


def test_risky_redis_configuration_is_warned_about(
    redis_server: Callable[..., RedisServer],
) -> None:
    """An evicting Redis without persistence gets two warnings; a safe one gets none."""
    risky = redis_server("--maxmemory-policy", "allkeys-lru", "--appendonly", "no")
    warnings = preflight(Settings(redis_url=risky.url), connect(Settings(redis_url=risky.url)))
    assert len(warnings) == 2
    assert "allkeys-lru" in warnings[0] and "noeviction" in warnings[0]
    assert "nothing on disk" in warnings[1]
    safe = redis_server()  # AOF and noeviction
    assert preflight(Settings(redis_url=safe.url), connect(Settings(redis_url=safe.url))) == []


def test_a_worker_waits_for_redis_to_answer_then_gives_up_clearly() -> None:
    """Nothing on the port: preflight retries for ``wait`` seconds, then says where it looked."""
    settings = Settings(redis_url="redis://:secret@127.0.0.1:1/0")
    with pytest.raises(VecqError, match=r"cannot reach Redis at redis://:\*\*\*@127.0.0.1:1/0"):
        preflight(settings, connect(settings), wait=1.5)


def test_a_worker_started_while_redis_is_down_runs_once_it_is_back(
    redis_server: Callable[..., RedisServer],
) -> None:
    """Redis comes back within the wait: preflight answers as if it had always been there."""
    server = redis_server()
    server.stop(kill=True)
    threading.Timer(1.5, server.start).start()
    settings = Settings(redis_url=server.url)
    started = time.monotonic()
    assert preflight(settings, connect(settings), wait=30) == []
    assert time.monotonic() - started >= 1.0
