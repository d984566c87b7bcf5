"""The job ledger in Redis: totals and per-batch state of every upsert call.

The producer opens a job, marks each batch ``stored`` in the round trip that stores its
blob and ``queued`` once its message is published (so the ledger never claims a batch
was enqueued when it was not). A worker settles a batch exactly once (``done`` or
``failed``) with one atomic script that also frees the blob and the in-flight bytes,
writes the dead letter of a failed batch, and on the last batch wakes anyone waiting.
The scripts are ``shared/state/lua/*.lua``; the pending set they keep is read by
:mod:`vecq.shared.state.pending`, and a job's state by :mod:`vecq.shared.state.job_state`.

While it enqueues, the producer holds a lease on the job (renewed with every batch and
while it waits for room). If it stops without finishing (it died, or lost Redis), the lease
lapses and any worker finishes the job's enqueue with the batches Redis holds
(:func:`finalize`), so the job still settles.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass

import redis

from vecq.shared import keys
from vecq.shared.errors import Failure
from vecq.shared.state.replies import text
from vecq.shared.state.scripts import Lua
from vecq.shared.wire.messages import BatchRef

_SETTLE = Lua("settle")
_PUBLISHED = Lua("published")
_ABORT = Lua("abort")
_DELIVERED = Lua("delivered")
_STORED = Lua("stored")
_FINALIZE = Lua("finalize")
_RESERVE = Lua("reserve")

# How long the producer's lease on a job lasts past its last sign of life. It is renewed
# with every batch stored and every look at the in-flight counter while it waits for room
# (at most 0.5 s apart), so only a producer that stopped lets it lapse; then workers finish
# the job's enqueue within this, plus a sweep of the reaper, of Redis being reachable again.
PRODUCER_LEASE_SECONDS = 20.0

# How many job ids ``keys.jobs()`` keeps, newest first, for ``vecq status``.
RECENT_JOBS = 1000


def open_job(
    r: redis.Redis, job_id: str, index: str, total: int, batches: int, op: str = "upsert"
) -> None:
    """Create the ledger of a job that will enqueue ``batches`` batches holding ``total`` ids."""
    now = time.time()
    pipe = r.pipeline(transaction=True)
    pipe.hset(
        keys.job(job_id),
        mapping={
            "index": index,
            "op": op,
            "total": total,
            "batches": batches,
            "written": 0,
            "failed": 0,
            "settled": 0,
            "retries": 0,
            "enqueued": 0,
            "created_at": now,
            "updated_at": now,
        },
    )
    pipe.expire(keys.job(job_id), keys.JOB_TTL_SECONDS)
    pipe.zadd(keys.jobs(), {job_id: now})
    pipe.zremrangebyrank(keys.jobs(), 0, -RECENT_JOBS - 1)
    pipe.zadd(keys.enqueuing(), {job_id: now})
    renew_lease(pipe, job_id)
    pipe.execute()


def reserve(r: redis.Redis, index: str, job_id: str, n: int) -> int:
    """Hand the job ``n`` sequence numbers of the index (newer than any before); return the last.

    Until the job's enqueue ends, the numbers count as writes in flight (``keys.open_seqs``).
    """
    last = _RESERVE(
        r,
        keys={"sequence": keys.sequence(index), "open": keys.open_seqs(index)},
        args={"n": n, "member": f"j:{job_id}"},
    )
    return int(last)


def renew_lease(pipe: redis.client.Pipeline | redis.Redis, job_id: str) -> None:
    """Extend the producer's lease on the job (see :data:`PRODUCER_LEASE_SECONDS`)."""
    pipe.set(keys.job_lease(job_id), "1", px=int(PRODUCER_LEASE_SECONDS * 1000))


