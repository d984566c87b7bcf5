"""process_batch on real Redis and real Qdrant local mode: idempotence, ordering, rejections."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator

import numpy as np
import pydantic
import pytest
import redis
from celery.exceptions import SoftTimeLimitExceeded
from httpx import Headers
from qdrant_client import models
from qdrant_client.http.exceptions import ResponseHandlingException, UnexpectedResponse

from shared import keys, ledger, registry
from shared.codec import Batch, decode, encode
from shared.crypto import generate_key
from shared.messages import BatchRef
from shared.qdrant import open_qdrant
from shared.registry import IndexInfo
from shared.settings import Settings
from shared.sharding import shard_of
from workers import dlq
from workers.pipeline import RetryLater, WorkerContext, process_batch, process_batches
from workers.sink import QdrantSink


@pytest.fixture
def ctx(r: redis.Redis) -> Iterator[WorkerContext]:
    """A worker context on the test Redis and a fresh in-memory Qdrant."""
    qdrant = open_qdrant(Settings(qdrant_path=":memory:"))
    settings = Settings(retry_seconds=5.0, task_retries=2, task_retry_backoff=0.5)
    yield WorkerContext(redis=r, sink=QdrantSink(qdrant, local=True), settings=settings)
    qdrant.close()


@pytest.fixture
def info(r: redis.Redis) -> IndexInfo:
    """A registered one-shard, 4-d, dot-product index."""
    return registry.create(
        r, f"p-{uuid.uuid4().hex[:10]}", dimension=4, shards=1, metric="dot", key=generate_key()
    )


def store(r: redis.Redis, batch: Batch, job: str) -> dict[str, object]:
    """Store a batch's blob and ledger entry as the producer does; return its task message."""
    blob = encode(batch)
    ledger.open_job(r, job, batch.index, len(batch), 1)
    pipe = r.pipeline()
    pipe.set(keys.blob(batch.index, batch.seq), blob)
    ref = BatchRef(batch.index, batch.shard, batch.seq, job, len(batch), len(blob))
    ledger.mark_stored(pipe, ref)
    pipe.execute()
    ledger.mark_enqueued(r, job)
    return ref.to_message()


@pytest.fixture
def enqueue(r: redis.Redis, info: IndexInfo) -> Callable[..., dict[str, object]]:
    """Factory: store a batch blob as the producer would and return its task message."""

    def put(ids: list[int], value: float, seq: int, job: str | None = None) -> dict[str, object]:
        vectors = np.full((len(ids), 4), value, dtype=np.float32)
        batch = Batch(info.name, info.uid_bytes, 0, seq, np.array(ids, dtype=np.int64), vectors)
        return store(r, batch, job or uuid.uuid4().hex)

    return put


def stored(ctx: WorkerContext, info: IndexInfo, ids: list[int]) -> dict[int, tuple[float, int]]:
    """id -> (first vector component, stored sequence number)."""
    records = ctx.sink.client.retrieve(keys.collection(info.name, 0), ids, with_vectors=True)
    return {int(p.id): (p.vector[0], p.payload[keys.PAYLOAD_SEQ]) for p in records}


def test_written_batch_settles_and_frees_its_blob(
    ctx: WorkerContext, info: IndexInfo, enqueue: Callable[..., dict[str, object]], r: redis.Redis
) -> None:
    """A batch is written, its job counts it once, its blob and in-flight bytes are released."""
    message = enqueue([1, 2, 3], 1.0, seq=1)
    assert process_batch(ctx, message) == "written"
    state = ledger.read(r, str(message["job"]))
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
    state = ledger.read(r, str(message["job"]))
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
    (failure,) = ledger.failures(r, str(message["job"]))
    assert "checksum" in failure.reason
    assert r.get(keys.blob(info.name, 1)) is None
    assert r.get(keys.dlq_blob(info.name, 1)) == bytes(raw)
    assert r.ttl(keys.dlq_blob(info.name, 1)) == -1  # kept as long as its dead letter
    (letter,) = [d for d in dlq.entries(r, index=info.name)]
    assert letter.seq == 1 and "checksum" in letter.reason and letter.job == message["job"]


def test_message_pointing_at_another_batch_is_rejected(
    ctx: WorkerContext, enqueue: Callable[..., dict[str, object]], r: redis.Redis
) -> None:
    """A message whose shard or size disagrees with the blob header is not written."""
    message = dict(enqueue([1, 2], 1.0, seq=1), n=3)
    assert process_batch(ctx, message) == "failed"
    assert "message names" in ledger.failures(r, str(message["job"]))[0].reason


