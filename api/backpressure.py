"""Backpressure: an enqueue waits while its index has too many bytes in flight.

Bounded memory for any size of backfill: the producer stores a batch only when the index's
in-flight bytes (enqueued, not yet settled) leave room for it, and gives up with
:class:`~vecq.shared.errors.BackpressureTimeout` if no room is made for ``backpressure_timeout``.
"""

from __future__ import annotations

import time

import redis

from vecq.shared import keys
from vecq.shared.config.settings import Settings
from vecq.shared.errors import BackpressureTimeout
from vecq.shared.state import job_state, ledger


class Room:
    """Backpressure: waits until the index's in-flight bytes leave room for one more batch."""

    # First and longest pause between two reads of the in-flight counter while blocked.
    _FIRST_PAUSE = 0.01
    _MAX_PAUSE = 0.5

    def __init__(self, r: redis.Redis, index: str, settings: Settings, job_id: str) -> None:
        self._r = r
        self._index = index
        self._job_id = job_id
        self._limit = settings.max_inflight_bytes
        self._timeout = settings.backpressure_timeout
        self._inflight = job_state.inflight(r, index)

    def seen(self, inflight: int) -> None:
        """Record the counter's value after our own increment (free: it came back with it)."""
        self._inflight = int(inflight)

    def wait(self, size: int) -> None:
        """Return when ``size`` more bytes fit, leaving room for a worker's read of one batch.

        One batch always fits into an empty window.
        """
        if self._fits(size):
            return
        deadline = time.monotonic() + self._timeout
        pause = self._FIRST_PAUSE
        while True:
            pipe = self._r.pipeline(transaction=False)
            pipe.get(keys.inflight(self._index))
            ledger.renew_lease(pipe, self._job_id)  # waiting, not gone
            self._inflight = int(pipe.execute()[0] or 0)
            if self._fits(size):
                return
            if time.monotonic() >= deadline:
                raise BackpressureTimeout(
                    f"index {self._index!r} has {self._inflight:,} bytes in flight (limit "
                    f"max_inflight_bytes={self._limit:,}) and none were freed for "
                    f"{self._timeout:g}s: are workers running and keeping up?"
                )
            time.sleep(pause)
            pause = min(pause * 2, self._MAX_PAUSE)

    def _fits(self, size: int) -> bool:
        # Room for the batch and for one more of its size: a worker reading a blob makes
        # Redis hold a second copy in its reply buffer, which must fit in the window too.
        return self._inflight <= 0 or self._inflight + 2 * size <= self._limit
