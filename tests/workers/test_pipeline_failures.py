"""process_batch when Qdrant fails: transient errors retried, permanent ones dead-lettered."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import pydantic
import pytest
import redis
from celery.exceptions import SoftTimeLimitExceeded
from httpx import Headers
from qdrant_client import models
from qdrant_client.http.exceptions import ResponseHandlingException, UnexpectedResponse

from tests.support.batches import stored
from tests.support.engines import ENGINES
from vecq.shared import keys
from vecq.shared.state import deadletters, job_state
from vecq.shared.state.registry import IndexInfo
from vecq.shared.wire.codec import decode
from vecq.workers.context import WorkerContext
from vecq.workers.pipeline import RetryLater, process_batch

# Most of these inject qdrant-client's own errors: local mode. Those that make the engine
# itself refuse or lose a collection run on every engine.
pytestmark = pytest.mark.engines("local")


def test_transient_errors_are_retried_then_written(
    ctx: WorkerContext,
    info: IndexInfo,
    enqueue: Callable[..., dict[str, object]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A connection failure and a 503, of the real client types, are retried; the write lands."""
    real_upsert = ctx.sink.engine.client.upsert
    errors: list[Exception] = [
        ResponseHandlingException(ConnectionError("connection refused")),
        UnexpectedResponse(503, "Service Unavailable", b"", Headers()),
    ]

    def flaky(*args: object, **kwargs: object) -> object:
        if errors:
            raise errors.pop(0)
        return real_upsert(*args, **kwargs)

    monkeypatch.setattr(ctx.sink.engine.client, "upsert", flaky, raising=False)
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

    monkeypatch.setattr(ctx.sink.engine.client, "upsert", reject, raising=False)
    message = enqueue([1, 2], 2.0, seq=1)
    assert process_batch(ctx, message) == "failed"
    assert calls == [1]  # neither retried nor split: a 403 is about the request, not the points
    (failure,) = job_state.failures(r, str(message["job"]))
    assert failure.ids == (1, 2) and "403" in failure.reason
    assert [d.ids for d in deadletters.entries(r, index=info.name)] == [[1, 2]]


@pytest.mark.engines(*ENGINES)
def test_poison_points_are_isolated_and_the_rest_written(
    ctx: WorkerContext,
    info: IndexInfo,
    enqueue: Callable[..., dict[str, object]],
    poison: Callable[[set[int]], None],
    r: redis.Redis,
) -> None:
    """Two points the engine rejects split the batch: 98 are written, the two go to the DLQ."""
    poison({13, 77})
    message = enqueue(list(range(100)), 3.0, seq=1)
    assert process_batch(ctx, message) == "partial"
    state = job_state.read(r, str(message["job"]))
    assert state is not None and (state.written, state.failed, state.status) == (98, 2, "failed")
    assert sorted(stored(ctx, info, list(range(100)))) == sorted(set(range(100)) - {13, 77})
    (letter,) = deadletters.entries(r, index=info.name)
    assert sorted(letter.ids) == [13, 77] and letter.n == 2
    kept = decode(r.get(keys.dlq_blob(info.name, 1)) or b"")
    assert sorted(kept.ids.tolist()) == [13, 77] and kept.seq == 1
    assert all("400" in f.reason or "dimension" in f.reason for f in letter.failures)


@pytest.mark.engines(*ENGINES)
def test_collection_deleted_under_the_worker_is_recreated_once(
    ctx: WorkerContext, info: IndexInfo, enqueue: Callable[..., dict[str, object]]
) -> None:
    """If the collection vanishes while the index still exists, the worker re-creates it."""
    assert process_batch(ctx, enqueue([1], 1.0, seq=1)) == "written"
    ctx.sink.engine.drop(info)
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
    monkeypatch.setattr(ctx.sink.engine.client, "upsert", _always(outage), raising=False)
    message = enqueue([1], 2.0, seq=1)
    with pytest.raises(RetryLater) as caught:
        process_batch(ctx, message, retries=0)
    assert 0 < caught.value.countdown <= ctx.settings.task_retry_backoff
    state = job_state.read(r, str(message["job"]))
    assert state is not None and (state.retries, state.settled) == (1, 0)
    assert r.exists(keys.blob(info.name, 1)) and deadletters.entries(r, index=info.name) == []


def test_a_retry_countdown_stays_under_half_the_visibility_timeout(
    ctx: WorkerContext, enqueue: Callable[..., dict[str, object]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A worker holds a message with an ETA unacknowledged until it runs; the Redis transport
    delivers again any message unacknowledged past the visibility timeout. A late retry's
    countdown (which would grow past it) is cut to half of it."""
    ctx.sink.retry_seconds = 0.2
    settings = replace(
        ctx.settings, visibility_timeout=12, task_time_limit=10, task_retry_backoff=30.0
    )
    monkeypatch.setattr(ctx, "settings", settings)
    outage = UnexpectedResponse(503, "Service Unavailable", b"", Headers())
    monkeypatch.setattr(ctx.sink.engine.client, "upsert", _always(outage), raising=False)
    with pytest.raises(RetryLater) as caught:
        process_batch(ctx, enqueue([1], 2.0, seq=1), retries=1)
    assert caught.value.countdown == 6.0


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
    monkeypatch.setattr(ctx.sink.engine.client, "upsert", _always(outage), raising=False)
    message = enqueue([1, 2], 2.0, seq=1)
    assert process_batch(ctx, message, retries=ctx.settings.task_retries) == "failed"
    (letter,) = deadletters.entries(r, index=info.name)
    assert "unavailable" in letter.reason and letter.ids == [1, 2] and letter.n == 2


def test_a_validation_failure_wrapped_by_the_client_is_not_retried(
    ctx: WorkerContext, enqueue: Callable[..., dict[str, object]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """ResponseHandlingException around a parse error is permanent: one call, then the DLQ."""
    calls = []
    with pytest.raises(pydantic.ValidationError) as caught:
        models.Batch(ids=[["not", "an", "id"]], vectors=[[1.0]])  # type: ignore[list-item]
    parse_error = caught.value

    def broken(*args: object, **kwargs: object) -> object:
        calls.append(1)
        raise ResponseHandlingException(parse_error)

    monkeypatch.setattr(ctx.sink.engine.client, "upsert", broken, raising=False)
    assert process_batch(ctx, enqueue([1], 2.0, seq=1)) == "failed"
    assert calls == [1]


def test_soft_time_limit_puts_the_batch_back_instead_of_dead_lettering(
    ctx: WorkerContext,
    info: IndexInfo,
    enqueue: Callable[..., dict[str, object]],
    monkeypatch: pytest.MonkeyPatch,
    r: redis.Redis,
) -> None:
    """A write interrupted by the task's soft time limit propagates; nothing is settled."""
    monkeypatch.setattr(
        ctx.sink.engine.client, "upsert", _always(SoftTimeLimitExceeded()), raising=False
    )
    message = enqueue([1, 2], 2.0, seq=1)
    with pytest.raises(SoftTimeLimitExceeded):
        process_batch(ctx, message)
    assert job_state.batch_state(r, str(message["job"]), 1) == "stored"
    assert deadletters.entries(r, index=info.name) == []
