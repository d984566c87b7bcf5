"""The reaper's three cases on real Redis: dead holders, stopped producers, lost messages."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import pytest
import redis

from vecq.shared import keys
from vecq.shared.state import heartbeats, job_state, ledger, pending
from vecq.shared.wire.messages import BatchRef
from vecq.workers.reaper import (
    finish_interrupted,
    reap_dead_holders,
    reap_lost,
    recover_sole_consumer,
)


@pytest.fixture
def made(r: redis.Redis) -> Iterator[list[BatchRef]]:
    """Batches a test puts in the ledger; whatever is left of them is cleared afterwards."""
    refs: list[BatchRef] = []
    yield refs
    for ref in refs:
        pending.forget(r, ref)
        pending.release(r, ref)
        r.zrem(keys.enqueuing(), ref.job)


def _stored(r: redis.Redis, made: list[BatchRef], job: str | None = None, seq: int = 1) -> BatchRef:
    """One batch stored by a producer (job opened if new), still pending."""
    job = job or uuid.uuid4().hex
    ref = BatchRef(f"reap-{job[:6]}", 0, seq, job, 10, 1000)
    if not r.exists(keys.job(job)):
        ledger.open_job(r, job, ref.index, 10, 1)
    pipe = r.pipeline()
    ledger.mark_stored(pipe, ref)
    pipe.execute()
    made.append(ref)
    return ref


def _pending(r: redis.Redis, made: list[BatchRef], state: str, age: float) -> BatchRef:
    """A published batch of a fully enqueued job, quiet for ``age`` seconds."""
    ref = _stored(r, made)
    ledger.mark_enqueued(r, ref.job, ref.index)
    if state != "stored":
        r.hset(keys.job_batches(ref.job), "1", state)
    r.zadd(keys.pending(), {ref.member: time.time() - age})
    return ref


def test_a_lost_quiet_batch_is_published_again_but_a_queued_one_never(
    r: redis.Redis, made: list[BatchRef]
) -> None:
    """Nobody holds them: the one the broker lacks is republished and touched, the one it
    holds is only touched, and a recent one is not looked at."""
    lost = _pending(r, made, "queued", age=100)
    queued = _pending(r, made, "queued", age=100)
    recent = _pending(r, made, "queued", age=1)
    asked: list[list[BatchRef]] = []

    def in_broker(refs: list[BatchRef]) -> set[str]:
        asked.append(refs)
        return {queued.member}

    sent: list[BatchRef] = []
    assert reap_lost(r, sent.append, 50, in_broker) >= 1
    assert lost in sent and queued not in sent and recent not in sent
    assert recent not in asked[0]
    for ref in (lost, queued):
        assert (r.zscore(keys.pending(), ref.member) or 0) > time.time() - 5  # touched
    sent.clear()
    reap_lost(r, sent.append, 50, in_broker)
    assert lost not in sent
    assert reap_lost(r, sent.append, 0, None) == 0  # a broker it cannot ask: left alone


def test_settled_or_forgotten_batches_leave_the_pending_set(
    r: redis.Redis, made: list[BatchRef]
) -> None:
    """A done batch, or one its job no longer holds, is dropped instead of republished."""
    done = _pending(r, made, "done", age=100)
    gone = _pending(r, made, "queued", age=100)
    r.hdel(keys.job_batches(gone.job), "1")  # an aborted enqueue forgot it
    sent: list[BatchRef] = []
    reap_lost(r, sent.append, 50, lambda refs: set())
    assert done not in sent and gone not in sent
    assert r.zscore(keys.pending(), done.member) is None
    assert r.zscore(keys.pending(), gone.member) is None


def test_settling_removes_the_batch_from_the_pending_set_and_its_holder(
    r: redis.Redis, made: list[BatchRef]
) -> None:
    """The settle script drops the batch from the pending set and the holders in one step."""
    ref = _pending(r, made, "queued", age=0)
    ledger.delivered(r, ref, "w-settling")
    assert pending.holder(r, ref) == "w-settling"
    assert ledger.settle(r, ref, ledger.Settlement(written=10))
    assert r.zscore(keys.pending(), ref.member) is None
    assert pending.holder(r, ref) is None


def test_a_batch_held_by_a_dead_worker_is_published_again_at_once(
    r: redis.Redis, made: list[BatchRef]
) -> None:
    """A holder without a heartbeat is dead: its batch goes out again; a live one's stays."""
    dead = _pending(r, made, "queued", age=0)
    alive = _pending(r, made, "queued", age=0)
    live_worker = f"w-live-{uuid.uuid4().hex[:6]}"
    heartbeats.beat(r, live_worker, {"host": "test"})
    ledger.delivered(r, dead, f"w-dead-{uuid.uuid4().hex[:6]}")  # it never announced itself
    ledger.delivered(r, alive, live_worker)
    sent: list[BatchRef] = []
    assert reap_dead_holders(r, sent.append) >= 1
    assert dead in sent and alive not in sent
    assert pending.holder(r, dead) is None and pending.holder(r, alive) == live_worker
    sent.clear()
    reap_dead_holders(r, sent.append)
    assert dead not in sent  # published once, not at every sweep
    r.delete(keys.worker(live_worker))


