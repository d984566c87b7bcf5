"""The Celery app of the workers, built from settings, and the context its tasks share."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import redis
from celery import Celery

from shared import keys
from shared.celeryconf import celery_config
from shared.messages import BatchRef
from shared.qdrant import open_qdrant, uses_grpc
from shared.settings import Settings
from workers import tasks
from workers.pipeline import WorkerContext
from workers.reaper import Reaper
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
                            grpc=uses_grpc(client),
                        ),
                        settings=settings,
                    )
                )
            return holder[0]

    def release() -> None:
        # Closes what the context opened; an injected Qdrant client belongs to its owner.
        with lock:
            for ctx in holder:
                ctx.redis.close()
                if qdrant is None:
                    ctx.sink.client.close()
            holder.clear()

    tasks.register(app, context)
    app.vecq_context = context
    app.vecq_release = release
    return app


def publisher(app: Celery) -> Callable[[BatchRef], None]:
    """Publish a batch reference with the worker's own app (used to publish lost batches)."""

    def publish(ref: BatchRef) -> None:
        app.send_task(
            keys.TASK_UPSERT_BATCH,
            args=[ref.to_message()],
            queue=keys.QUEUE_BULK,
            argsrepr=ref.describe(),
            kwargsrepr="{}",
        )

    return publish


def start_reaper(app: Celery, settings: Settings) -> Reaper:
    """Start the sweep that republishes batches whose messages were lost (see reaper.py)."""
    return Reaper(redis_client(settings), publisher(app), settings.visibility_timeout).start()


def redis_client(settings: Settings) -> redis.Redis:
    """A Redis client for blobs, ledgers and the registry."""
    if settings.redis_url is None:
        raise ValueError("a worker needs a Redis URL (VECQ_REDIS_URL)")
    # The socket timeout bounds every call; blocking waits pass their own, shorter timeouts.
    return redis.Redis.from_url(settings.redis_url, socket_timeout=30, socket_connect_timeout=5)