def test_batch_of_deleted_index_fails(
    ctx: WorkerContext, info: IndexInfo, enqueue: Callable[..., dict[str, object]], r: redis.Redis
) -> None:
    """A batch whose index was deleted after enqueue is failed, not written."""
    message = enqueue([1], 1.0, seq=1)
    registry.delete(r, info.name)
    assert process_batch(ctx, message) == "failed"
    assert "does not exist" in ledger.failures(r, str(message["job"]))[0].reason


def test_worker_revalidates_dimension(ctx: WorkerContext, r: redis.Redis, info: IndexInfo) -> None:
    """A blob whose vectors do not match the registry's dimension is rejected by the worker."""
    job = uuid.uuid4().hex
    batch = Batch(info.name, info.uid_bytes, 0, 1, np.array([1]), np.zeros((1, 5), np.float32))
    assert process_batch(ctx, store(r, batch, job)) == "failed"
    assert "5 dimensions" in ledger.failures(r, job)[0].reason


def test_ids_of_another_shard_are_rejected(ctx: WorkerContext, r: redis.Redis) -> None:
    """A batch claiming shard 0 while holding ids of shard 1 is not written."""
    info = registry.create(
        r, f"s-{uuid.uuid4().hex[:8]}", dimension=2, shards=2, metric="dot", key=generate_key()
    )
    ids = np.arange(50)
    wrong = ids[shard_of(ids, 2) == 1][:3]
    job = uuid.uuid4().hex
    batch = Batch(info.name, info.uid_bytes, 0, 1, wrong, np.ones((3, 2), np.float32))
    assert process_batch(ctx, store(r, batch, job)) == "failed"
    assert "shard 0" in ledger.failures(r, job)[0].reason


