"""Secrets stay out of logs and reprs; TLS to Redis (rediss://) and to Qdrant (https + API key)."""

from __future__ import annotations

import datetime
import http.server
import importlib.metadata
import ipaddress
import json
import logging
import shutil
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.support.services import RedisServer, free_port, need
from vecq import Client, InvalidKeyError
from vecq.shared.config.settings import Settings
from vecq.shared.engines import open_engine

pytestmark = pytest.mark.integration

SECRET = "pa55-Wd-never-logged"
API_KEY = "qk-also-never-logged"


def _certificates(directory: Path) -> tuple[Path, Path, Path]:
    """A private CA and a server certificate for 127.0.0.1/localhost: (ca, cert, key) paths."""
    now = datetime.datetime.now(datetime.UTC)

    def issue(subject: str, key: ec.EllipticCurvePrivateKey, issuer_key, issuer, ca: bool):  # type: ignore[no-untyped-def]
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
        builder = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(issuer or name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        )
        if not ca:
            builder = builder.add_extension(
                x509.SubjectAlternativeName(
                    [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
                ),
                critical=False,
            )
        return builder.sign(issuer_key, hashes.SHA256())

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = issue("vecq test CA", ca_key, ca_key, None, True)
    key = ec.generate_private_key(ec.SECP256R1())
    cert = issue("localhost", key, ca_key, ca_cert.subject, False)
    paths = directory / "ca.pem", directory / "server.pem", directory / "server.key"
    paths[0].write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
    )
    return paths


def test_passwords_and_api_keys_never_reach_logs_or_reprs(
    redis_server: Callable[..., RedisServer], caplog: pytest.LogCaptureFixture
) -> None:
    """A full run with a password-protected Redis logs and shows neither secret."""
    port = free_port()
    redis_server("--port", str(port), "--requirepass", SECRET, password=SECRET)
    url = f"redis://:{SECRET}@127.0.0.1:{port}/0"
    caplog.set_level(logging.DEBUG)
    shown: list[str] = []
    with Client(
        redis_url=url, qdrant_path=":memory:", qdrant_api_key=API_KEY, worker=True
    ) as client:
        index = client.create_index("secret", index_key=client.generate_key(), dimension=4)
        job = index.upsert(np.arange(50), np.ones((50, 4), np.float32))
        with pytest.raises(InvalidKeyError) as wrong:
            client.load_index("secret", index_key=client.generate_key())
        shown += [repr(client), repr(client.settings), repr(index), repr(job), str(wrong.value)]
    text = caplog.text + "\n".join(shown)
    assert "127.0.0.1" in text  # the URLs are there, redacted
    assert SECRET not in text and API_KEY not in text


@pytest.mark.process
def test_worker_process_log_shows_no_password(
    redis_server: Callable[..., RedisServer], tmp_path: Path
) -> None:
    """`vecq worker` logs where it connects without the password."""
    port = free_port()
    redis_server("--port", str(port), "--requirepass", SECRET, password=SECRET)
    env = {
        "PATH": "/usr/bin:/bin",
        "VECQ_REDIS_URL": f"redis://:{SECRET}@127.0.0.1:{port}/0",
        "VECQ_QDRANT_PATH": str(tmp_path / "q"),
        "VECQ_QDRANT_API_KEY": API_KEY,
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "vecq.api.cli", "worker", "-l", "DEBUG"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    lines: list[bytes] = []
    assert proc.stdout is not None
    for line in proc.stdout:
        lines.append(line)
        if b"ready" in line or len(lines) > 400:
            break
    proc.terminate()
    rest, _ = proc.communicate(timeout=30)
    text = b"".join(lines).decode(errors="replace") + rest.decode(errors="replace")
    assert "vecq worker: broker redis://:***@127.0.0.1" in text
    assert SECRET not in text and API_KEY not in text


def _tls_redis_binary() -> str:
    binary = shutil.which("redis-server") or ""
    if not binary:
        return ""
    probe = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=10)
    linked = subprocess.run(["ldd", binary], capture_output=True, text=True, timeout=10)
    return binary if "libssl" in linked.stdout and probe.returncode == 0 else ""


