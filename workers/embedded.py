"""A Celery worker running in a thread of the current process (embedded mode and tests)."""

from __future__ import annotations

import logging
import threading
from typing import Any

from shared import keys
from shared.settings import Settings
from workers.app import create_app

log = logging.getLogger(__name__)


class ThreadWorker:
    """Consumes vecq's queues in a background thread with Celery's thread pool."""

    def __init__(self, settings: Settings, qdrant: Any | None = None) -> None:
        self.app = create_app(settings, qdrant)
        self._controller = self.app.WorkController(
            pool_cls="threads",
            concurrency=settings.worker_concurrency,
            queues=[keys.QUEUE_BULK],
            without_heartbeat=True,
            without_mingle=True,
            without_gossip=True,
        )
        self._thread = threading.Thread(target=self._run, name="vecq-worker", daemon=True)

    def _run(self) -> None:
        try:
            self._controller.start()
        except Exception:  # pragma: no cover - logged, the producer's wait then stalls visibly
            log.exception("embedded worker stopped with an error")

    def start(self) -> ThreadWorker:
        """Start consuming; returns at once."""
        self._thread.start()
        return self

    def stop(self, timeout: float = 15.0) -> None:
        """Finish the batch in hand, stop consuming and join the thread."""
        if self._thread.is_alive():
            self._controller.stop(in_sighandler=False)
            self._thread.join(timeout)
        self.app.close()
