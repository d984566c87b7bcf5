"""Publishing batch references to the Celery broker, by task name (no worker imports)."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Protocol

from vecq.shared import keys
from vecq.shared.config.celery_config import celery_config
from vecq.shared.config.settings import Settings
from vecq.shared.errors import BrokerUnavailable
from vecq.shared.redaction import redact_url
from vecq.shared.wire import messages
from vecq.shared.wire.messages import BatchRef

if TYPE_CHECKING:
    from celery import Celery

# Celery's package replaces itself with a lazy module on first import, and two threads
# importing it at once can see it half made ("cannot import name 'Celery' from 'celery'",
# seen under `vecq serve` with requests arriving together): one thread at a time makes an app.
_MAKING = threading.Lock()


class Publisher(Protocol):
    """Sends one batch reference to the workers."""

    def publish(self, ref: BatchRef, queue: str = keys.QUEUE_BULK) -> None: ...

    def close(self) -> None: ...


class CeleryPublisher:
    """Publishes with ``send_task`` on a producer-only Celery app (JSON messages).

    The app is made on first use: a client that only reads (``vecq status``, ``index list``)
    never imports Celery."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._app: Celery | None = None
        self._url = redact_url(settings.resolved_broker_url)

    @property
    def app(self) -> Celery:
        """The producer's Celery app (for broker queries: queue depths, worker pings)."""
        with _MAKING:
            if self._app is None:
                from celery import Celery

                app = Celery("vecq-producer", set_as_current=False)
                app.conf.update(celery_config(self._settings))
                self._app = app
        return self._app

    def publish(self, ref: BatchRef, queue: str = keys.QUEUE_BULK) -> None:
        from kombu.exceptions import OperationalError

        try:
            messages.send(self.app, ref, queue)
        except OperationalError as exc:
            # A Redis broker over maxmemory refuses the publish; say so in the same words
            # as when the blob's own write is refused.
            full = " (Redis is out of memory: maxmemory reached)" if "maxmemory" in str(exc) else ""
            raise BrokerUnavailable(
                f"could not publish batch {ref.seq} of index {ref.index!r} to the broker at "
                f"{self._url}{full}: {exc}"
            ) from exc

    def close(self) -> None:
        if self._app is not None:
            self._app.close()
