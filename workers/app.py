"""The Celery app of the workers, built from settings, and the context its tasks share."""

from __future__ import annotations

import threading
from typing import Any

import redis
from celery import Celery

from shared.celeryconf import celery_config
from shared.qdrant import open_qdrant
from shared.settings import Settings
from workers import tasks
from workers.pipeline import WorkerContext
from workers.sink import QdrantSink


def create_app(settings: Settings, qdrant: Any | None = None) -> Celery:
    """A worker app for ``settings``; ``qdrant`` injects an already-open client (embedded)."""
    app = Celery("vecq", set_as_current=False)
    app.conf.update(celery_config(settings))
    lock = threading.Lock()
    holder: list[WorkerContext] = []

    def context() -> WorkerContext:
        # Built on first use so that a forked pool child opens its own connections.
        with lock:
            if not holder:
                client = qdrant if qdrant is not None else open_qdrant(settings)
                holder.append(
                    WorkerContext(
                        redis=redis_client(settings),
                        sink=QdrantSink(
                            client,
                            local=settings.local_qdrant,
                            retry_seconds=settings.retry_seconds,
                        ),
                        settings=settings,
                    )
                )
            return holder[0]

    tasks.register(app, context)
    app.vecq_context = context
    return app


def redis_client(settings: Settings) -> redis.Redis:
    """A Redis client for blobs, ledgers and the registry."""
    if settings.redis_url is None:
        raise ValueError("a worker needs a Redis URL (VECQ_REDIS_URL)")
    # The socket timeout bounds every call; blocking waits pass their own, shorter timeouts.
    return redis.Redis.from_url(settings.redis_url, socket_timeout=30, socket_connect_timeout=5)
