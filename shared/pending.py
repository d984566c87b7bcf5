"""The pending set: every enqueued, unsettled batch, scored by its last sign of activity.

The ledger's scripts keep it (a batch joins when its blob is stored, is touched on each
delivery and retry, and leaves when it settles); the reaper (``workers/reaper.py``) reads it
to find batches whose broker message was lost.
"""

from __future__ import annotations

import json
import time

import redis

from shared import keys
from shared.messages import BatchRef


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
