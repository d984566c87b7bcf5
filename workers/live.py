"""The live lane: small upserts served from a thread of their own, ahead of bulk batches.

An ``upsert`` of at most ``live_max_vectors`` vectors is published to the live queue
(``keys.QUEUE_LIVE``). Every ``vecq worker`` (and the embedded worker) runs one
:class:`LiveLane` beside its Celery pool, so a small call never waits for a pool slot that a
long bulk batch holds. The lane takes whatever live messages are waiting (up to
``MAX_COALESCE``), writes the batches of each shard in one request
(:func:`workers.pipeline.process_batches`) and acknowledges each message after its batch
is settled. In local mode its Qdrant calls go ahead of the bulk writers' (``serial.urgent``).

The messages are ordinary Celery task messages, so a plain ``celery worker -Q vecq.live``
serves them too (one batch per task, without coalescing).
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from typing import Any

from celery import Celery
from kombu.simple import SimpleQueue

from shared import keys
from shared.serial import urgent
from workers.pipeline import RetryLater, WorkerContext, process_batches

log = logging.getLogger(__name__)

# Most live messages written together: a burst of one-vector calls becomes one request per
# shard of up to this many points.
MAX_COALESCE = 256
# How long one wait for a message blocks before the lane checks whether it should stop.
_POLL_SECONDS = 0.2
# The process's GIL switch interval while a lane runs (Python's default is 5 ms).
SWITCH_INTERVAL = 0.001
# Pause before reconnecting after the broker connection failed.
_RECONNECT_SECONDS = 1.0


class LiveLane:
    """A daemon thread consuming the live queue of ``app``'s broker with coalescing."""

    def __init__(self, app: Celery) -> None:
        self._app = app
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="vecq-live-lane", daemon=True)
        self.served = 0
        """Messages handled so far (for tests and the worker's status)."""

    def start(self) -> LiveLane:
        """Start consuming; returns at once."""
        # Each Redis round trip of the lane must take the GIL back from the bulk threads
        # (and, in local mode, from Qdrant itself, which is Python); by default a waiting
        # thread gets it only after 5 ms. 1 ms keeps the lane's wait short.
        sys.setswitchinterval(min(sys.getswitchinterval(), SWITCH_INTERVAL))
        self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Finish the messages in hand and stop."""
        self._stop.set()
        self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                with self._app.connection_for_read() as conn:
                    channel = conn.channel()
                    channel.basic_qos(0, MAX_COALESCE, False)
                    # kombu ships no type hints
                    live: Any = SimpleQueue(channel, keys.QUEUE_LIVE, accept=["json"])  # type: ignore[no-untyped-call]
                    try:
                        while not self._stop.is_set():
                            self._serve(live)
                    finally:
                        live.close()
            except Exception:
                if self._stop.is_set():
                    return
                log.exception("live lane: broker connection failed; reconnecting")
                time.sleep(_RECONNECT_SECONDS)

    def _serve(self, live: Any) -> None:  # a kombu SimpleQueue (kombu ships no type hints)
        try:
            first = live.get(block=True, timeout=_POLL_SECONDS)
        except SimpleQueue.Empty:
            return
        taken = [first]
        while len(taken) < MAX_COALESCE:
            try:
                taken.append(live.get_nowait())
            except SimpleQueue.Empty:
                break
        self._handle(taken)

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
                self._app.send_task(
                    keys.TASK_UPSERT_BATCH,
                    args=[arg],
                    queue=keys.QUEUE_BULK,
                    countdown=result.countdown,
                    retries=tries + 1,
                    kwargsrepr="{}",
                )
            message.ack()
        self.served += len(taken)


def _task_argument(message: Any) -> Any:
    """The batch reference of a Celery task message; ``None`` if it is not one (dead-lettered)."""
    try:
        body = message.decode()
    except Exception as exc:  # refused content type (pickle, yaml) or a broken body
        log.error("live lane: undecodable message (%s); dead-lettering it", exc)
        return None
    if isinstance(body, (list, tuple)) and body and isinstance(body[0], (list, tuple)):
        return body[0][0] if body[0] else None
    return None
