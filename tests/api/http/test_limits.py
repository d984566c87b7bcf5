"""What a request costs the server before it is trusted: nothing. A real `vecq serve` process
refuses an unauthenticated or oversized body before reading it, bounds what binary bodies
unpack to, keeps its health checks free, and caps the requests that wait for their writes."""

from __future__ import annotations

import contextlib
import io
import os
import socket
import struct
import subprocess
import sys
import threading
import time
import zipfile
from collections.abc import Iterator

import httpx
import psutil
import pytest

from tests.support.clients import broker_url
from tests.support.http_server import GRANTS, tokens_file
from tests.support.services import free_port

pytestmark = [pytest.mark.integration, pytest.mark.process]
MIB = 1024 * 1024
WRITER = {"Authorization": f"Bearer {GRANTS['writer'][0]}"}


@pytest.fixture(scope="module")
def server(redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, int]]:
    """`vecq serve --tokens` on a free port (a producer: no worker is needed here), with
    small limits: JSON 1 MiB, binary 4 MiB, two waiting requests. Its URL and pid."""
    tmp = tmp_path_factory.mktemp("serve")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("VECQ_")}
    env.update(
        VECQ_REDIS_URL=redis_url, VECQ_BROKER_URL=broker_url(redis_url), VECQ_QDRANT_PATH=":memory:"
    )
    command = ["serve", "--tokens", str(tokens_file(tmp / "tokens.toml")), "--port", str(port)]
    limits = ["--max-json-mb", "1", "--max-body-mb", "4", "--max-waiting", "2"]
    with (tmp / "serve.log").open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "vecq.api.cli", *command, *limits],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                break
        assert proc.poll() is None and time.monotonic() < deadline, (tmp / "serve.log").read_text()
        time.sleep(0.2)
    yield url, proc.pid
    proc.terminate()
    proc.wait(30)


