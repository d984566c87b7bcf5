"""The job ledger in Redis: totals and per-batch state of every upsert call.

The producer opens a job, marks each batch ``stored`` in the round trip that stores its
blob and ``queued`` once its message is published (so the ledger never claims a batch
was enqueued when it was not). A worker settles a batch exactly once (``done`` or
``failed``) with one atomic script that also frees the blob and the in-flight bytes,
writes the dead letter of a failed batch, and on the last batch wakes anyone waiting.
The scripts are ``shared/lua/*.lua``; the pending set they keep is read by
:mod:`shared.pending`.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Literal

import redis

from shared import keys
from shared.errors import Failure
from shared.messages import BatchRef
from shared.replies import text, texts
from shared.scripts import Lua

Status = Literal["enqueuing", "queued", "running", "done", "failed"]

# Batch states: "stored" (blob written, publish not yet confirmed), "queued" (published),
# then exactly one of "done" or "failed" (some or all of its points dead-lettered).
ENQUEUED_STATES = frozenset({"queued", "done", "failed"})

_SETTLE = Lua("settle")
_PUBLISHED = Lua("published")
_ABORT = Lua("abort")
_DELIVERED = Lua("delivered")
_STORED = Lua("stored")

# How many job ids ``keys.jobs()`` keeps, newest first, for ``vecq status``.
RECENT_JOBS = 1000


@dataclass(frozen=True)
class JobState:
    """A snapshot of one job's ledger."""

    job_id: str
    index: str
    total: int
    batches: int
    written: int
    failed: int
    settled: int
    enqueued: bool
    created_at: float
    updated_at: float
    retries: int = 0
    aborted: str | None = None

    @property
    def finished(self) -> bool:
        """True when every batch is settled (written or failed)."""
        return self.enqueued and self.settled >= self.batches

    @property
    def status(self) -> Status:
        """enqueuing, queued, running, done, or failed (some vector failed)."""
        if self.finished:
            return "failed" if self.failed else "done"
        if not self.enqueued:
            return "enqueuing"
        return "running" if self.settled else "queued"


def open_job(r: redis.Redis, job_id: str, index: str, total: int, batches: int) -> None:
    """Create the ledger of a job that will enqueue ``batches`` batches holding ``total`` ids."""
    now = time.time()
    pipe = r.pipeline(transaction=True)
    pipe.hset(
        keys.job(job_id),
        mapping={
            "index": index,
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
    pipe.execute()


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
        },
        args={
            "seq": str(ref.seq),
            "ttl": keys.JOB_TTL_SECONDS,
            "member": ref.member,
            "now": time.time(),
            "size": ref.size,
        },
    )


def mark_published(pipe: redis.client.Pipeline | redis.Redis, job_id: str, seq: int) -> None:
    """Record (on ``pipe``) that a stored batch's task message reached the broker."""
    _PUBLISHED(pipe, keys={"batches": keys.job_batches(job_id)}, args={"seq": str(seq)})


def mark_enqueued(pipe: redis.client.Pipeline | redis.Redis, job_id: str) -> None:
    """Record that every batch of the job has been published."""
    pipe.hset(keys.job(job_id), "enqueued", 1)


def abort(
    r: redis.Redis,
    job_id: str,
    index: str,
    unpublished: list[tuple[int, int]],
    reason: str,
    enqueued: int,
) -> int:
    """End an interrupted enqueue: forget ``(seq, size)`` batches never published, keep the rest.

    Afterwards the ledger's batches (and its total, ``enqueued`` ids) are exactly the ones
    enqueued, and the job finishes when they settle. Returns how many were forgotten.
    """
    dropped = _ABORT(
        r,
        keys={
            "job": keys.job(job_id),
            "batches": keys.job_batches(job_id),
            "done": keys.job_done(job_id),
            "inflight": keys.inflight(index),
        },
        args={"now": time.time(), "reason": reason, "enqueued": enqueued},
        more_keys=[keys.blob(index, seq) for seq, _ in unpublished],
        more_args=[v for seq, size in unpublished for v in (str(seq), size)],
    )
    return int(dropped)


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


def delivered(r: redis.Redis, ref: BatchRef) -> tuple[int, float]:
    """Count one more delivery of a batch; return (deliveries so far, first delivery time)."""
    n, first = _DELIVERED(
        r,
        keys={
            "attempts": keys.job_attempts(ref.job),
            "job": keys.job(ref.job),
            "pending": keys.pending(),
        },
        args={
            "seq": str(ref.seq),
            "now": time.time(),
            "ttl": keys.JOB_TTL_SECONDS,
            "member": ref.member,
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


def batch_state(r: redis.Redis, job_id: str, seq: int) -> str | None:
    """The state of one batch: stored, queued, done, failed, or None if unknown."""
    raw = r.hget(keys.job_batches(job_id), str(seq))
    return None if raw is None else text(raw)


def batch_states(r: redis.Redis, job_id: str) -> dict[int, str]:
    """Every batch of the job by sequence number, with its state."""
    return {int(k): text(v) for k, v in r.hgetall(keys.job_batches(job_id)).items()}


def read(r: redis.Redis, job_id: str) -> JobState | None:
    """Return the job's current state, or None if there is no such job (or it expired)."""
    raw = r.hgetall(keys.job(job_id))
    if not raw:
        return None
    f = texts(raw)
    return JobState(
        job_id=job_id,
        index=f["index"],
        total=int(f["total"]),
        batches=int(f["batches"]),
        written=int(f["written"]),
        failed=int(f["failed"]),
        settled=int(f["settled"]),
        enqueued=f["enqueued"] == "1",
        created_at=float(f["created_at"]),
        updated_at=float(f["updated_at"]),
        retries=int(f.get("retries", 0)),
        aborted=f.get("aborted"),
    )


def inflight(r: redis.Redis, index: str) -> int:
    """Bytes of the index's batches enqueued and not yet settled."""
    return int(r.get(keys.inflight(index)) or 0)


def failures(r: redis.Redis, job_id: str) -> list[Failure]:
    """Every failed batch of the job, in the order they failed."""
    records = r.lrange(keys.job_failures(job_id), 0, -1)
    out = []
    for raw in records:
        rec = json.loads(raw)
        out.append(Failure(tuple(rec["ids"]), rec["reason"], rec["shard"], rec["seq"]))
    return out


def wait_for_wakeup(r: redis.Redis, job_id: str, timeout: float) -> None:
    """Block up to ``timeout`` seconds for the job's completion signal, then leave it set."""
    got = r.blpop([keys.job_done(job_id)], timeout=max(timeout, 0.01))
    if got is not None:
        # Put the token back so every other waiter on this job wakes too.
        r.rpush(keys.job_done(job_id), "1")
        r.expire(keys.job_done(job_id), keys.JOB_TTL_SECONDS)