def test_rediss_url_runs_the_whole_pipeline_over_tls(
    redis_server: Callable[..., RedisServer], tmp_path: Path
) -> None:
    """Producer, broker and worker all reach a TLS-only Redis through a rediss:// URL."""
    binary = _tls_redis_binary()
    need(bool(binary), "a redis-server built with TLS (the system one)")
    ca, cert, key = _certificates(tmp_path)
    port = free_port()
    redis_server(
        "--tls-port",
        str(port),
        "--tls-cert-file",
        str(cert),
        "--tls-key-file",
        str(key),
        "--tls-ca-cert-file",
        str(ca),
        "--tls-auth-clients",
        "no",
        binary=binary,
    )
    url = f"rediss://127.0.0.1:{port}/0?ssl_cert_reqs=required&ssl_ca_certs={ca}"
    with Client(redis_url=url, qdrant_path=":memory:", worker=True, stall_timeout=20) as client:
        index = client.create_index(
            "tls", index_key=client.generate_key(), dimension=4, metric="dot"
        )
        index.upsert(np.arange(300), np.ones((300, 4), np.float32), timeout=30)
        assert index.count() == 300


# The recorder claims the installed client's version, so its compatibility check is quiet.
_CLIENT_VERSION = importlib.metadata.version("qdrant-client")


class _Recorder(http.server.BaseHTTPRequestHandler):
    seen: ClassVar[list[dict[str, str]]] = []

    def do_GET(self) -> None:
        type(self).seen.append(
            {k.lower(): v for k, v in self.headers.items()} | {"path": self.path}
        )
        if self.path == "/":  # qdrant-client asks for the server version first
            body = json.dumps({"title": "qdrant", "version": _CLIENT_VERSION}).encode()
        else:
            body = json.dumps({"result": {"exists": True}, "status": "ok", "time": 0.0}).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def https_endpoint(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A TLS-only HTTP endpoint that records request headers: (url, CA path)."""
    ca, cert, key = _certificates(tmp_path)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _Recorder.seen = []
    yield f"https://localhost:{server.server_address[1]}", ca
    server.shutdown()
    server.server_close()


def test_qdrant_api_key_travels_over_https_only(https_endpoint: tuple[str, Path]) -> None:
    """The client vecq opens for a Qdrant server verifies TLS and sends the API key header.

    The endpoint is a recorder, not Qdrant: it checks the transport (TLS, header), which is
    all vecq configures; the calls themselves are the ones the tests run on local mode.
    """
    url, ca = https_endpoint
    settings = Settings(qdrant_url=url, qdrant_api_key=API_KEY, qdrant_ca_cert=str(ca))
    qdrant = open_engine(settings)
    try:
        assert qdrant.client.collection_exists("vecq__x__0") is True
    finally:
        qdrant.close()
    (request,) = [r for r in _Recorder.seen if r["path"].startswith("/collections/")]
    assert request["path"] == "/collections/vecq__x__0/exists"
    assert all(r["api-key"] == API_KEY for r in _Recorder.seen)
    assert API_KEY not in repr(settings)


@pytest.fixture
def http_endpoint() -> Iterator[str]:
    """A plain-HTTP endpoint that answers like Qdrant's REST API and records requests."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _Recorder.seen = []
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_grpc_falls_back_to_rest_when_its_port_is_closed(
    http_endpoint: str, caplog: pytest.LogCaptureFixture
) -> None:
    """prefer_grpc (the default) with nothing on the gRPC port: a warning, then REST."""
    settings = Settings(qdrant_url=http_endpoint, qdrant_grpc_port=free_port())
    assert settings.prefer_grpc
    qdrant = open_engine(settings)
    try:
        assert not qdrant.grpc
        assert qdrant.client.collection_exists("vecq__x__0") is True
    finally:
        qdrant.close()
    assert any(r["path"] == "/collections/vecq__x__0/exists" for r in _Recorder.seen)
    assert "does not answer; using REST" in caplog.text
    _version_checks_done()


def test_grpc_falls_back_when_the_port_is_not_qdrant(http_endpoint: str) -> None:
    """A gRPC server without Qdrant's services on the port (UNIMPLEMENTED) also means REST."""
    from concurrent import futures

    import grpc

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=1))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        qdrant = open_engine(Settings(qdrant_url=http_endpoint, qdrant_grpc_port=port))
        assert not qdrant.grpc
        qdrant.close()
    finally:
        server.stop(None)
    _version_checks_done()


def _version_checks_done() -> None:
    """Wait for both clients' background version checks, before the endpoint goes away."""
    deadline = time.monotonic() + 60
    while sum(r["path"] == "/" for r in _Recorder.seen) < 2:
        assert time.monotonic() < deadline, "qdrant-client never asked for the version"
        time.sleep(0.01)


def test_a_private_ca_means_rest_without_probing_grpc(https_endpoint: tuple[str, Path]) -> None:
    """qdrant-client's gRPC channel ignores a custom CA, so vecq uses REST for it."""
    url, ca = https_endpoint
    qdrant = open_engine(Settings(qdrant_url=url, qdrant_ca_cert=str(ca)))
    try:
        assert not qdrant.grpc
    finally:
        qdrant.close()
