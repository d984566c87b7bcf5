"""Clients the tests share: a server-mode client with an in-process worker on the test Redis."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from api import Client


def broker_url(redis_url: str) -> str:
    """The Celery broker URL of a Redis URL (a unix socket needs kombu's own scheme)."""
    return (
        "redis+socket://" + redis_url.removeprefix("unix://")
        if redis_url.startswith("unix://")
        else redis_url
    )


@contextlib.contextmanager
def worker_client(redis_url: str, **options: Any) -> Iterator[Client]:
    """A client on ``redis_url`` with an in-process worker and in-memory Qdrant."""
    options = {"stall_timeout": 20.0, **options}
    with Client(
        redis_url=redis_url,
        broker_url=broker_url(redis_url),
        qdrant_path=":memory:",
        worker=True,
        **options,
    ) as c:
        yield c
