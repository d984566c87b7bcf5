"""The job ledger in Redis: totals and per-batch state of every upsert call.

The producer opens a job, marks each batch ``stored`` in the round trip that stores its
blob and ``queued`` once its message is published (so the ledger never claims a batch
was enqueued when it was not). A worker settles a batch exactly once (``done`` or
``failed``) with one atomic script that also frees the blob and the in-flight bytes,
writes the dead letter of a failed batch, and on the last batch wakes anyone waiting.
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

Status = Literal["enqueuing", "queued", "running", "done", "failed"]

# Batch states: "stored" (blob written, publish not yet confirmed), "queued" (published),
# then exactly one of "done" or "failed" (some or all of its points dead-lettered).
ENQUEUED_STATES = frozenset({"queued", "done", "failed"})

# KEYS: job, batches, failures, done-list, blob, inflight, dlq stream, dlq blob, pending
# ARGV: seq, written, failed, now, job ttl, blob bytes, dlq blob data ('' = keep the blob),
#       pending member, number of failure records, the records..., then the DLQ entry's
#       field/value pairs
_SETTLE = """
redis.call('ZREM', KEYS[9], ARGV[8])
local state = redis.call('HGET', KEYS[2], ARGV[1])
if state ~= 'queued' and state ~= 'stored' then return 0 end
local failed = tonumber(ARGV[3])
if failed > 0 then
  redis.call('HSET', KEYS[2], ARGV[1], 'failed')
else
  redis.call('HSET', KEYS[2], ARGV[1], 'done')
end
redis.call('HINCRBY', KEYS[1], 'written', ARGV[2])
redis.call('HINCRBY', KEYS[1], 'failed', ARGV[3])
local records = tonumber(ARGV[9])
for i = 1, records do redis.call('RPUSH', KEYS[3], ARGV[9 + i]) end
local dlq = 10 + records
if #ARGV >= dlq then
  if ARGV[7] ~= '' then
    redis.call('SET', KEYS[8], ARGV[7])
    redis.call('DEL', KEYS[5])
  elseif redis.call('EXISTS', KEYS[5]) == 1 then
    redis.call('RENAME', KEYS[5], KEYS[8])
    redis.call('PERSIST', KEYS[8])
  end
  redis.call('XADD', KEYS[7], '*', unpack(ARGV, dlq))
else
  redis.call('DEL', KEYS[5])
end
if redis.call('DECRBY', KEYS[6], ARGV[6]) < 0 then redis.call('SET', KEYS[6], 0) end
redis.call('HSET', KEYS[1], 'updated_at', ARGV[4])
local settled = redis.call('HINCRBY', KEYS[1], 'settled', 1)
if settled == tonumber(redis.call('HGET', KEYS[1], 'batches')) then
  redis.call('HSET', KEYS[1], 'finished_at', ARGV[4])
  redis.call('RPUSH', KEYS[4], '1')
  for i = 1, 4 do redis.call('EXPIRE', KEYS[i], ARGV[5]) end
end
return 1
"""

# KEYS: batches. ARGV: seq. A worker may settle a batch before its publish is confirmed.
_PUBLISHED = """
if redis.call('HGET', KEYS[1], ARGV[1]) == 'stored' then
  redis.call('HSET', KEYS[1], ARGV[1], 'queued')
end
return 1
"""

# KEYS: job, batches, done-list, inflight, then one blob key per batch.
# ARGV: now, reason, ids enqueued, then (seq, size) per batch. Forgets batches stored but never
# published, and shrinks the job to what was enqueued, so it can still finish.
_ABORT = """
local dropped = 0
for i = 5, #KEYS do
  local seq, size = ARGV[2 * (i - 4) + 2], ARGV[2 * (i - 4) + 3]
  -- Never published, so nothing refers to the blob, stored or not (a SET can apply
  -- while the ledger script behind it is refused).
  redis.call('DEL', KEYS[i])
  if redis.call('HGET', KEYS[2], seq) == 'stored' then
    redis.call('HDEL', KEYS[2], seq)
    if redis.call('DECRBY', KEYS[4], size) < 0 then redis.call('SET', KEYS[4], 0) end
    dropped = dropped + 1
  end
end
local batches = redis.call('HLEN', KEYS[2])
redis.call('HSET', KEYS[1], 'batches', batches, 'total', ARGV[3], 'enqueued', 1,
           'aborted', ARGV[2], 'updated_at', ARGV[1])
if tonumber(redis.call('HGET', KEYS[1], 'settled')) >= batches then
  redis.call('HSET', KEYS[1], 'finished_at', ARGV[1])
  redis.call('RPUSH', KEYS[3], '1')
