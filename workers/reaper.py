"""The reaper: publishes again any batch the ledger holds as pending but nobody is working on.

The broker's message is not the only record of a batch: the ledger keeps every enqueued,
unsettled batch in a sorted set scored by its last activity (stored, delivered, retried).
A message can vanish while its batch is still pending: kombu's Redis transport takes a
message with BRPOP and only then records it as unacknowledged, so a worker killed in
between loses it; a broker restarted from an older snapshot forgets recent messages. A
batch with no activity for twice the visibility timeout (kombu's own redelivery of a dead
worker's batches comes first) is published again. If the original was only slow, the
copy is a harmless duplicate: writes are idempotent and the ledger settles once.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import redis

from shared import keys, ledger, pending
from shared.messages import BatchRef

log = logging.getLogger(__name__)

# Quiet time after which a pending batch is presumed lost, in visibility timeouts.
STALE_FACTOR = 2
# Most batches looked at in one sweep; the next sweep takes the rest.
SWEEP_LIMIT = 500


def reap(r: redis.Redis, publish: Callable[[BatchRef], None], older_than: float) -> int:
    """Publish again every pending batch quiet for ``older_than`` seconds; return how many.

    Settled batches and batches no job holds any more are dropped from the pending set.
    """
    republished = 0
    for ref in pending.stale(r, older_than, SWEEP_LIMIT):
        if ledger.batch_state(r, ref.job, ref.seq) not in {"stored", "queued"}:
            pending.forget(r, ref)
            continue
        publish(ref)
        pending.touch(r, ref)
        republished += 1
        log.warning(
            "batch %s/%d seq %d of job %s had no activity for %.0fs: published it again",
            ref.index, ref.shard, ref.seq, ref.job, older_than,
        )  # fmt: skip
    return republished


class Reaper:
    """Sweeps the pending set now and then in a daemon thread; one worker sweeps at a time."""

    def __init__(
        self, r: redis.Redis, publish: Callable[[BatchRef], None], visibility_timeout: float
    ) -> None:
        self._r = r
        self._publish = publish
        self.older_than = STALE_FACTOR * visibility_timeout
        self.interval = max(1.0, min(60.0, visibility_timeout / 4))
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="vecq-reaper", daemon=True)

    def start(self) -> Reaper:
        """Start sweeping; returns at once."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop sweeping, wait for the thread, and close the Redis client (the reaper owns it)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(10)
        self._r.close()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                # The lock expires by itself: at most one sweep per interval among all workers.
                if self._r.set(keys.reaper_lock(), "1", nx=True, px=int(self.interval * 1000)):
                    reap(self._r, self._publish, self.older_than)
            except Exception:  # a sweep must never kill the worker; the next one tries again
                log.exception("reaper sweep failed")
