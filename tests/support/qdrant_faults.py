"""Fault injection around the real Qdrant client: it raises qdrant-client's own exception types."""

from __future__ import annotations

import threading
from typing import Any

import httpx
from qdrant_client import models
from qdrant_client.http.exceptions import ResponseHandlingException, UnexpectedResponse


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
