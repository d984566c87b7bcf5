"""A thread that takes the waiting messages of one queue in bunches and hands them on.

The live lane (``workers/live.py``) and the scheduled-ETL runner (``api/ingest/etl.py``)
consume their queues this way, beside (not inside) Celery's own consumer: each takes what is
waiting, up to a bunch, blocking briefly for the first, and reconnects when the broker
connection fails. kombu is imported inside the thread, so importing this module stays light.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)

# How long one wait for a message blocks before the thread checks whether it should stop.
POLL_SECONDS = 0.2
# Pause before reconnecting after the broker connection failed.
RECONNECT_SECONDS = 1.0


class QueueConsumer:
    """Consumes ``queue`` of ``app``'s broker in a daemon thread, ``handle`` taking each bunch.

    ``handle`` receives kombu messages and must acknowledge (or requeue) each one.
    ``prefetch`` bounds the unacknowledged messages the broker hands over (0: no limit).
    """

    def __init__(
        self,
        app: Any,
        queue: str,
        handle: Callable[[list[Any]], None],
        *,
        name: str,
        most: int,
        prefetch: int = 0,
        poll: float = POLL_SECONDS,
    ) -> None:
        self._app = app
        self._queue = queue
        self._handle = handle
        self._most = most
        self._prefetch = prefetch
        self._poll = poll
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> None:
        """Start consuming; returns at once."""
        self._thread.start()

    def request_stop(self) -> None:
        """Stop after the bunch in hand, without waiting (:meth:`stop` waits)."""
        self._stop.set()

    def stop(self, timeout: float = 10.0) -> None:
        """Finish the bunch in hand and stop."""
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    @property
    def stopping(self) -> bool:
        """True once :meth:`stop` was called."""
        return self._stop.is_set()

    def _run(self) -> None:
        from kombu.simple import SimpleQueue

        while not self._stop.is_set():
            try:
                # kombu's BRPOP waits up to its own timeout (1 s) and closing the connection
                # waits for its reply: a wait as long as ``poll`` lets the thread stop as soon.
                options = {"polling_interval": self._poll}
                with self._app.connection_for_read(transport_options=options) as conn:
                    channel = conn.channel()
                    if self._prefetch:
                        channel.basic_qos(0, self._prefetch, False)
                    queue = SimpleQueue(channel, self._queue, accept=["json"])  # type: ignore[no-untyped-call]  # kombu is untyped
                    try:
                        while not self._stop.is_set():
                            taken = self._take(queue, SimpleQueue.Empty)
                            if taken:
                                self._handle(taken)
                    finally:
                        queue.close()  # type: ignore[no-untyped-call]  # kombu is untyped
            except Exception:
                if self._stop.is_set():
                    return
                log.exception("%s: broker connection failed; reconnecting", self._thread.name)
                time.sleep(RECONNECT_SECONDS)

    def _take(self, queue: Any, empty: type[Exception]) -> list[Any]:
        """Every waiting message up to ``most``, after blocking up to ``poll`` for the first."""
        taken = []
        try:
            taken.append(queue.get(block=True, timeout=self._poll))
            while len(taken) < self._most:
                taken.append(queue.get_nowait())
        except empty:
            pass
        return taken


def task_argument(message: Any) -> Any:
    """The first positional argument of a Celery task message; ``ValueError`` if there is none.

    Refused content types (pickle, YAML) fail to decode here, so they are never deserialised.
    """
    try:
        body = message.decode()
    except Exception as exc:  # a refused content type or a broken body
        raise ValueError(f"undecodable message ({exc})") from None
    if isinstance(body, (list, tuple)) and body and isinstance(body[0], (list, tuple)) and body[0]:
        return body[0][0]
    raise ValueError("not a Celery task message with an argument")
