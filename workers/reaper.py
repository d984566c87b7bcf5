"""The reaper: delivers again the batches nobody else will, and never one that is only queued.

One worker at a time sweeps, every :data:`SWEEP_SECONDS`, for three kinds of batch (and,
fourth, reclaims the marks of deletes and updates that no older write can need any more,
``shared/marks.reclaim``):

1. **Held by a dead worker.** A worker records itself as the holder of each batch it
   processes, and keeps a heartbeat (``shared/state/heartbeats.py``). A holder whose heartbeat
   lapsed was killed, ran out of memory or lost its host: its batches are published again
   at once, so they are written within the heartbeat's expiry plus a sweep (about 15 s),
   not after the broker's visibility timeout (an hour by default). A slow worker keeps
   beating, so its batch is never taken from it.
2. **Of a job whose producer stopped.** A producer that died, or lost Redis, part-way
   through an upsert leaves its job half-enqueued; once its lease lapses, the job is
   finished with the batches Redis holds (``shared/ledger.finalize``) and those never
   known to be published are published.
3. **Lost in transit.** A batch nobody holds, quiet for :data:`LOST_AFTER_SECONDS`, whose
   message is neither in the queue nor unacknowledged in a Redis broker: kombu takes a
   message with BRPOP before it records it as unacknowledged, so a worker killed in between
   loses it, and a broker restored from an older snapshot forgets recent messages. A batch
   found queued is only touched. With another broker (RabbitMQ) messages are not lost
   this way, and this case is left alone.

Publishing a batch twice is harmless: writes are idempotent and the ledger settles once.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import redis

from vecq.shared import keys
from vecq.shared.state import deadletters, heartbeats, job_state, ledger, marks, pending, registry
from vecq.shared.wire.messages import BatchRef

log = logging.getLogger(__name__)

# How often one worker of the fleet sweeps. Cheap: a hash of the batches in process, an
# EXISTS per worker holding one, and the jobs still being enqueued.
SWEEP_SECONDS = 5.0
# Quiet time after which a batch nobody holds is looked for in the broker. A batch waiting
# in a long queue is found there and left alone however long it waits.
LOST_AFTER_SECONDS = 60.0
# Most batches looked at in one sweep of case 3; the next sweep takes the rest.
SWEEP_LIMIT = 500

# Which of these batches' messages the broker holds (queued or unacknowledged), by member;
# ``None`` if the broker cannot be asked.
InBroker = Callable[[list[BatchRef]], set[str]]


def reap_dead_holders(r: redis.Redis, publish: Callable[[BatchRef], None]) -> int:
    """Publish again every batch whose holder's heartbeat lapsed; return how many."""
    held = pending.holders(r)
    if not held:
        return 0
    living = heartbeats.alive(r, held.values())
    republished = 0
    for ref, worker in held.items():
        if worker in living:
            continue
        pending.release(r, ref)
        if job_state.batch_state(r, ref.job, ref.seq) not in {"stored", "queued"}:
            continue  # settled after all
        publish(ref)
        pending.touch(r, ref)
        republished += 1
        log.warning(
            "batch %s/%d seq %d of job %s: its worker %s died holding it; published it again",
            ref.index,
            ref.shard,
            ref.seq,
            ref.job,
            worker,
        )
    return republished


def finish_interrupted(r: redis.Redis, publish: Callable[[BatchRef], None]) -> int:
    """Finish the enqueue of every job whose producer's lease lapsed; return how many."""
    finished = 0
    for job_id in ledger.interrupted_jobs(r):
        reason = (
            "the producer stopped before it finished enqueuing (it died, or lost Redis); "
            "the job holds the batches Redis had stored"
        )
        unpublished = ledger.finalize(r, job_id, reason)
        if unpublished is None:
            continue
        for ref in unpublished:
            publish(ref)
            pending.touch(r, ref)
        finished += 1
        log.warning("job %s: %s (%d batches published now)", job_id, reason, len(unpublished))
    return finished


