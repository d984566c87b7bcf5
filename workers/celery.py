"""The Celery app of the workers, built from settings, and the context its tasks share.

``vecq worker`` and the in-process worker build theirs with :func:`create_app`. Celery's
own tools find one here too: ``celery -A vecq.workers flower`` (or ``inspect``, ``events``)
looks up ``vecq.workers.celery.app``, which is built on first use from the ``VECQ_*`` settings.
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable
from typing import Any

from celery import Celery

from vecq.shared import keys
from vecq.shared.config.celery_config import celery_config
from vecq.shared.config.redis_client import connect
from vecq.shared.config.settings import Settings
from vecq.shared.engines import Writer, open_engine
from vecq.shared.wire import messages
from vecq.shared.wire.messages import BatchRef
from vecq.workers import tasks
from vecq.workers.context import WorkerContext
from vecq.workers.pacer import Pacer
from vecq.workers.reaper import InBroker, Reaper
from vecq.workers.sink import QdrantSink


def create_app(settings: Settings, engine: Writer | None = None) -> Celery:
    """A worker app for ``settings``; ``engine`` injects an already-open engine (embedded)."""
    app = Celery("vecq", set_as_current=False)
    app.conf.update(celery_config(settings))
    lock = threading.Lock()
    holder: list[WorkerContext] = []

    def context() -> WorkerContext:
        # Built on first use so that a forked pool child opens its own connections.
        with lock:
            if not holder:
                opened = engine if engine is not None else open_engine(settings)
                r = connect(settings)
                server = opened.kind == "server"
                sink = QdrantSink(
                    opened,
                    retry_seconds=settings.retry_seconds,
                    concurrency=settings.write_concurrency if server else 1,
                    pacer=Pacer(r) if server else None,
                )
                holder.append(WorkerContext(redis=r, sink=sink, settings=settings).announce())
            return holder[0]

    def release() -> None:
        # Closes what the context opened; an injected engine belongs to its owner.
        with lock:
            for ctx in holder:
                ctx.close()
                ctx.sink.close()
                ctx.redis.close()
                if engine is None:
                    ctx.sink.engine.close()
            holder.clear()

    tasks.register(app, context)
    app.vecq_context = context
    app.vecq_release = release
    return app


def publisher(app: Celery) -> Callable[[BatchRef], None]:
    """Publish a batch reference with the worker's own app (used to publish lost batches)."""

    def publish(ref: BatchRef) -> None:
        messages.send(app, ref)

    return publish


def start_reaper(app: Celery, settings: Settings) -> Reaper:
    """Start the sweep that delivers again what nobody else will (see reaper.py)."""
    return Reaper(
        connect(settings),
        publisher(app),
        settings.visibility_timeout,
        in_broker(app),
        reclaim_after=settings.reclaim_seconds,
        dead_letters=(settings.dead_letter_days * 86400, settings.dead_letter_max),
    ).start()


# Messages read at a time while looking for batches in a queue.
IN_BROKER_PAGE = 500


def in_broker(app: Celery) -> InBroker | None:
    """For a Redis broker: which batches' messages it holds, queued or unacknowledged.

    kombu keeps a queue as a list, and unacknowledged messages in a hash, indexed by when
    they were taken; a message carries its batch's description in its headers
    (``argsrepr``), which is what is looked for. A message unacknowledged for longer than
    the visibility timeout does not count: by kombu's own rule its worker is gone (a live
    worker's countdowns stay shorter), and kombu's restore of it can lag behind. ``None``
    for another broker (it is not asked).
    """
    url = str(app.conf.broker_url or "")
    if not url.startswith(("redis://", "rediss://", "redis+socket://", "sentinel://")):
        return None
    visibility = float(app.conf.broker_transport_options["visibility_timeout"])

    def find(refs: list[BatchRef]) -> set[str]:
        wanted = {ref.describe().encode(): ref.member for ref in refs}
        found: set[str] = set()

        def look(messages: list[bytes | None]) -> None:
            text = b"\x00".join(m for m in messages if m)  # acknowledged meanwhile: None
            for described in [d for d in wanted if d in text]:
                found.add(wanted.pop(described))

        with app.connection_for_read() as conn:
            channel = conn.default_channel
            client = channel.client
            taken = client.zrangebyscore(
                channel.unacked_index_key, time.time() - visibility, "+inf"
            )
            look(client.hmget(channel.unacked_key, taken) if taken else [])
            # Queues are read a page at a time from their oldest end (kombu pushes on the
            # left and takes from the right), where the sweep's suspects (the quietest
            # batches) wait; the read stops once every one is found, so its cost follows
            # the suspects, not the length of a backlog.
            for queue in (keys.QUEUE_BULK, keys.QUEUE_LIVE):
                page = 0
                while wanted:
                    end = -page * IN_BROKER_PAGE - 1
                    chunk = client.lrange(queue, end - IN_BROKER_PAGE + 1, end)
                    look(chunk)
                    if len(chunk) < IN_BROKER_PAGE:
                        break
                    page += 1
        return found

    return find


@functools.cache
def _tools_app() -> Celery:
    return create_app(Settings.from_env())


def __getattr__(name: str) -> Any:
    # ``app`` is built only when asked for (by Celery's tools), never on import.
    if name == "app":
        return _tools_app()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
