"""Running a standalone worker process (``vecq worker``)."""

from __future__ import annotations

import logging
import threading

from celery import signals

from vecq.shared import keys, logs
from vecq.shared.config.redis_client import connect
from vecq.shared.config.settings import Settings
from vecq.shared.errors import VecqError
from vecq.shared.redaction import redact_url
from vecq.workers import metrics
from vecq.workers.celery import create_app, start_reaper
from vecq.workers.checks import preflight
from vecq.workers.live import LiveLane

log = logging.getLogger(__name__)


def run_worker(settings: Settings, loglevel: str = "INFO", pool: str | None = None) -> int:
    """Consume until stopped (SIGTERM/SIGINT finish the batch in hand first)."""
    if settings.redis_url is None:
        raise SystemExit(
            "vecq worker: with no VECQ_REDIS_URL the embedded service runs the worker (every "
            "embedded command starts it; `vecq up` starts it now). To run workers of your own, "
            "set VECQ_REDIS_URL (and VECQ_QDRANT_URL)"
        )
    logs.configure(loglevel, settings.log_format)
    # Keep vecq's structured handler: Celery configures logging itself unless someone
    # answers this signal.
    signals.setup_logging.connect(_keep_logging, weak=False)
    try:
        warnings = preflight(settings, connect(settings))
    except VecqError as exc:
        raise SystemExit(f"vecq worker: {exc}") from None
    for warning in warnings:
        log.warning("%s", warning)
    app = create_app(settings)
    pool, concurrency = _pool(settings, pool)
    if concurrency < settings.worker_concurrency:
        log.info(
            "Qdrant %s writes hold the GIL: one worker thread, not %d",
            settings.engine,
            settings.worker_concurrency,
        )
    log.info(
        "vecq worker: broker %s, qdrant %s at %s, pool %s x%d",
        redact_url(settings.resolved_broker_url),
        settings.engine,
        settings.engine_location,
        pool,
        concurrency,
    )
    # The live lane is a thread of this process using its Qdrant context. A prefork parent has
    # none (its children do), so there the pool serves the live queue itself, ahead of bulk
    # (listed first), without coalescing.
    lane_thread = pool != "prefork"
    queues = [keys.QUEUE_BULK] if lane_thread else [keys.QUEUE_LIVE, keys.QUEUE_BULK]
    worker = app.Worker(
        pool_cls=pool,
        concurrency=concurrency,
        queues=queues,
        loglevel=loglevel.upper(),
        without_gossip=True,
        without_mingle=True,
        redirect_stdouts=False,
    )
    ready = threading.Event()
    _announce_readiness(ready, settings, pool, queues)
    if settings.metrics_port:
        metrics.serve(settings.metrics_port, connect(settings), app, ready, settings.metrics_host)
    reaper = start_reaper(app, settings)
    lane = LiveLane(app).start() if lane_thread else None
    try:
        worker.start()
    finally:
        if lane is not None:
            lane.stop()
        reaper.stop()
    return int(worker.exitcode or 0)


def _pool(settings: Settings, pool: str | None) -> tuple[str, int]:
    """The pool and its concurrency: what was asked, within what the engine allows."""
    # Edge and local mode can be opened by one process only: threads by default. A prefork
    # pool of one child also works (each new child reopens the storage after the last died).
    pool = pool or ("threads" if settings.in_process_engine else "prefork")
    if pool == "prefork" and settings.in_process_engine and settings.worker_concurrency > 1:
        raise SystemExit(
            f"vecq worker: Qdrant {settings.engine} allows one process per folder: use -c 1 "
            "or the threads pool"
        )
    if pool == "prefork":
        return pool, settings.worker_concurrency
    return pool, settings.effective_concurrency


# The line a supervisor (or a test) waits for before sending work.
READY_LINE = "vecq worker ready"


def _announce_readiness(
    ready: threading.Event, settings: Settings, pool: str, queues: list[str]
) -> None:
    """Set ``ready`` and log :data:`READY_LINE` when Celery is consuming; clear it on shutdown."""

    def on_ready(**_: object) -> None:
        ready.set()
        log.info(
            "%s: consuming %s (live lane: %s), pool %s, Qdrant %s at %s",
            READY_LINE,
            ", ".join(queues),
            "a thread" if keys.QUEUE_LIVE not in queues else "the pool",
            pool,
            settings.engine,
            settings.engine_location,
        )

    def on_stopping(**_: object) -> None:
        ready.clear()

    signals.worker_ready.connect(on_ready, weak=False)
    signals.worker_shutting_down.connect(on_stopping, weak=False)


def _keep_logging(**_: object) -> None:
    """Answers Celery's ``setup_logging``: logging is already configured."""
