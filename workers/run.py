"""Running a standalone worker process (``vecq worker``)."""

from __future__ import annotations

import logging

from shared import keys
from shared.settings import Settings, redact_url
from workers.app import create_app

log = logging.getLogger(__name__)


def run_worker(settings: Settings, loglevel: str = "INFO") -> int:
    """Consume until stopped (SIGTERM/SIGINT finish the batch in hand first)."""
    if settings.redis_url is None:
        raise SystemExit("vecq worker: set VECQ_REDIS_URL (and VECQ_QDRANT_URL) first")
    logging.basicConfig(
        level=loglevel.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    app = create_app(settings)
    # Local-mode Qdrant can be opened by one process only: threads, never a forking pool.
    pool = "threads" if settings.local_qdrant else "prefork"
    log.info(
        "vecq worker: broker %s, qdrant %s, pool %s x%d",
        redact_url(settings.resolved_broker_url),
        redact_url(settings.qdrant_url) or settings.resolved_qdrant_path,
        pool,
        settings.worker_concurrency,
    )
    worker = app.Worker(
        pool_cls=pool,
        concurrency=settings.worker_concurrency,
        queues=[keys.QUEUE_BULK],
        loglevel=loglevel.upper(),
        without_gossip=True,
        without_mingle=True,
        redirect_stdouts=False,
    )
    worker.start()
    return int(worker.exitcode or 0)
