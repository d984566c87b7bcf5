"""A job's state as its ledger in Redis holds it: the read side of ``shared/state/ledger.py``.

``UpsertJob``, ``vecq status``, the HTTP API's job view and the workers' duplicate checks
read jobs through here; only the ledger's scripts write them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Literal

import redis

from vecq.shared import keys
from vecq.shared.errors import Failure
from vecq.shared.state.replies import text, texts

Status = Literal["enqueuing", "queued", "running", "done", "failed"]

# Batch states: "stored" (blob written, publish not yet confirmed), "queued" (published),
# then exactly one of "done" or "failed" (some or all of its points dead-lettered).


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
    op: str = "upsert"
    """What the job does: ``upsert``, ``delete`` or ``update`` (metadata)."""

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
        op=f.get("op", "upsert"),
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
