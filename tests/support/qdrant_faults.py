"""Fault injection around the real engines, raising each engine's own exception types.

``FlakyQdrant`` wraps qdrant-client (a server's or local mode's calls): an outage raises
its connection error, a poisoned point its 400. ``FlakyEdge`` wraps the Edge engine: a
write holding a poisoned point is replaced by a request Edge itself refuses, so the error
is Edge's own. Edge runs in-process and has no outages to simulate.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from typing import Any

import grpc
import httpx
from qdrant_client import models
from qdrant_client.common.client_exceptions import ResourceExhaustedResponse
from qdrant_client.http.exceptions import ResponseHandlingException, UnexpectedResponse

from vecq.shared.engines import Write
from vecq.shared.state.registry import IndexInfo


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


class FlakyEdge:
    """The real Edge engine, except that a write holding a poisoned id fails with Edge's error."""

    def __init__(self, real: Any) -> None:
        self.real = real
        self.poison: set[int] = set()
        self.calls = 0

    def write(self, info: IndexInfo, request: Write) -> None:
        self.calls += 1
        bad = [i for i, point_id in enumerate(request.ids) if point_id in self.poison]
        if bad:
            # The poisoned point with its vector cut short: Edge refuses it as it would any
            # malformed point ("Vector dimension error: ..."), a plain Exception.
            row = bad[0]
            refused = Write(
                [request.ids[row]],
                request.vectors[row : row + 1, :-1],
                [request.payloads[row]],
                request.seqs[row : row + 1],
            )
            self.real.write(info, refused)
            raise AssertionError("Edge accepted a vector of the wrong dimension")
        self.real.write(info, request)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)


@contextlib.contextmanager
def poisonable(sink: Any) -> Iterator[FlakyEdge | FlakyQdrant]:
    """A worker sink's real engine wrapped, until the block ends, to reject poisoned ids with
    its own error (Edge's; qdrant-client's 400 for local mode or a server)."""
    engine = sink.engine
    if engine.kind == "edge":
        edge = FlakyEdge(engine)
        sink.engine = edge
        try:
            yield edge
        finally:
            sink.engine = engine
        return
    client = FlakyQdrant(engine.client)
    engine.client = client
    try:
        yield client
    finally:
        engine.client = client.real


class ThrottledQdrant:
    """The real Qdrant client, except that ``upsert`` answers as a server under load would.

    ``refusals`` upserts are refused with ``error()`` (qdrant-client's real 429, its
    ResourceExhaustedResponse, or grpc's RESOURCE_EXHAUSTED), then every call goes through.
    Calls in flight at once are counted before the real client's lock, with a pause inside
    so that overlapping callers really overlap.
    """

    def __init__(self, real: Any, error: Any = None, refusals: int = 0, pause: float = 0.0):
        self.real = real
        self.error = error
        self.refusals = refusals
        self.pause = pause
        self.calls = 0
        self.in_flight = 0
        self.most_in_flight = 0
        self._lock = threading.Lock()

    def upsert(self, collection: str, points: models.Batch, **kwargs: Any) -> Any:
        with self._lock:
            self.calls += 1
            refuse = self.refusals > 0
            self.refusals -= refuse
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            if refuse:
                raise self.error()
            time.sleep(self.pause)
            return self.real.upsert(collection, points, **kwargs)
        finally:
            with self._lock:
                self.in_flight -= 1

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)


def too_many_requests() -> UnexpectedResponse:
    """A REST server's 429 under strict mode, with its Retry-After (1 s)."""
    return UnexpectedResponse(
        429,
        "Too Many Requests",
        b'{"status":{"error":"rate limit"}}',
        httpx.Headers({"retry-after": "1"}),
    )


def resource_exhausted() -> Exception:
    """qdrant-client's gRPC answer to RESOURCE_EXHAUSTED with a retry-after trailer (1 s)."""
    return ResourceExhaustedResponse("rate limit", 1)


def grpc_exhausted() -> grpc.RpcError:
    """grpc's own RESOURCE_EXHAUSTED, without a retry-after trailer."""
    return grpc.aio.AioRpcError(
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        grpc.aio.Metadata(),
        grpc.aio.Metadata(),
        details="Rate limiting exceeded",
    )