def mark_stored(pipe: redis.client.Pipeline, ref: BatchRef) -> None:
    """Queue on ``pipe`` the ledger writes that go with storing one batch's blob, atomically.

    Queue it after the blob's ``SET``, which may carry an expiry
    (``keys.ORPHAN_BLOB_TTL_SECONDS``): this removes it, so only a blob whose ledger entry
    never got written expires. The reply is the index's new in-flight byte total.
    """
    _STORED(
        pipe,
        keys={
            "batches": keys.job_batches(ref.job),
            "pending": keys.pending(),
            "inflight": keys.inflight(ref.index),
            "blob": ref.blob_key,
            "job": keys.job(ref.job),
            "refs": keys.job_refs(ref.job),
            "lease": keys.job_lease(ref.job),
            "open": keys.open_seqs(ref.index),
        },
        args={
            "seq": str(ref.seq),
            "ttl": keys.JOB_TTL_SECONDS,
            "member": ref.member,
            "now": time.time(),
            "size": ref.size,
            "points": ref.n,
            "lease_ms": int(PRODUCER_LEASE_SECONDS * 1000),
        },
    )


def mark_published(pipe: redis.client.Pipeline | redis.Redis, job_id: str, seq: int) -> None:
    """Record (on ``pipe``) that a stored batch's task message reached the broker."""
    _PUBLISHED(pipe, keys={"batches": keys.job_batches(job_id)}, args={"seq": str(seq)})


def mark_enqueued(pipe: redis.client.Pipeline | redis.Redis, job_id: str, index: str) -> None:
    """Record that every batch of the job has been published (the producer's lease ends)."""
    pipe.hset(keys.job(job_id), "enqueued", 1)
    pipe.zrem(keys.enqueuing(), job_id)
    pipe.zrem(keys.open_seqs(index), f"j:{job_id}")
    pipe.delete(keys.job_lease(job_id))


def abort(
    r: redis.Redis,
    job_id: str,
    index: str,
    unpublished: list[tuple[int, int]],
    reason: str,
    enqueued: int,
    *,
    also: Callable[[redis.client.Pipeline], object] | None = None,
) -> int:
    """End an interrupted enqueue: forget ``(seq, size)`` batches never published, keep the rest.

    Afterwards the ledger's batches (and its total, ``enqueued`` ids) are exactly the ones
    enqueued, and the job finishes when they settle. Returns how many were forgotten, or -1
    if the fleet had already finished the enqueue (:func:`finalize`), keeping every batch.
    ``also`` queues more commands that run atomically after (forgetting dropped batches' marks).
    """
    pipe = r.pipeline(transaction=True)
    _ABORT(
        pipe,
        keys={
            "job": keys.job(job_id),
            "batches": keys.job_batches(job_id),
            "done": keys.job_done(job_id),
            "inflight": keys.inflight(index),
            "enqueuing": keys.enqueuing(),
            "lease": keys.job_lease(job_id),
            "open": keys.open_seqs(index),
        },
        args={"now": time.time(), "reason": reason, "enqueued": enqueued, "job_id": job_id},
        more_keys=[keys.blob(index, seq) for seq, _ in unpublished],
        more_args=[v for seq, size in unpublished for v in (str(seq), size)],
    )
    if also is not None:
        also(pipe)
    return int(pipe.execute()[0])


def interrupted_jobs(r: redis.Redis, limit: int = 100) -> list[str]:
    """Jobs still being enqueued, oldest first (their producer may have stopped)."""
    found: list[bytes] = r.zrange(keys.enqueuing(), 0, limit - 1)  # type: ignore[assignment]  # redis-py types every reply as a union
    return [text(j) for j in found]


def finalize(r: redis.Redis, job_id: str, reason: str) -> list[BatchRef] | None:
    """Finish the enqueue of a job whose producer's lease lapsed, with what Redis holds.

    Returns the batches stored but not known to be published (publish them; a second
    publish is harmless), or ``None`` if the producer still holds its lease or the job's
    enqueue is already finished.
    """
    index = r.hget(keys.job(job_id), "index")
    if index is None:
        r.zrem(keys.enqueuing(), job_id)  # its ledger expired: nothing to finish
        return None
    refs = _FINALIZE(
        r,
        keys={
            "job": keys.job(job_id),
            "batches": keys.job_batches(job_id),
            "refs": keys.job_refs(job_id),
            "done": keys.job_done(job_id),
            "enqueuing": keys.enqueuing(),
            "lease": keys.job_lease(job_id),
            "open": keys.open_seqs(text(index)),
        },
        args={"job_id": job_id, "now": time.time(), "reason": reason, "ttl": keys.JOB_TTL_SECONDS},
    )
    if refs is None:
        return None
    return [BatchRef.from_message(json.loads(m)) for m in refs]


