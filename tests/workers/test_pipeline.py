"""process_batch on real Redis and real Qdrant local mode: idempotence, ordering, rejections."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import numpy as np
import pytest
import redis

from tests.support.batches import store, stored
from tests.support.engines import collection_exists
from vecq.shared import keys
from vecq.shared.crypto import generate_key
from vecq.shared.engines import Write
from vecq.shared.points.sharding import shard_of
from vecq.shared.state import deadletters, job_state, ledger, registry
from vecq.shared.state.registry import IndexInfo
from vecq.shared.wire.codec import Batch, encode
from vecq.shared.wire.messages import BatchRef
from vecq.workers.context import WorkerContext
from vecq.workers.pipeline import process_batch, process_batches


def test_written_batch_settles_and_frees_its_blob(
    ctx: WorkerContext, info: IndexInfo, enqueue: Callable[..., dict[str, object]], r: redis.Redis
) -> None:
    """A batch is written, its job counts it once, its blob and in-flight bytes are released."""
    message = enqueue([1, 2, 3], 1.0, seq=1)
    assert process_batch(ctx, message) == "written"
    state = job_state.read(r, str(message["job"]))
    assert state is not None and (state.written, state.failed, state.status) == (3, 0, "done")
    assert r.get(keys.blob(info.name, 1)) is None
    assert int(r.get(keys.inflight(info.name)) or 0) == 0
    assert stored(ctx, info, [1, 2, 3]) == {1: (1.0, 1), 2: (1.0, 1), 3: (1.0, 1)}


def test_redelivery_changes_nothing(
    ctx: WorkerContext, info: IndexInfo, enqueue: Callable[..., dict[str, object]], r: redis.Redis
) -> None:
    """Delivering the same batch again (blob still present, or already freed) is a no-op."""
    message = enqueue([1, 2], 1.0, seq=1)
    raw = r.get(keys.blob(info.name, 1))
    assert process_batch(ctx, message) == "written"
    assert process_batch(ctx, message) == "duplicate"  # blob freed: settled before
    assert raw is not None
    r.set(keys.blob(info.name, 1), raw)  # a redelivery racing the delete
    assert process_batch(ctx, message) == "duplicate"
    state = job_state.read(r, str(message["job"]))
    assert state is not None and (state.written, state.settled) == (2, 1)
    assert stored(ctx, info, [1, 2]) == {1: (1.0, 1), 2: (1.0, 1)}


def test_older_batch_arriving_late_keeps_newer_points_and_inserts_missing(
    ctx: WorkerContext, info: IndexInfo, enqueue: Callable[..., dict[str, object]]
) -> None:
    """seq 5 writes ids 1-2; seq 3 arriving afterwards leaves them and adds id 3 only."""
    newer = enqueue([1, 2], 5.0, seq=5)
    older = enqueue([1, 2, 3], 3.0, seq=3)
    assert process_batch(ctx, newer) == "written"
    assert process_batch(ctx, older) == "written"
    assert stored(ctx, info, [1, 2, 3]) == {1: (5.0, 5), 2: (5.0, 5), 3: (3.0, 3)}


def test_corrupt_blob_fails_the_batch_with_reason(
    ctx: WorkerContext, info: IndexInfo, enqueue: Callable[..., dict[str, object]], r: redis.Redis
) -> None:
    """A flipped byte fails the checksum; the batch is dead-lettered with its blob kept."""
    message = enqueue([1, 2], 1.0, seq=1)
    raw = bytearray(r.get(keys.blob(info.name, 1)) or b"")
    raw[-3] ^= 0xFF
    r.set(keys.blob(info.name, 1), bytes(raw))
    assert process_batch(ctx, message) == "failed"
    (failure,) = job_state.failures(r, str(message["job"]))
    assert "checksum" in failure.reason
    assert r.get(keys.blob(info.name, 1)) is None
    assert r.get(keys.dlq_blob(info.name, 1)) == bytes(raw)
    assert r.ttl(keys.dlq_blob(info.name, 1)) == -1  # kept as long as its dead letter
    (letter,) = [d for d in deadletters.entries(r, index=info.name)]
    assert letter.seq == 1 and "checksum" in letter.reason and letter.job == message["job"]


def test_message_pointing_at_another_batch_is_rejected(
    ctx: WorkerContext, enqueue: Callable[..., dict[str, object]], r: redis.Redis
) -> None:
    """A message whose shard or size disagrees with the blob header is not written."""
    message = dict(enqueue([1, 2], 1.0, seq=1), n=3)
    assert process_batch(ctx, message) == "failed"
    assert "message names" in job_state.failures(r, str(message["job"]))[0].reason


def test_batch_of_deleted_index_fails(
    ctx: WorkerContext, info: IndexInfo, enqueue: Callable[..., dict[str, object]], r: redis.Redis
) -> None:
    """A batch whose index was deleted after enqueue is failed, not written."""
    message = enqueue([1], 1.0, seq=1)
    registry.delete(r, info.name)
    assert process_batch(ctx, message) == "failed"
    assert "does not exist" in job_state.failures(r, str(message["job"]))[0].reason


def test_worker_revalidates_dimension(ctx: WorkerContext, r: redis.Redis, info: IndexInfo) -> None:
    """A blob whose vectors do not match the registry's dimension is rejected by the worker."""
    job = uuid.uuid4().hex
    batch = Batch(
        np.array([1]),
        np.zeros((1, 5), np.float32),
        index=info.name,
        index_uid=info.uid_bytes,
        shard=0,
        seq=1,
    )
    assert process_batch(ctx, store(r, batch, job)) == "failed"
    assert "5 dimensions" in job_state.failures(r, job)[0].reason