def test_transient_errors_are_retried_then_written(
    ctx: WorkerContext,
    info: IndexInfo,
    enqueue: Callable[..., dict[str, object]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A connection failure and a 503, of the real client types, are retried; the write lands."""
    real_upsert = ctx.sink.client.upsert
    errors: list[Exception] = [
        ResponseHandlingException(ConnectionError("connection refused")),
        UnexpectedResponse(503, "Service Unavailable", b"", Headers()),
    ]

    def flaky(*args: object, **kwargs: object) -> object:
        if errors:
            raise errors.pop(0)
        return real_upsert(*args, **kwargs)

    monkeypatch.setattr(ctx.sink.client, "upsert", flaky, raising=False)
    message = enqueue([1], 2.0, seq=1)
    assert process_batch(ctx, message) == "written"
    assert errors == []
    assert stored(ctx, info, [1]) == {1: (2.0, 1)}


def test_permanent_error_is_not_retried(
    ctx: WorkerContext,
    info: IndexInfo,
    enqueue: Callable[..., dict[str, object]],
    monkeypatch: pytest.MonkeyPatch,
    r: redis.Redis,
) -> None:
    """A 403 from Qdrant dead-letters the batch after one attempt, with the status in the reason."""
    calls = []

    def reject(*args: object, **kwargs: object) -> object:
        calls.append(1)
        raise UnexpectedResponse(403, "Forbidden", b"{}", Headers())

    monkeypatch.setattr(ctx.sink.client, "upsert", reject, raising=False)
    message = enqueue([1, 2], 2.0, seq=1)
    assert process_batch(ctx, message) == "failed"
    assert calls == [1]  # neither retried nor split: a 403 is about the request, not the points
    (failure,) = ledger.failures(r, str(message["job"]))
    assert failure.ids == (1, 2) and "403" in failure.reason
    assert [d.ids for d in dlq.entries(r, index=info.name)] == [[1, 2]]


def test_poison_points_are_isolated_and_the_rest_written(
    ctx: WorkerContext,
    info: IndexInfo,
    enqueue: Callable[..., dict[str, object]],
    monkeypatch: pytest.MonkeyPatch,
    r: redis.Redis,
) -> None:
    """A 400 caused by two points splits the batch: 98 are written, the two go to the DLQ."""
    real_upsert = ctx.sink.client.upsert
    poison = {13, 77}

    def picky(collection: str, points: models.Batch, **kwargs: object) -> object:
        if poison & set(points.ids):
            raise UnexpectedResponse(400, "Bad Request", b'{"status":"bad"}', Headers())
        return real_upsert(collection, points, **kwargs)

    monkeypatch.setattr(ctx.sink.client, "upsert", picky, raising=False)
    message = enqueue(list(range(100)), 3.0, seq=1)
    assert process_batch(ctx, message) == "partial"
    state = ledger.read(r, str(message["job"]))
    assert state is not None and (state.written, state.failed, state.status) == (98, 2, "failed")
    assert sorted(stored(ctx, info, list(range(100)))) == sorted(set(range(100)) - poison)
    (letter,) = dlq.entries(r, index=info.name)
    assert sorted(letter.ids) == [13, 77] and letter.n == 2
    kept = decode(r.get(keys.dlq_blob(info.name, 1)) or b"")
    assert sorted(kept.ids.tolist()) == [13, 77] and kept.seq == 1
    assert all("400" in f.reason for f in letter.failures)


def test_collection_deleted_under_the_worker_is_recreated_once(
    ctx: WorkerContext, info: IndexInfo, enqueue: Callable[..., dict[str, object]]
) -> None:
    """If the collection vanishes while the index still exists, the worker re-creates it."""
    assert process_batch(ctx, enqueue([1], 1.0, seq=1)) == "written"
    ctx.sink.client.delete_collection(keys.collection(info.name, 0))
    assert process_batch(ctx, enqueue([2], 2.0, seq=2)) == "written"
    assert stored(ctx, info, [1, 2]) == {2: (2.0, 2)}


def _always(exc: Exception) -> Callable[..., object]:
    def fail(*args: object, **kwargs: object) -> object:
        raise exc

    return fail


def test_outage_beyond_the_task_budget_asks_for_a_celery_retry(
    ctx: WorkerContext,
    info: IndexInfo,
    enqueue: Callable[..., dict[str, object]],
    monkeypatch: pytest.MonkeyPatch,
    r: redis.Redis,
) -> None:
    """A 503 outlasting the in-task retries raises RetryLater; the batch stays pending."""
    ctx.sink.retry_seconds = 0.2
    outage = UnexpectedResponse(503, "Service Unavailable", b"", Headers())
    monkeypatch.setattr(ctx.sink.client, "upsert", _always(outage), raising=False)
    message = enqueue([1], 2.0, seq=1)
    with pytest.raises(RetryLater) as caught:
        process_batch(ctx, message, retries=0)
    assert 0 < caught.value.countdown <= ctx.settings.task_retry_backoff
    state = ledger.read(r, str(message["job"]))
    assert state is not None and (state.retries, state.settled) == (1, 0)
    assert r.exists(keys.blob(info.name, 1)) and dlq.entries(r, index=info.name) == []


def test_outage_after_the_last_celery_retry_dead_letters(
    ctx: WorkerContext,
    info: IndexInfo,
    enqueue: Callable[..., dict[str, object]],
    monkeypatch: pytest.MonkeyPatch,
    r: redis.Redis,
) -> None:
    """On the delivery that used up task_retries, a transient error goes to the DLQ instead."""
    ctx.sink.retry_seconds = 0.2
    outage = ResponseHandlingException(ConnectionError("connection refused"))
    monkeypatch.setattr(ctx.sink.client, "upsert", _always(outage), raising=False)
    message = enqueue([1, 2], 2.0, seq=1)
    assert process_batch(ctx, message, retries=ctx.settings.task_retries) == "failed"
    (letter,) = dlq.entries(r, index=info.name)
    assert "unavailable" in letter.reason and letter.ids == [1, 2] and letter.n == 2


def test_a_validation_failure_wrapped_by_the_client_is_not_retried(
    ctx: WorkerContext,
    enqueue: Callable[..., dict[str, object]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """ResponseHandlingException around a parse error is permanent: one call, then the DLQ."""
    calls = []
    with pytest.raises(pydantic.ValidationError) as caught:
        models.Batch(ids=[["not", "an", "id"]], vectors=[[1.0]])  # type: ignore[list-item]
    parse_error = caught.value

    def broken(*args: object, **kwargs: object) -> object:
        calls.append(1)
        raise ResponseHandlingException(parse_error)

    monkeypatch.setattr(ctx.sink.client, "upsert", broken, raising=False)
    assert process_batch(ctx, enqueue([1], 2.0, seq=1)) == "failed"
    assert calls == [1]


def test_a_batch_delivered_too_often_is_dead_lettered(
    ctx: WorkerContext, info: IndexInfo, enqueue: Callable[..., dict[str, object]], r: redis.Redis
) -> None:
    """A batch seen more than max_deliveries times (it kills its workers) goes to the DLQ."""
    message = enqueue([1], 2.0, seq=1)
    for _ in range(ctx.max_deliveries):  # deliveries whose worker died before settling
        ledger.delivered(r, BatchRef.from_message(message))
    assert process_batch(ctx, message) == "failed"
    (letter,) = dlq.entries(r, index=info.name)
    assert letter.attempts == ctx.max_deliveries + 1 and "delivered" in letter.reason
    assert not ctx.sink.client.collection_exists(keys.collection(info.name, 0))  # never written


def test_malformed_message_is_dead_lettered(ctx: WorkerContext, r: redis.Redis) -> None:
    """A task argument that is not a batch reference is kept in the DLQ, not dropped."""
    before = dlq.depth(r)
    assert process_batch(ctx, {"v": 1, "index": "x"}) == "rejected"
    assert dlq.depth(r) == before + 1
    letter = dlq.entries(r)[-1]
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
        other.name, other.uid_bytes, 0, 7, np.array([5, 6]), np.ones((2, 4), np.float32)
    )
    r.set(keys.blob(info.name, 7), encode(foreign))
    assert process_batch(ctx, message) == "failed"
    (letter,) = dlq.entries(r, index=info.name)
    assert other.name in letter.reason and "message names" in letter.reason
    assert not ctx.sink.client.collection_exists(keys.collection(other.name, 0))


def test_soft_time_limit_puts_the_batch_back_instead_of_dead_lettering(
    ctx: WorkerContext,
    info: IndexInfo,
    enqueue: Callable[..., dict[str, object]],
    monkeypatch: pytest.MonkeyPatch,
    r: redis.Redis,
) -> None:
    """A write interrupted by the task's soft time limit propagates; nothing is settled."""
    monkeypatch.setattr(ctx.sink.client, "upsert", _always(SoftTimeLimitExceeded()), raising=False)
    message = enqueue([1, 2], 2.0, seq=1)
    with pytest.raises(SoftTimeLimitExceeded):
        process_batch(ctx, message)
    assert ledger.batch_state(r, str(message["job"]), 1) == "stored"
    assert dlq.entries(r, index=info.name) == []


def test_process_batches_coalesces_and_settles_each_batch(
    ctx: WorkerContext,
    info: IndexInfo,
    enqueue: Callable[..., dict[str, object]],
    r: redis.Redis,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Three small batches of one shard: one Qdrant request, three settled jobs, newest wins."""
    calls: list[int] = []
    real_upsert = ctx.sink.client.upsert

    def counting(collection: str, points: models.Batch, **kwargs: object) -> object:
        calls.append(len(points.ids))
        return real_upsert(collection, points, **kwargs)

    monkeypatch.setattr(ctx.sink.client, "upsert", counting, raising=False)
    messages = [enqueue([1, 2], 1.0, seq=1), enqueue([2, 3], 2.0, seq=2), enqueue([4], 3.0, seq=3)]
    assert process_batches(ctx, messages, [0, 0, 0]) == ["written"] * 3
    assert calls == [4]
    assert stored(ctx, info, [1, 2, 3, 4]) == {1: (1.0, 1), 2: (2.0, 2), 3: (2.0, 2), 4: (3.0, 3)}
    for message in messages:
        state = ledger.read(r, str(message["job"]))
        assert state is not None and state.status == "done"
    assert process_batches(ctx, messages, [0, 0, 0]) == ["duplicate"] * 3


def test_process_batches_falls_back_to_one_by_one_and_isolates_bad_messages(
    ctx: WorkerContext,
    info: IndexInfo,
    enqueue: Callable[..., dict[str, object]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A malformed message is dead-lettered alone; a rejected coalesced write is split per batch."""
    real_upsert = ctx.sink.client.upsert

    def picky(collection: str, points: models.Batch, **kwargs: object) -> object:
        if 13 in set(points.ids):  # type: ignore[arg-type]
            raise UnexpectedResponse(400, "Bad Request", b'{"status":"bad"}', Headers())
        return real_upsert(collection, points, **kwargs)

    monkeypatch.setattr(ctx.sink.client, "upsert", picky, raising=False)
    good, poisoned = enqueue([1, 2], 1.0, seq=1), enqueue([13, 14], 2.0, seq=2)
    results = process_batches(ctx, [good, {"not": "a batch"}, poisoned], [0, 0, 0])
    assert results == ["written", "rejected", "partial"]
    assert sorted(stored(ctx, info, [1, 2, 13, 14])) == [1, 2, 14]
