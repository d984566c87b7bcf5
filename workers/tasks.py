"""Celery tasks: parse the message, call one plain function, map the outcome to Celery."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from celery import Celery, Task
from celery.exceptions import Reject

from vecq.shared import keys
from vecq.shared.state import deadletters
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
        Strategy=staticmethod(guarded_strategy(context)),  # a class attribute: not a method
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


def guarded_strategy(context: Callable[[], WorkerContext]) -> Callable[..., Any]:
    """Celery's own strategy for a task, behind a check of each message's shape.

    Celery unpacks a message's body as ``(args, kwargs, embed)`` before any task code runs,
    and a JSON body of another shape raises there, in the consumer: the worker stops
    ("Unrecoverable error"), the message goes back, and every worker that takes it stops
    too. So a body that is not one batch reference's task message is dead-lettered with
    what is wrong, acknowledged, and the worker goes on.
    """

    def strategy(task: Task, app: Celery, consumer: Any, **options: Any) -> Callable[..., Any]:
        from celery.worker.strategy import default

        handle = default(task, app, consumer, **options)

        def on_message(message: Any, body: Any, *args: Any, **kwargs: Any) -> Any:
            wrong = malformed(message.payload if body is None else body)
            if wrong is None:
                return handle(message, body, *args, **kwargs)
            entry = deadletters.record_message(context().redis, message.payload, wrong)
            log.error("dead-lettered a malformed task message (entry %s): %s", entry, wrong)
            message.ack()
            return None

        return on_message

    return strategy


def malformed(payload: Any) -> str | None:
    """What is wrong with a decoded task message, or ``None`` for ``([reference], {}, {...})``
    (protocol 2; a protocol-1 ``{"args": [reference], "kwargs": {}}`` too)."""
    if isinstance(payload, dict) and "args" in payload:
        args, kwargs, extra = payload.get("args"), payload.get("kwargs") or {}, {}
    elif isinstance(payload, (list, tuple)) and len(payload) == 3:
        args, kwargs, extra = payload
    else:
        return (
            f"not a Celery task message ([args], {{kwargs}}, {{embed}}): {type(payload).__name__}"
        )
    if not isinstance(args, (list, tuple)) or len(args) != 1:
        return "not a Celery task message with one argument (the batch reference)"
    if not isinstance(kwargs, dict) or kwargs or not isinstance(extra, dict):
        return "not a Celery task message: a batch task takes no keyword arguments"
    return None


def _requeue(what: str, exc: BaseException) -> Reject:
    log.exception("%s; the batch goes back to the queue: %r", what, exc)
    return Reject(f"{what}: {exc!r}", requeue=True)
