"""The live lane: small upserts served from a thread of their own, ahead of bulk batches.

An ``upsert`` of at most ``live_max_vectors`` vectors is published to the live queue
(``keys.QUEUE_LIVE``). Every ``vecq worker`` (and the embedded worker) runs one
:class:`LiveLane` beside its Celery pool, so a small call never waits for a pool slot that a
long bulk batch holds. The lane takes whatever live messages are waiting (up to
``MAX_COALESCE``), writes the batches of each shard in one request
(:func:`vecq.workers.pipeline.process_batches`) and acknowledges each message after its batch
is settled. In local mode its Qdrant calls go ahead of the bulk writers'
(``priority_lock.urgent``).

The messages are ordinary Celery task messages, so a plain ``celery worker -Q vecq.live``
serves them too (one batch per task, without coalescing).
"""

from __future__ import annotations

import logging
import sys
from typing import Any

from celery import Celery

from vecq.shared import keys
from vecq.shared.engines.priority_lock import urgent
from vecq.shared.wire import messages
from vecq.shared.wire.consumer import QueueConsumer, task_argument
from vecq.shared.wire.messages import BatchRef
from vecq.workers.context import WorkerContext
from vecq.workers.pipeline import RetryLater, process_batches

log = logging.getLogger(__name__)

# Most live messages written together: a burst of one-vector calls becomes one request per
# shard of up to this many points.
MAX_COALESCE = 256
# The process's GIL switch interval while a lane runs (Python's default is 5 ms).
SWITCH_INTERVAL = 0.001


class LiveLane:
    """A daemon thread consuming the live queue of ``app``'s broker with coalescing."""

    def __init__(self, app: Celery) -> None:
        self._app = app
        self._consumer = QueueConsumer(
            app,
            keys.QUEUE_LIVE,
            self._handle,
            name="vecq-live-lane",
            most=MAX_COALESCE,
            prefetch=MAX_COALESCE,
        )
        self.served = 0
        """Messages handled so far (for tests and the worker's status)."""

    def start(self) -> LiveLane:
        """Start consuming; returns at once."""
        # Each Redis round trip of the lane must take the GIL back from the bulk threads
        # (and, in local mode, from Qdrant itself, which is Python); by default a waiting
        # thread gets it only after 5 ms. 1 ms keeps the lane's wait short.
        sys.setswitchinterval(min(sys.getswitchinterval(), SWITCH_INTERVAL))
        self._consumer.start()
        return self

    def request_stop(self) -> None:
        """Stop after the messages in hand, without waiting (:meth:`stop` waits)."""
        self._consumer.request_stop()

    def stop(self, timeout: float = 10.0) -> None:
        """Finish the messages in hand and stop."""
        self._consumer.stop(timeout)

    def _handle(self, taken: list[Any]) -> None:
        """Process the messages' batches, then acknowledge, retry or requeue each one."""
        args, retries = [], []
        for message in taken:
            args.append(_task_argument(message))
            retries.append(int((message.headers or {}).get("retries") or 0))
        context: WorkerContext = self._app.vecq_context()
        try:
            with urgent():
                results = process_batches(context, args, retries)
        except Exception:
            log.exception("live lane: processing failed; the batches go back to the queue")
            for message in taken:
                message.requeue()
            return
        for message, arg, tries, result in zip(taken, args, retries, results, strict=True):
            if isinstance(result, RetryLater):
                # Later deliveries go to the bulk queue with a countdown, like a Celery retry.
                messages.send(
                    self._app,
                    BatchRef.from_message(arg),
                    keys.QUEUE_BULK,
                    countdown=result.countdown,
                    retries=tries + int(result.counts),
                )
            message.ack()
        self.served += len(taken)


def _task_argument(message: Any) -> Any:
    """The batch reference of a Celery task message; ``None`` if it is not one (dead-lettered)."""
    try:
        return task_argument(message)
    except ValueError as exc:
        log.error("live lane: %s; dead-lettering it", exc)
        return None
