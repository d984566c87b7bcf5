"""Celery tasks: parse the message, call one plain function, log the outcome."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from celery import Celery

from shared import keys
from shared.errors import CorruptBlobError
from workers.pipeline import Result, WorkerContext, process_batch

log = logging.getLogger(__name__)


def register(app: Celery, context: Callable[[], WorkerContext]) -> None:
    """Register vecq's tasks on ``app``; ``context`` returns the worker's shared context."""

    # shared=False: each app (one per embedded client) must run its own context, not the first's.
    @app.task(  # type: ignore[untyped-decorator]  # celery ships no type hints
        name=keys.TASK_UPSERT_BATCH, acks_late=True, reject_on_worker_lost=True, shared=False
    )
    def upsert_batch(message: Any) -> Result | None:
        try:
            return process_batch(context(), message)
        except CorruptBlobError as exc:
            # Unparseable message: no job to settle. Logged loudly; the DLQ keeps these later.
            log.error("dropping malformed task message %r: %s", message, exc)
            return None