@dataclass(frozen=True)
class Settlement:
    """How one batch ended: counts, failure records and, if any failed, its dead letter."""

    written: int
    failed: int = 0
    failures: tuple[Failure, ...] = ()
    dead_letter: dict[str, str] | None = None
    """DLQ entry fields; the batch's blob moves to the DLQ with it."""
    dead_blob: bytes | None = None
    """A blob of only the failed points, kept instead of the whole batch's blob."""


def settle(r: redis.Redis, ref: BatchRef, outcome: Settlement) -> bool:
    """Settle one batch exactly once; return False if it was already settled (a redelivery).

    One atomic script updates the job's counts, records failures, moves the blob and adds
    the dead letter (if any), frees the in-flight bytes and, on the last batch, wakes waiters.
    """
    records = [_failure_json(f) for f in outcome.failures]
    letter = outcome.dead_letter or {}
    result = _SETTLE(
        r,
        keys={
            "job": keys.job(ref.job),
            "batches": keys.job_batches(ref.job),
            "failures": keys.job_failures(ref.job),
            "done": keys.job_done(ref.job),
            "blob": keys.blob(ref.index, ref.seq),
            "inflight": keys.inflight(ref.index),
            "dlq": keys.dlq(),
            "dlq_blob": keys.dlq_blob(ref.index, ref.seq),
            "pending": keys.pending(),
            "holders": keys.holders(),
            "open": keys.open_seqs(ref.index),
            "held": keys.held_seqs(ref.index),
            "settled": keys.settled(),
        },
        args={
            "seq": str(ref.seq),
            "n_written": outcome.written,
            "n_failed": outcome.failed,
            "now": time.time(),
            "ttl": keys.JOB_TTL_SECONDS,
            "size": ref.size,
            "dead_blob": outcome.dead_blob or b"",
            "member": ref.member,
            "n_records": len(records),
        },
        more_args=[*records, *(v for pair in letter.items() for v in pair)],
    )
    return bool(result)


def _failure_json(failure: Failure) -> str:
    """One failure record as stored in Redis."""
    return json.dumps(
        {
            "ids": list(failure.ids),
            "reason": failure.reason,
            "shard": failure.shard,
            "seq": failure.seq,
        }
    )


def delivered(r: redis.Redis, ref: BatchRef, worker: str) -> tuple[int, float]:
    """Count one more delivery of a batch to ``worker``, now its holder.

    Returns (deliveries so far, first delivery time). The holder stays recorded until the
    batch settles: if the worker's heartbeat stops meanwhile, the reaper publishes it again.
    """
    n, first = _DELIVERED(
        r,
        keys={
            "attempts": keys.job_attempts(ref.job),
            "job": keys.job(ref.job),
            "pending": keys.pending(),
            "holders": keys.holders(),
        },
        args={
            "seq": str(ref.seq),
            "now": time.time(),
            "ttl": keys.JOB_TTL_SECONDS,
            "member": ref.member,
            "worker": worker,
        },
    )
    return int(n), float(first)


def record_retry(r: redis.Redis, ref: BatchRef) -> None:
    """Note that a batch will be retried, so waiters and the reaper see it is alive."""
    now = time.time()
    pipe = r.pipeline(transaction=False)
    pipe.hincrby(keys.job(ref.job), "retries", 1)
    pipe.hset(keys.job(ref.job), "updated_at", now)
    pipe.zadd(keys.pending(), {ref.member: now}, xx=True)
    pipe.execute()


def record_deferral(r: redis.Redis, ref: BatchRef) -> None:
    """Note that a batch waits for older upserts: a sign of life, not a failed delivery."""
    now = time.time()
    pipe = r.pipeline(transaction=False)
    pipe.hincrby(keys.job_attempts(ref.job), str(ref.seq), -1)
    pipe.hset(keys.job(ref.job), "updated_at", now)
    pipe.zadd(keys.pending(), {ref.member: now}, xx=True)
    pipe.execute()
