"""Celery tasks: parse the message, call one plain function, map the outcome to Celery."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from celery import Celery, Task
from celery.exceptions import Reject

from vecq.shared import keys
from vecq.shared.wire import messages
from vecq.shared.wire.messages import BatchRef
from vecq.workers.context import WorkerContext
from vecq.workers.pipeline import RetryLater, process_batch
from vecq.workers.retry import is_interruption
from vecq.workers.settlement import Result

log = logging.getLogger(__name__)


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
            try:
                if not exc.counts:  # waiting is not a retry: the same count goes on
                    ref = BatchRef.from_message(message)
                    messages.send(
                        task.app,
                        ref,
                        keys.QUEUE_BULK,
                        countdown=exc.countdown,
                        retries=task.request.retries,
                    )
                    return "deferred"
                # Publishes a fresh message with an ETA; this one is acknowledged after.
                retry = task.retry(countdown=exc.countdown, exc=exc, throw=False)
            except Exception as publish_error:
                raise _requeue("could not schedule the retry", publish_error) from None
            raise retry from exc
        except Exception as exc:
            # A failed task's message would be acknowledged and its batch lost. Put it back
            # instead; the delivery counter dead-letters a batch that keeps failing.
            what = "soft time limit reached" if is_interruption(exc) else "unexpected error"
            raise _requeue(what, exc) from exc


def _requeue(what: str, exc: BaseException) -> Reject:
    log.exception("%s; the batch goes back to the queue: %r", what, exc)
    return Reject(f"{what}: {exc!r}", requeue=True)
