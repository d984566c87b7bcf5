"""A real S3-compatible server for the object-storage tests: moto's server mode on loopback.

moto (PyPI) answers the S3 REST API the way AWS does, from memory; vecq reaches it as any
S3-compatible store, through ``AWS_ENDPOINT_URL``, with s3fs. Started once per session in
a thread of the test process.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
import uuid
from collections.abc import Iterator

import pytest

CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "vecq-test",
    "AWS_SECRET_ACCESS_KEY": "vecq-test-secret",
    "AWS_DEFAULT_REGION": "us-east-1",
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """The URL of a running S3-compatible server (moto), for the whole session."""
    server_mod = pytest.importorskip("moto.server")
    pytest.importorskip("s3fs")
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # a line per request otherwise
    port = _free_port()
    server = server_mod.ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


@pytest.fixture
def s3_bucket(s3_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """A fresh bucket; the environment points S3 clients (this process's and children's) at
    the server, as a MinIO user's would."""
    import boto3

    for name, value in {**CREDENTIALS, "AWS_ENDPOINT_URL": s3_endpoint}.items():
        monkeypatch.setenv(name, value)
    bucket = f"vecq-{uuid.uuid4().hex[:12]}"
    client = boto3.client("s3", endpoint_url=s3_endpoint)
    client.create_bucket(Bucket=bucket)
    return bucket


def put(bucket: str, key: str, body: bytes, public: bool = False) -> None:
    """Upload ``body`` as ``s3://bucket/key`` (with the environment the fixture set);
    ``public``: readable without credentials, at the server's plain URL too."""
    import boto3

    acl = {"ACL": "public-read"} if public else {}
    boto3.client("s3").put_object(Bucket=bucket, Key=key, Body=body, **acl)


class CountingProxy:
    """A TCP relay on loopback in front of the S3 server that counts the bytes the server
    sends: what a reader really fetched, whichever library it reads through."""

    def __init__(self, target: str) -> None:
        host, _, port = target.rpartition("//")[2].partition(":")
        self._target = (host, int(port))
        self.received = 0
        self.requests = 0
        """Requests the reader made (each counted by its request line's method)."""
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:  # closed
                return
            server = socket.create_connection(self._target)
            with self._lock:
                self._sockets += [client, server]
            threading.Thread(target=self._pipe, args=(client, server, False), daemon=True).start()
            threading.Thread(target=self._pipe, args=(server, client, True), daemon=True).start()

    def _pipe(self, source: socket.socket, sink: socket.socket, counted: bool) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(1 << 16):
                with self._lock:
                    if counted:
                        self.received += len(data)
                    else:
                        self.requests += data.count(b"GET /") + data.count(b"HEAD /")
                sink.sendall(data)
        for s in (source, sink):
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self._listener.close()
        with self._lock:
            for s in self._sockets:
                s.close()
