"""The job ledger in Redis: totals and per-batch state of every upsert call.

The producer opens a job and marks each batch ``queued`` in the same round trip that
stores its blob; a worker settles a batch exactly once (``done`` or ``failed``) with one
atomic script that also frees the blob and the in-flight bytes and, on the last batch,
wakes anyone waiting on the job.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Literal

import redis

from shared import keys
from shared.errors import Failure

Outcome = Literal["done", "failed"]
Status = Literal["enqueuing", "queued", "running", "done", "failed"]

# KEYS: job, batches, failures, done-list, blob, inflight
# ARGV: seq, n, outcome, failure json, now, job ttl, blob bytes, failed-blob ttl
_SETTLE = """
local state = redis.call('HGET', KEYS[2], ARGV[1])
if state ~= 'queued' then return 0 end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
if ARGV[3] == 'done' then
  redis.call('HINCRBY', KEYS[1], 'written', ARGV[2])
  redis.call('DEL', KEYS[5])
else
  redis.call('HINCRBY', KEYS[1], 'failed', ARGV[2])
  redis.call('RPUSH', KEYS[3], ARGV[4])
  redis.call('EXPIRE', KEYS[5], ARGV[8])
end
if redis.call('DECRBY', KEYS[6], ARGV[7]) < 0 then redis.call('SET', KEYS[6], 0) end
redis.call('HSET', KEYS[1], 'updated_at', ARGV[5])
local settled = redis.call('HINCRBY', KEYS[1], 'settled', 1)
if settled == tonumber(redis.call('HGET', KEYS[1], 'batches')) then
  redis.call('HSET', KEYS[1], 'finished_at', ARGV[5])
  redis.call('RPUSH', KEYS[4], '1')
  for i = 1, 4 do redis.call('EXPIRE', KEYS[i], ARGV[6]) end
end
return 1
"""


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

    @property
    def finished(self) -> bool:
        """True when every batch is settled (written or failed)."""
        return self.enqueued and self.settled >= self.batches

    @property
    def status(self) -> Status:
        """enqueuing, queued, running, done, or failed (some batch failed)."""
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
            "enqueued": 0,
            "created_at": now,
            "updated_at": now,
        },
    )
    pipe.expire(keys.job(job_id), keys.JOB_TTL_SECONDS)
    pipe.execute()


def mark_queued(pipe: redis.client.Pipeline, job_id: str, seq: int, index: str, size: int) -> None:
    """Queue on ``pipe`` the ledger writes that go with storing one batch's blob."""
    pipe.hset(keys.job_batches(job_id), str(seq), "queued")
    pipe.expire(keys.job_batches(job_id), keys.JOB_TTL_SECONDS)
    pipe.incrby(keys.inflight(index), size)


def mark_enqueued(r: redis.Redis, job_id: str) -> None:
    """Record that every batch of the job has been published."""
    r.hset(keys.job(job_id), "enqueued", 1)


def settle(
    r: redis.Redis,
    job_id: str,
    index: str,
    seq: int,
    n: int,
    size: int,
    outcome: Outcome,
    failure: Failure | None = None,
) -> bool:
    """Settle one batch exactly once; return False if it was already settled (a redelivery)."""
    failure_json = (
        json.dumps(
            {
                "ids": list(failure.ids),
                "reason": failure.reason,
                "shard": failure.shard,
                "seq": failure.seq,
            }
        )
        if failure is not None
        else ""
    )
    result = r.eval(
        _SETTLE,
        6,
        keys.job(job_id),
        keys.job_batches(job_id),
        keys.job_failures(job_id),
        keys.job_done(job_id),
        keys.blob(index, seq),
        keys.inflight(index),
        str(seq),
        n,
        outcome,
        failure_json,
        time.time(),
        keys.JOB_TTL_SECONDS,
        size,
        keys.FAILED_BLOB_TTL_SECONDS,
    )
    return bool(result)


def batch_state(r: redis.Redis, job_id: str, seq: int) -> str | None:
    """The state of one batch: queued, done, failed, or None if unknown."""
    raw = r.hget(keys.job_batches(job_id), str(seq))
    return None if raw is None else _text(raw)


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
    )


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
