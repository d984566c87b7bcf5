"""Fault-test fixtures: private Redis servers and worker processes the tests may kill."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support.services import RedisServer
from tests.support.workers import Workers


@pytest.fixture
def workers(
    tmp_path: Path, redis_server: Callable[..., RedisServer], engine: str
) -> Iterator[Workers]:
    """Worker processes on a private Redis, writing to ``engine`` persisted under tmp_path."""
    (tmp_path / "logs").mkdir()
    pool = Workers(redis_server(), tmp_path / "data", tmp_path / "logs", engine)
    yield pool
    pool.stop_all(kill=True)