def test_ids_of_another_shard_are_rejected(ctx: WorkerContext, r: redis.Redis) -> None:
    """A batch claiming shard 0 while holding ids of shard 1 is not written."""
    info = registry.create(
        r, f"s-{uuid.uuid4().hex[:8]}", dimension=2, shards=2, metric="dot", key=generate_key()
    )
    ids = np.arange(50)
    wrong = ids[shard_of(ids, 2) == 1][:3]
    job = uuid.uuid4().hex
    batch = Batch(
        wrong,
        np.ones((3, 2), np.float32),
        index=info.name,
        index_uid=info.uid_bytes,
        shard=0,
        seq=1,
    )
    assert process_batch(ctx, store(r, batch, job)) == "failed"
    assert "shard 0" in job_state.failures(r, job)[0].reason


def test_a_batch_delivered_too_often_is_dead_lettered(
    ctx: WorkerContext, info: IndexInfo, enqueue: Callable[..., dict[str, object]], r: redis.Redis
) -> None:
    """A batch seen more than max_deliveries times (it kills its workers) goes to the DLQ."""
    message = enqueue([1], 2.0, seq=1)
    for _ in range(ctx.max_deliveries):  # deliveries whose worker died before settling
        ledger.delivered(r, BatchRef.from_message(message), "w-died-before-settling")
    assert process_batch(ctx, message) == "failed"
    (letter,) = deadletters.entries(r, index=info.name)
    assert letter.attempts == ctx.max_deliveries + 1 and "delivered" in letter.reason
    assert not collection_exists(ctx.sink.engine, info)  # never written


def test_malformed_message_is_dead_lettered(ctx: WorkerContext, r: redis.Redis) -> None:
    """A task argument that is not a batch reference is kept in the DLQ, not dropped."""
    before = deadletters.depth(r)
    assert process_batch(ctx, {"v": 1, "index": "x"}) == "rejected"
    assert deadletters.depth(r) == before + 1
    letter = deadletters.entries(r)[-1]
    assert letter.kind == "message" and "lacks field" in letter.reason and '"x"' in letter.message
    assert not letter.replayable


def test_a_blob_of_another_index_is_dead_lettered(
    ctx: WorkerContext, info: IndexInfo, enqueue: Callable[..., dict[str, object]], r: redis.Redis
) -> None:
    """A blob of index B planted under index A's key is refused and dead-lettered, not written."""
    other = registry.create(
        r, f"o-{uuid.uuid4().hex[:8]}", dimension=4, shards=1, metric="dot", key=generate_key()
    )
    message = enqueue([1, 2], 1.0, seq=7)
    foreign = Batch(
        np.array([5, 6]),
        np.ones((2, 4), np.float32),
        index=other.name,
        index_uid=other.uid_bytes,
        shard=0,
        seq=7,
    )
    r.set(keys.blob(info.name, 7), encode(foreign))
    assert process_batch(ctx, message) == "failed"
    (letter,) = deadletters.entries(r, index=info.name)
    assert other.name in letter.reason and "message names" in letter.reason
    assert not collection_exists(ctx.sink.engine, other)


def test_process_batches_coalesces_and_settles_each_batch(
    ctx: WorkerContext,
    info: IndexInfo,
    enqueue: Callable[..., dict[str, object]],
    r: redis.Redis,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Three small batches of one shard: one Qdrant request, three settled jobs, newest wins."""
    calls: list[int] = []
    real_write = ctx.sink.engine.write

    def counting(info: IndexInfo, request: Write) -> None:
        calls.append(len(request))
        real_write(info, request)

    monkeypatch.setattr(ctx.sink.engine, "write", counting)
    messages = [enqueue([1, 2], 1.0, seq=1), enqueue([2, 3], 2.0, seq=2), enqueue([4], 3.0, seq=3)]
    assert process_batches(ctx, messages, [0, 0, 0]) == ["written"] * 3
    assert calls == [4]
    assert stored(ctx, info, [1, 2, 3, 4]) == {1: (1.0, 1), 2: (2.0, 2), 3: (2.0, 2), 4: (3.0, 3)}
    for message in messages:
        state = job_state.read(r, str(message["job"]))
        assert state is not None and state.status == "done"
    assert process_batches(ctx, messages, [0, 0, 0]) == ["duplicate"] * 3


def test_process_batches_falls_back_to_one_by_one_and_isolates_bad_messages(
    ctx: WorkerContext,
    info: IndexInfo,
    enqueue: Callable[..., dict[str, object]],
    poison: Callable[[set[int]], None],
) -> None:
    """A malformed message is dead-lettered alone; a rejected coalesced write is split per batch."""
    poison({13})
    good, poisoned = enqueue([1, 2], 1.0, seq=1), enqueue([13, 14], 2.0, seq=2)
    results = process_batches(ctx, [good, {"not": "a batch"}, poisoned], [0, 0, 0])
    assert results == ["written", "rejected", "partial"]
    assert sorted(stored(ctx, info, [1, 2, 13, 14])) == [1, 2, 14]
