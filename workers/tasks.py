"""Celery tasks: parse the message, call one plain function, map the outcome to Celery."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from celery import Celery, Task

from shared import keys
from workers.pipeline import Result, RetryLater, WorkerContext, process_batch


def register(app: Celery, context: Callable[[], WorkerContext]) -> None:
    """Register vecq's tasks on ``app``; ``context`` returns the worker's shared context."""

    # shared=False: each app (one per embedded client) must run its own context, not the first's.
    # max_retries=None: the pipeline bounds Celery retries itself (Settings.task_retries) and
    # dead-letters the batch after the last one, so Celery's own limit must never fire first.
    @app.task(  # type: ignore[untyped-decorator]  # celery ships no type hints
        name=keys.TASK_UPSERT_BATCH,
        bind=True,
        acks_late=True,
        reject_on_worker_lost=True,
        shared=False,
        max_retries=None,
    )
    def upsert_batch(task: Task, message: Any) -> Result:
        try:
            return process_batch(context(), message, retries=task.request.retries)
        except RetryLater as exc:
            # Publishes a fresh message with an ETA, then acknowledges this one.
            raise task.retry(countdown=exc.countdown, exc=exc) from exc