end
return dropped
"""

# KEYS: attempts hash, job, pending. ARGV: seq, now, ttl, pending member.
# Returns {deliveries, first seen}.
_DELIVERED = """
redis.call('ZADD', KEYS[3], 'XX', ARGV[2], ARGV[4])
local n = redis.call('HINCRBY', KEYS[1], ARGV[1], 1)
redis.call('HSETNX', KEYS[1], ARGV[1] .. ':first', ARGV[2])
redis.call('EXPIRE', KEYS[1], ARGV[3])
if n > 1 then redis.call('HSET', KEYS[2], 'updated_at', ARGV[2]) end
return {n, redis.call('HGET', KEYS[1], ARGV[1] .. ':first')}
"""


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


# KEYS: batches, pending, inflight, blob; ARGV: seq, job ttl, pending member, now, blob bytes
_STORED = """
redis.call('HSET', KEYS[1], ARGV[1], 'stored')
redis.call('EXPIRE', KEYS[1], ARGV[2])
redis.call('ZADD', KEYS[2], ARGV[4], ARGV[3])
redis.call('PERSIST', KEYS[4])
return redis.call('INCRBY', KEYS[3], ARGV[5])
"""


def out_of_memory(exc: BaseException) -> bool:
    """True if Redis refused a write for ``maxmemory``: directly, or inside one of our scripts.

    A command refused for memory raises ``OutOfMemoryError``; the same refusal of a write
    inside a Lua script comes back as a plain ``ResponseError`` ("Error running script ...
    -OOM command not allowed ..."). Scripts here make their first write before anything
    else, so a refused script has written nothing.
    """
    if isinstance(exc, redis.OutOfMemoryError):
        return True
    return isinstance(exc, redis.ResponseError) and "OOM command not allowed" in str(exc)


def footprint(nbytes: int) -> int:
    """The memory Redis spends on a value of ``nbytes``: its allocator's size class.

    jemalloc (Redis's allocator) has four size classes per doubling, so a large value is
    rounded up to the next quarter step: a 6.02 MiB blob takes 7 MiB. In-flight bytes are
    counted this way, so that ``max_inflight_bytes`` bounds Redis's actual memory.
    """
    if nbytes <= 16:
        return 16
    step = 1 << max(3, (nbytes - 1).bit_length() - 3)
    return -(-nbytes // step) * step


def mark_stored(pipe: redis.client.Pipeline, ref: BatchRef) -> None:
    """Queue on ``pipe`` the ledger writes that go with storing one batch's blob, atomically.

    Queue it after the blob's ``SET``, which may carry an expiry
    (``keys.ORPHAN_BLOB_TTL_SECONDS``): this removes it, so only a blob whose ledger entry
    never got written expires. The reply is the index's new in-flight byte total.
    """
    pipe.eval(
        _STORED,
        4,
        keys.job_batches(ref.job),
        keys.pending(),
        keys.inflight(ref.index),
        ref.blob_key,
        str(ref.seq),
        keys.JOB_TTL_SECONDS,
        ref.member,
        time.time(),
        ref.size,
    )


def mark_published(pipe: redis.client.Pipeline | redis.Redis, job_id: str, seq: int) -> None:
    """Record (on ``pipe``) that a stored batch's task message reached the broker."""
    pipe.eval(_PUBLISHED, 1, keys.job_batches(job_id), str(seq))


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
    blob_keys = [keys.blob(index, seq) for seq, _ in unpublished]
    args: list[str | int | float] = [time.time(), reason, enqueued]
    for seq, size in unpublished:
        args += [str(seq), size]
    dropped = r.eval(
        _ABORT,
        4 + len(blob_keys),
        keys.job(job_id),
        keys.job_batches(job_id),
        keys.job_done(job_id),
        keys.inflight(index),
        *blob_keys,
        *args,
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
    dlq_args: list[str] = []
    if outcome.dead_letter is not None:
        for name, value in outcome.dead_letter.items():
            dlq_args += [name, value]
    result = r.eval(
        _SETTLE,
        9,
        keys.job(ref.job),
        keys.job_batches(ref.job),
        keys.job_failures(ref.job),
        keys.job_done(ref.job),
        keys.blob(ref.index, ref.seq),
        keys.inflight(ref.index),
        keys.dlq(),
        keys.dlq_blob(ref.index, ref.seq),
        keys.pending(),
        str(ref.seq),
        outcome.written,
        outcome.failed,
        time.time(),
        keys.JOB_TTL_SECONDS,
        ref.size,
        outcome.dead_blob or b"",
        ref.member,
        len(records),
        *records,
        *dlq_args,
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
    n, first = r.eval(
        _DELIVERED,
        3,
        keys.job_attempts(ref.job),
        keys.job(ref.job),
        keys.pending(),
        str(ref.seq),
        time.time(),
        keys.JOB_TTL_SECONDS,
        ref.member,
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


def stale_pending(r: redis.Redis, older_than: float, limit: int) -> list[BatchRef]:
    """Pending batches with no activity for ``older_than`` seconds, oldest first."""
    members: list[bytes] = r.zrangebyscore(  # type: ignore[assignment]  # stubs: too wide
        keys.pending(), "-inf", time.time() - older_than, 0, limit
    )
    return [BatchRef.from_message(json.loads(m)) for m in members]


def touch_pending(r: redis.Redis, ref: BatchRef) -> None:
    """Record activity on a pending batch (it was just published again)."""
    r.zadd(keys.pending(), {ref.member: time.time()}, xx=True)


def forget_pending(r: redis.Redis, ref: BatchRef) -> None:
    """Drop a batch from the pending set (it is settled, or no longer in any job)."""
    r.zrem(keys.pending(), ref.member)


def batch_state(r: redis.Redis, job_id: str, seq: int) -> str | None:
    """The state of one batch: stored, queued, done, failed, or None if unknown."""
    raw = r.hget(keys.job_batches(job_id), str(seq))
    return None if raw is None else _text(raw)


def batch_states(r: redis.Redis, job_id: str) -> dict[int, str]:
    """Every batch of the job by sequence number, with its state."""
    return {int(k): _text(v) for k, v in r.hgetall(keys.job_batches(job_id)).items()}


def read(r: redis.Redis, job_id: str) -> JobState | None:
    """Return the job's current state, or None if there is no such job (or it expired)."""
    raw = r.hgetall(keys.job(job_id))
    if not raw:
        return None
    f = {_text(k): _text(v) for k, v in raw.items()}
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


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