def test_a_sole_consumer_starting_sends_out_at_once_what_its_predecessor_held_or_lost(
    r: redis.Redis, made: list[BatchRef]
) -> None:
    """Every holder is the stopped consumer, even with its heartbeat still fresh: released.
    Lost batches go out however recent; one the broker holds (restored) does not."""
    held_lost = _pending(r, made, "queued", age=0)
    held_restored = _pending(r, made, "queued", age=0)
    lost = _pending(r, made, "queued", age=0)
    predecessor = f"w-gone-{uuid.uuid4().hex[:6]}"
    heartbeats.beat(r, predecessor, {"host": "test"})  # killed a moment ago: still beating
    ledger.delivered(r, held_lost, predecessor)
    ledger.delivered(r, held_restored, predecessor)
    sent: list[BatchRef] = []
    assert recover_sole_consumer(r, sent.append, lambda refs: {held_restored.member}) >= 2
    assert held_lost in sent and lost in sent and held_restored not in sent
    assert pending.holder(r, held_lost) is None and pending.holder(r, held_restored) is None
    assert recover_sole_consumer(r, sent.append, None) == 0  # a broker it cannot ask
    r.delete(keys.worker(predecessor))


def test_a_job_whose_producer_stopped_is_finished_with_what_redis_holds(
    r: redis.Redis, made: list[BatchRef]
) -> None:
    """While the lease holds nothing happens; once it lapses the job keeps its two stored
    batches, the one never marked published goes out again, and the job then settles."""
    first = _stored(r, made)
    second = _stored(r, made, job=first.job, seq=2)
    ledger.mark_published(r, first.job, first.seq)
    sent: list[BatchRef] = []
    finish_interrupted(r, sent.append)
    assert sent == [] and not job_state.read(r, first.job).enqueued  # type: ignore[union-attr]
    r.delete(keys.job_lease(first.job))  # the producer died: its lease lapses
    assert finish_interrupted(r, sent.append) >= 1
    assert sent == [second]
    state = job_state.read(r, first.job)
    assert state is not None and state.enqueued and state.status == "queued"
    assert (state.batches, state.total) == (2, 20) and state.aborted
    assert ledger.abort(r, first.job, first.index, [(2, 1000)], "late", 10) == -1  # too late
    late = BatchRef(first.index, 0, 3, first.job, 10, 1000)
    pipe = r.pipeline()
    ledger.mark_stored(pipe, late)
    with pytest.raises(redis.ResponseError, match="VECQ_FINISHED"):
        pipe.execute()
    for ref in (first, second):
        ledger.settle(r, ref, ledger.Settlement(written=10))
    done = job_state.read(r, first.job)
    assert done is not None and done.status == "done" and done.written == 20


def test_a_message_unacknowledged_past_the_visibility_timeout_counts_as_lost(
    r: redis.Redis, redis_url: str
) -> None:
    """The broker is asked about a batch: queued, or taken by a worker within the visibility
    timeout, it is there; taken longer ago than that (kombu's own rule for a worker that is
    gone, whose restore can lag), it is not, and case 3 may publish it again."""
    from vecq.shared.config.settings import Settings
    from vecq.shared.wire import messages
    from vecq.workers.celery import create_app, in_broker

    app = create_app(Settings(redis_url=redis_url, visibility_timeout=30, task_time_limit=20))
    find = in_broker(app)
    assert find is not None
    ref = BatchRef("reap-unacked", 0, 1, uuid.uuid4().hex, 1, 10)
    r.delete(keys.QUEUE_BULK)
    messages.send(app, ref)
    assert find([ref]) == {ref.member}  # queued
    with app.connection_for_read() as conn:
        channel = conn.default_channel
        message = channel.basic_get(keys.QUEUE_BULK, no_ack=False)
        assert message is not None
        try:
            assert r.llen(keys.QUEUE_BULK) == 0
            assert find([ref]) == {ref.member}  # a worker took it just now
            r.zadd(channel.unacked_index_key, {message.delivery_tag: time.time() - 31})
            assert find([ref]) == set()  # taken 31 s ago: past the visibility timeout
        finally:
            channel.basic_ack(message.delivery_tag)


def test_asking_the_broker_reads_the_queue_only_as_far_as_the_suspects(
    r: redis.Redis, redis_url: str
) -> None:
    """With 3,000 batches queued, finding the oldest ones (where the sweep's suspects wait)
    reads one page of the queue, not all of it; a batch that is not there is looked for
    through the whole queue, and reported missing."""
    from vecq.shared.config.settings import Settings
    from vecq.shared.wire import messages
    from vecq.workers.celery import IN_BROKER_PAGE, create_app, in_broker

    app = create_app(Settings(redis_url=redis_url))
    find = in_broker(app)
    assert find is not None
    r.delete(keys.QUEUE_BULK, keys.QUEUE_LIVE)
    refs = [BatchRef("reap-backlog", 0, seq, "job-b", 1, 10) for seq in range(3_000)]
    for ref in refs:
        messages.send(app, ref)
    r.config_resetstat()
    assert find(refs[:5]) == {ref.member for ref in refs[:5]}
    stats = r.info("commandstats")
    assert stats["cmdstat_lrange"]["calls"] == 1  # one page of the bulk queue
    absent = BatchRef("reap-backlog", 0, 99_999, "job-b", 1, 10)
    assert find([absent]) == set()
    pages = -(-3_000 // IN_BROKER_PAGE)
    assert r.info("commandstats")["cmdstat_lrange"]["calls"] <= 1 + pages + 2
    r.delete(keys.QUEUE_BULK)
