"""The reaper republishes pending batches nobody is working on, and forgets settled ones."""

from __future__ import annotations

import time
import uuid

import redis

from shared import keys, ledger
from shared.messages import BatchRef
from workers.reaper import reap


def _pending(r: redis.Redis, state: str, age: float) -> BatchRef:
    job = uuid.uuid4().hex
    ref = BatchRef(f"reap-{job[:6]}", 0, 1, job, 10, 1000)
    ledger.open_job(r, job, ref.index, 10, 1)
    pipe = r.pipeline()
    ledger.mark_stored(pipe, ref)
    pipe.execute()
    if state != "stored":
        r.hset(keys.job_batches(job), "1", state)
    r.zadd(keys.pending(), {ref.member: ref_time(age)})
    return ref


def ref_time(age: float) -> float:
    """The timestamp ``age`` seconds ago."""
    return time.time() - age


def test_a_quiet_pending_batch_is_published_again(r: redis.Redis) -> None:
    """A queued batch silent for longer than the threshold is republished and touched."""
    lost = _pending(r, "queued", age=100)
    recent = _pending(r, "queued", age=1)
    sent: list[BatchRef] = []
    assert reap(r, sent.append, older_than=50) >= 1
    assert lost in sent and recent not in sent
    assert r.zscore(keys.pending(), lost.member) > ref_time(5)  # touched: not again at once
    sent.clear()
    reap(r, sent.append, older_than=50)
    assert lost not in sent


def test_settled_or_forgotten_batches_leave_the_pending_set(r: redis.Redis) -> None:
    """A done batch, or one its job no longer holds, is dropped instead of republished."""
    done = _pending(r, "done", age=100)
    gone = _pending(r, "queued", age=100)
    r.hdel(keys.job_batches(gone.job), "1")  # an aborted enqueue forgot it
    sent: list[BatchRef] = []
    reap(r, sent.append, older_than=50)
    assert done not in sent and gone not in sent
    assert r.zscore(keys.pending(), done.member) is None
    assert r.zscore(keys.pending(), gone.member) is None


def test_settling_removes_the_batch_from_the_pending_set(r: redis.Redis) -> None:
    """The settle script drops the batch from the pending set in the same step."""
    ref = _pending(r, "queued", age=0)
    assert ledger.settle(r, ref, ledger.Settlement(written=10))
    assert r.zscore(keys.pending(), ref.member) is None
