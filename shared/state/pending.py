"""The pending set: every enqueued, unsettled batch, scored by its last sign of activity,
and the holders: which worker is processing which of them.

The ledger's scripts keep both (a batch joins the set when its blob is stored, is touched
on each delivery and retry, gets its holder on each delivery, and leaves both when it
settles); the reaper (``workers/reaper.py``) reads them to find batches whose worker died
or whose broker message was lost.
"""

from __future__ import annotations

import json
import time

import redis

from vecq.shared import keys
from vecq.shared.state.replies import text
from vecq.shared.wire.messages import BatchRef


def stale(r: redis.Redis, older_than: float, limit: int) -> list[BatchRef]:
    """Pending batches with no activity for ``older_than`` seconds, oldest first."""
    members: list[bytes] = r.zrangebyscore(  # type: ignore[assignment]  # stubs: too wide
        keys.pending(), "-inf", time.time() - older_than, 0, limit
    )
    return [BatchRef.from_message(json.loads(m)) for m in members]


def touch(r: redis.Redis, ref: BatchRef) -> None:
    """Record activity on a pending batch (it was just published again)."""
    r.zadd(keys.pending(), {ref.member: time.time()}, xx=True)


def forget(r: redis.Redis, ref: BatchRef) -> None:
    """Drop a batch from the pending set (it is settled, or no longer in any job)."""
    r.zrem(keys.pending(), ref.member)


def holders(r: redis.Redis) -> dict[BatchRef, str]:
    """Every batch being processed right now, with the worker holding it."""
    return {
        BatchRef.from_message(json.loads(m)): text(w) for m, w in r.hgetall(keys.holders()).items()
    }


def holder(r: redis.Redis, ref: BatchRef) -> str | None:
    """The worker holding ``ref``, if one is."""
    raw = r.hget(keys.holders(), ref.member)
    return None if raw is None else text(raw)


def release(r: redis.Redis, ref: BatchRef) -> None:
    """Record that nobody holds ``ref`` any more (its holder died, or let it go)."""
    r.hdel(keys.holders(), ref.member)


def release_worker(r: redis.Redis, worker_id: str) -> int:
    """Let go of every batch ``worker_id`` holds (it stops cleanly); return how many."""
    held = [m for m, w in r.hgetall(keys.holders()).items() if text(w) == worker_id]
    return int(r.hdel(keys.holders(), *held)) if held else 0