def reap_lost(
    r: redis.Redis,
    publish: Callable[[BatchRef], None],
    older_than: float,
    in_broker: InBroker | None,
    limit: int = SWEEP_LIMIT,
) -> int:
    """Publish again every batch nobody holds, quiet for ``older_than``, absent from the broker.

    Settled batches and batches no job holds any more are dropped from the pending set.
    Returns how many were published.
    """
    if in_broker is None:
        return 0
    held = set(pending.holders(r))
    suspects = []
    for ref in pending.stale(r, older_than, limit):
        if ref in held:
            continue  # case 1
        if job_state.batch_state(r, ref.job, ref.seq) not in {"stored", "queued"}:
            pending.forget(r, ref)
            continue
        suspects.append(ref)
    if not suspects:
        return 0
    present = in_broker(suspects)
    republished = 0
    for ref in suspects:
        if ref.member not in present:
            publish(ref)
            republished += 1
            log.warning(
                "batch %s/%d seq %d of job %s: its message is gone from the broker; "
                "published it again",
                ref.index,
                ref.shard,
                ref.seq,
                ref.job,
            )
        pending.touch(r, ref)  # queued, or now published again: quiet from here
    return republished


def recover_sole_consumer(
    r: redis.Redis, publish: Callable[[BatchRef], None], in_broker: InBroker | None
) -> int:
    """Deliver again, at once, whatever a stopped sole consumer left; return how many.

    For a consumer that knows it is the only one and starts before taking any message (the
    embedded service), after the broker's unacknowledged messages were put back: every
    recorded holder is a dead process, and every pending batch whose message the broker
    does not hold was lost in transit. Without this they wait for the heartbeat to lapse
    (case 1) or for :data:`LOST_AFTER_SECONDS` (case 3).
    """
    if in_broker is None:
        return 0  # nothing tells restored messages from lost ones: leave it to the sweeps
    for ref in pending.holders(r):
        pending.release(r, ref)
    return reap_lost(r, publish, 0.0, in_broker, limit=int(r.zcard(keys.pending())))


def reclaim_marks(r: redis.Redis, after: float) -> int:
    """Reclaim the marks no older write can still need, in every index; return how many."""
    reclaimed = 0
    for name in registry.names(r):
        if r.exists(keys.marks(name)) or r.exists(keys.reclaim(name)):
            reclaimed += marks.reclaim(r, name, after)
    return reclaimed


class Reaper:
    """Sweeps in a daemon thread; one worker of the fleet sweeps at a time."""

    def __init__(
        self,
        r: redis.Redis,
        publish: Callable[[BatchRef], None],
        visibility_timeout: float,
        in_broker: InBroker | None = None,
        reclaim_after: float = 300.0,
        dead_letters: tuple[float, int] = (14 * 86400.0, 100_000),
    ) -> None:
        self._r = r
        self.dead_letters = dead_letters
        """(seconds a dead letter is kept, 0: for ever; most kept)."""
        self._publish = publish
        self._in_broker = in_broker
        self.reclaim_after = reclaim_after
        # A visibility timeout below a minute restores lost messages sooner than case 3
        # would look for them; then look as soon.
        self.lost_after = min(LOST_AFTER_SECONDS, float(visibility_timeout))
        self.interval = SWEEP_SECONDS
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="vecq-reaper", daemon=True)

    def start(self) -> Reaper:
        """Start sweeping; returns at once."""
        self._thread.start()
        return self

    def request_stop(self) -> None:
        """Stop after the sweep in hand, without waiting (:meth:`stop` waits)."""
        self._stop.set()

    def stop(self) -> None:
        """Stop sweeping, wait for the thread, and close the Redis client (the reaper owns it)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(10)
        self._r.close()

    def sweep(self) -> tuple[int, int, int, int, int]:
        """One sweep: (dead holders', finished jobs, lost, reclaimed marks', expired dead
        letters') counts."""
        expired = deadletters.expire(self._r, *self.dead_letters)
        if expired:
            log.info("purged %d dead letter(s) past their retention or the cap", expired)
        return (
            reap_dead_holders(self._r, self._publish),
            finish_interrupted(self._r, self._publish),
            reap_lost(self._r, self._publish, self.lost_after, self._in_broker),
            reclaim_marks(self._r, self.reclaim_after),
            expired,
        )

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                # The lock expires by itself: at most one sweep per interval in the fleet.
                if self._r.set(keys.reaper_lock(), "1", nx=True, px=int(self.interval * 1000)):
                    self.sweep()
            except Exception:  # a sweep must never kill the worker; the next one tries again
                log.exception("reaper sweep failed")
