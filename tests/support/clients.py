"""Clients the tests share: a server-mode client with an in-process worker on the test Redis."""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator
from typing import Any

from vecq import Client


def broker_url(redis_url: str) -> str:
    """The Celery broker URL of a Redis URL (a unix socket needs kombu's own scheme)."""
    return (
        "redis+socket://" + redis_url.removeprefix("unix://")
        if redis_url.startswith("unix://")
        else redis_url
    )


@contextlib.contextmanager
def worker_client(redis_url: str, engine: str = "edge", **options: Any) -> Iterator[Client]:
    """A client on ``redis_url`` with an in-process worker, writing to ``engine``.

    ``edge``: Qdrant Edge in a fresh temporary folder; ``local``: local mode in memory.
    """
    options = {"stall_timeout": 20.0, **options}
    given = options.pop("where", None)  # the server engine's settings
    with tempfile.TemporaryDirectory(prefix="vecq-test-") as data_dir:
        where = given or (
            {"qdrant_path": ":memory:"} if engine == "local" else {"data_dir": data_dir}
        )
        with Client(
            redis_url=redis_url, broker_url=broker_url(redis_url), worker=True, **where, **options
        ) as c:
            yield c
