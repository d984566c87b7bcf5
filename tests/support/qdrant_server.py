"""A real Qdrant server for the tests that run on one: the binary ``VECQ_TEST_QDRANT_BIN``
names (built from source; none is committed or downloaded), started on free loopback ports
with its storage in a temporary folder. Without the variable those tests are skipped."""

from __future__ import annotations

import os
import socket
import subprocess
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

BINARY = "VECQ_TEST_QDRANT_BIN"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class QdrantServer:
    """One ``qdrant`` process; ``url`` (REST) and ``grpc_port`` reach it."""

    process: subprocess.Popen[bytes]
    url: str
    grpc_port: int
    log: Path

    @classmethod
    def start(cls, binary: str, folder: Path) -> QdrantServer:
        http, grpc = _free_port(), _free_port()
        env = {
            **os.environ,
            "QDRANT__SERVICE__HOST": "127.0.0.1",
            "QDRANT__SERVICE__HTTP_PORT": str(http),
            "QDRANT__SERVICE__GRPC_PORT": str(grpc),
            "QDRANT__STORAGE__STORAGE_PATH": str(folder / "storage"),
            "QDRANT__STORAGE__SNAPSHOTS_PATH": str(folder / "snapshots"),
            "QDRANT__TELEMETRY_DISABLED": "true",
        }
        log = folder / "qdrant.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                [binary], cwd=folder, env=env, stdout=out, stderr=subprocess.STDOUT
            )
        server = cls(process, f"http://127.0.0.1:{http}", grpc, log)
        server._wait_ready()
        return server

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + 120  # a busy machine: starting takes seconds, not this
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"qdrant exited at start: {self.log.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(f"{self.url}/readyz", timeout=2) as answer:
                    if answer.status == 200:
                        return
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"qdrant did not get ready: {self.log.read_text()[-2000:]}")
            time.sleep(0.2)

    def settings(self) -> dict[str, object]:
        """Client and worker settings that write to this server (over gRPC)."""
        return {"qdrant_url": self.url, "qdrant_grpc_port": self.grpc_port}

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)


def binary_or_skip() -> str:
    """The server binary the tests were given, or skip the test saying how to give one."""
    binary = os.environ.get(BINARY)
    if not binary:
        pytest.skip(f"no Qdrant server binary: set {BINARY} to a qdrant built from source")
    if not os.access(binary, os.X_OK):
        pytest.fail(f"{BINARY}={binary!r} is not an executable file")
    return binary