def _chunks(total: int, size: int = MIB) -> Iterator[bytes]:
    block = b"[" + b"1," * (size // 2 - 1) + b"1"
    for _ in range(total // size):
        yield block


def _post(url: str, path: str, content: object, headers: dict[str, str]) -> tuple[int, float]:
    """The status (0 if the server closed the connection first) and the seconds it took."""
    started = time.monotonic()
    try:
        got = httpx.post(url + path, content=content, headers=headers, timeout=30)  # type: ignore[arg-type]
        status = got.status_code
    except (httpx.RemoteProtocolError, httpx.WriteError, httpx.ReadError):
        status = 0
    return status, time.monotonic() - started


def _declared(url: str, path: str, length: int, headers: dict[str, str]) -> tuple[int, float]:
    """Send only the head of a request whose Content-Length says ``length``; the status the
    server answers with before the body comes, and the seconds it took."""
    host, port = url.removeprefix("http://").split(":")
    lines = [f"POST {path} HTTP/1.1", f"Host: {host}", f"Content-Length: {length}"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    started = time.monotonic()
    with socket.create_connection((host, int(port)), timeout=10) as conn:
        conn.sendall(("\r\n".join(lines) + "\r\n\r\n").encode() + b"{")
        answer = conn.recv(4096).decode("latin-1")
    return int(answer.split()[1]), time.monotonic() - started


def test_an_unauthenticated_100_mb_body_is_refused_before_it_is_read(
    server: tuple[str, int],
) -> None:
    """No token: 401 in well under a second, the body unread, the server's memory unmoved."""
    url, pid = server
    before = psutil.Process(pid).memory_info().rss
    json_headers = {"Content-Type": "application/json"}
    status, seconds = _post(url, "/v1/indexes/h-x/upsert", _chunks(100 * MIB), json_headers)
    assert status in (401, 0) and seconds < 5
    status, seconds = _declared(url, "/v1/indexes/h-x/upsert", 100 * MIB, json_headers)
    assert status == 401 and seconds < 1
    got = httpx.post(f"{url}/v1/indexes/h-x/upsert", json={"items": []})
    assert got.status_code == 401 and got.json()["error"] == "Unauthorized"
    assert psutil.Process(pid).memory_info().rss - before < 20 * MIB


def test_bodies_over_their_limit_are_413_as_soon_as_that_is_known(server: tuple[str, int]) -> None:
    """JSON past --max-json-mb and binary past --max-body-mb, declared or chunked: 413."""
    url, pid = server
    before = psutil.Process(pid).memory_info().rss
    json_headers = {**WRITER, "Content-Type": "application/json"}
    status, seconds = _post(url, "/v1/indexes/h-x/upsert", _chunks(64 * MIB), json_headers)
    assert status in (413, 0) and seconds < 10
    assert _declared(url, "/v1/indexes/h-x/upsert", 2 * MIB, json_headers)[0] == 413
    npy = {**WRITER, "Content-Type": "application/x-npy"}
    assert _declared(url, "/v1/indexes/h-x/vectors?id_start=0", 5 * MIB, npy)[0] == 413
    status, _ = _post(url, "/v1/indexes/h-x/vectors?id_start=0", _chunks(64 * MIB), npy)
    assert status in (413, 0), status
    assert psutil.Process(pid).memory_info().rss - before < 40 * MIB


def _index(url: str) -> tuple[str, dict[str, str]]:
    name = f"h-{os.urandom(4).hex()}"
    got = httpx.post(f"{url}/v1/indexes", json={"name": name, "dimension": 4}, headers=WRITER)
    assert got.status_code == 201, got.text
    return name, {**WRITER, "X-Index-Key": got.json()["index_key"]}


def _npy_header(shape: tuple[int, ...]) -> bytes:
    header = f"{{'descr': '<f4', 'fortran_order': False, 'shape': {shape}, }}".encode()
    header += b" " * (63 - len(header) % 64) + b"\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header


def test_binary_bodies_cannot_unpack_past_the_limit(server: tuple[str, int]) -> None:
    """A .npy header declaring 2**62 rows, an .npz of a few KiB that would unpack to a GiB
    and an .npz member claiming more than it holds are 400s naming the problem; the server's
    memory barely moves."""
    url, pid = server
    name, headers = _index(url)
    before = psutil.Process(pid).memory_info().rss
    route = f"{url}/v1/indexes/{name}/vectors?id_start=0"
    huge = _npy_header((2**62, 4)) + b"\x00" * 64
    got = httpx.post(route, content=huge, headers={**headers, "Content-Type": "application/x-npy"})
    assert (
        got.status_code == 400 and "needs 73,786,976,294,838,206,464 bytes" in got.json()["detail"]
    )
    bomb = io.BytesIO()
    with (
        zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as archive,
        archive.open("vectors.npy", "w", force_zip64=True) as member,
    ):
        member.write(_npy_header((2**26, 4)))
        zeros = b"\x00" * MIB
        for _ in range(1024):  # 1 GiB of zeros: a few MiB deflated
            member.write(zeros)
    assert len(bomb.getvalue()) < 4 * MIB
    got = httpx.post(
        route,
        content=bomb.getvalue(),
        headers={**headers, "Content-Type": "application/x-npz"},
        timeout=30,
    )
    assert got.status_code == 400 and "would unpack to 1,073,741,9" in got.json()["detail"]
    assert psutil.Process(pid).memory_info().rss - before < 64 * MIB


def test_health_answers_at_once_while_waiting_requests_are_capped(server: tuple[str, int]) -> None:
    """With every waiting slot held (no worker: the writes never settle), one more
    ?wait=true request is 503 with Retry-After, and /healthz and /readyz answer at once."""
    url, _ = server
    name, headers = _index(url)
    route = f"{url}/v1/indexes/{name}/upsert?wait=true&timeout=20"
    body = {"items": [{"id": 1, "vector": [1, 2, 3, 4]}]}

    def hold() -> None:
        """Wait in a slot for 20 s; a try that finds the slots full (the probe's brief one
        holding the other) tries again."""
        while httpx.post(route, json=body, headers=headers, timeout=60).status_code == 503:
            time.sleep(0.05)

    waiting = [threading.Thread(target=hold) for _ in range(2)]
    for thread in waiting:
        thread.start()
    # Until both hold their slots (on a busy machine, seconds): a probe that still gets one
    # waits 0.1 s only, and the next try comes.
    brief = f"{url}/v1/indexes/{name}/upsert?wait=true&timeout=0.1"
    deadline = time.monotonic() + 60
    while (refused := httpx.post(brief, json=body, headers=headers, timeout=30)).status_code == 202:
        assert time.monotonic() < deadline, "the two waiting requests never held their slots"
        time.sleep(0.2)  # room for a holder refused by this probe to try again
    assert refused.status_code == 503 and refused.headers["retry-after"] == "5"
    for path in ("/healthz", "/readyz"):
        started = time.monotonic()
        assert httpx.get(url + path, timeout=10).status_code == 200
        assert time.monotonic() - started < 2
    for thread in waiting:
        thread.join(60)
