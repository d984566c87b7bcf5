"""Qdrant failing under a running pipeline: outages, rejected points, stale and double delivery.

The in-process worker's real Qdrant client is wrapped so that ``upsert`` raises
qdrant-client's own exception types while a fault is switched on.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from tests.support.clients import worker_client
from tests.support.engines import ENGINES, held_points
from tests.support.qdrant_faults import FlakyEdge, FlakyQdrant
from tests.support.tracked import DIM, Tracked
from vecq import Client, Index, UpsertError, UpsertJob
from vecq.api import producer as producing
from vecq.shared import keys
from vecq.shared.points.validation import from_arrays
from vecq.shared.state import deadletters, job_state
from vecq.shared.wire.messages import BatchRef

pytestmark = [pytest.mark.fault, pytest.mark.timeout(120), pytest.mark.engines(*ENGINES)]


@pytest.fixture(scope="module")
def client(redis_url: str, engine: str) -> Iterator[Client]:
    """An in-process worker with short retry budgets, so outages reach Celery retries fast."""
    with worker_client(
        redis_url,
        engine,
        stall_timeout=30.0,
        retry_seconds=0.5,
        task_retries=4,
        task_retry_backoff=0.5,
        task_time_limit=5,
        visibility_timeout=6,  # the reaper republishes lost batches after 12 s
    ) as c:
        yield c


@pytest.fixture
def index(client: Client) -> Index:
    """A fresh 2-shard dot-product index."""
    name = f"f-{uuid.uuid4().hex[:10]}"
    return client.create_index(
        name, index_key=client.generate_key(), dimension=DIM, shards=2, metric="dot"
    )


def vectors(n: int, tag: float) -> np.ndarray:
    """Random vectors whose first component is ``tag``."""
    out = np.random.default_rng(int(tag)).standard_normal((n, DIM), dtype=np.float32)
    out[:, 0] = tag
    return out


def first_components(index: Index, ids: list[int]) -> dict[int, float]:
    """id -> first vector component as stored."""
    return {p["id"]: float(p["vector"][0]) for p in index.get(ids)}


@pytest.mark.engines("local")  # Edge runs in this process: it has no outages
def test_qdrant_outage_is_ridden_out_by_retries(
    client: Client, index: Index, flaky: FlakyQdrant
) -> None:
    """Qdrant down for longer than the in-task budget: Celery retries carry every batch through."""
    tracked = Tracked(index)
    rng = np.random.default_rng(3)
    flaky.down.set()
    timer = threading.Timer(3.0, flaky.down.clear)  # several in-task budgets long
    timer.start()
    for _ in range(4):
        tracked.upsert(rng.choice(3_000, size=800, replace=False).astype(np.int64))
    jobs = [job for _, job, _ in tracked.pending]
    tracked.settle_all(timeout=90)
    timer.join()
    report = tracked.history.check(held_points(client.engine, index.info))
    assert report.ok, report.summary()
    assert sum(job.state().retries for job in jobs) > 0  # the outage reached Celery retries
    assert deadletters.entries(client.redis, index=index.name) == []


def test_permanent_400_goes_to_the_dlq_then_replays_after_the_fix(
    client: Client, index: Index, flaky: FlakyQdrant | FlakyEdge
) -> None:
    """Rejected points are isolated into the DLQ; the rest land; a replay after the fix lands."""
    ids = np.arange(500, dtype=np.int64)
    flaky.poison = {42, 314}
    with pytest.raises(UpsertError) as caught:
        index.upsert(ids, vectors(500, 1.0))
    assert sorted(caught.value.failed_ids) == [42, 314]
    assert len(first_components(index, ids.tolist())) == 498
    (letter,) = deadletters.entries(client.redis, index=index.name)
    reason = letter.failures[0].reason
    assert sorted(letter.ids) == [42, 314] and ("400" in reason or "dimension" in reason)
    flaky.poison = set()  # the cause is fixed
    job_id = deadletters.replay(client.redis, client.publisher.publish, letter.entry_id)
    assert job_state.read(client.redis, job_id) is not None
    UpsertJob(client.redis, job_id, index.name, 2, 30).wait(30)
    assert first_components(index, [42, 314]) == {42: 1.0, 314: 1.0}
    assert deadletters.entries(client.redis, index=index.name) == []
    assert not client.redis.exists(keys.dlq_blob(index.name, letter.seq))


def test_replaying_an_old_batch_never_overwrites_a_newer_write(
    client: Client, index: Index, flaky: FlakyQdrant | FlakyEdge
) -> None:
    """v1 dead-lettered, v2 written, v1 replayed: v2 stays (ordering holds across replay)."""
    ids = np.arange(20, dtype=np.int64)
    flaky.poison = set(range(20))
    with pytest.raises(UpsertError):
        index.upsert(ids, vectors(20, 1.0))  # v1
    flaky.poison = set()
    index.upsert(ids, vectors(20, 2.0))  # v2
    for letter in deadletters.entries(client.redis, index=index.name):
        job_id = deadletters.replay(client.redis, client.publisher.publish, letter.entry_id)
        UpsertJob(client.redis, job_id, index.name, 0, 30).wait(30)
    assert set(first_components(index, ids.tolist()).values()) == {2.0}


class TwicePublisher:
    """Publishes every batch reference twice: the broker delivered a message two times."""

    def __init__(self, real: Any) -> None:
        self.real = real

    def publish(self, ref: BatchRef, queue: str = keys.QUEUE_BULK) -> None:
        self.real.publish(ref, queue)
        self.real.publish(ref, queue)

    def close(self) -> None:
        pass


def test_duplicate_delivery_writes_and_counts_once(client: Client, index: Index) -> None:
    """Each batch delivered twice: the ledger counts it once and the points are right."""
    ids = np.arange(3_000, dtype=np.int64)
    points = from_arrays(ids, vectors(3_000, 7.0), DIM)
    job_id = producing.enqueue(
        client.redis, TwicePublisher(client.publisher), index.info, points, client.settings
    )
    UpsertJob(client.redis, job_id, index.name, 3_000, 30).wait(30)
    state = job_state.read(client.redis, job_id)
    assert state is not None
    assert (state.written, state.failed, state.settled) == (3_000, 0, state.batches)
    assert index.count() == 3_000
    assert set(first_components(index, [0, 1_500, 2_999]).values()) == {7.0}
    assert job_state.inflight(client.redis, index.name) == 0


class LosingPublisher:
    """Reports success but drops the first message: a broker that lost it."""

    def __init__(self, real: Any) -> None:
        self.real = real
        self.dropped: list[BatchRef] = []

    def publish(self, ref: BatchRef, queue: str = keys.QUEUE_BULK) -> None:
        if not self.dropped:
            self.dropped.append(ref)
            return
        self.real.publish(ref, queue)

    def close(self) -> None:
        pass


def test_a_lost_message_is_published_again_by_the_reaper(client: Client, index: Index) -> None:
    """A batch whose message vanished is found in the ledger's pending set and written."""
    points = from_arrays(np.arange(2_000), vectors(2_000, 5.0), DIM)
    losing = LosingPublisher(client.publisher)
    job_id = producing.enqueue(client.redis, losing, index.info, points, client.settings)
    (lost,) = losing.dropped
    UpsertJob(client.redis, job_id, index.name, 2_000, 30).wait(40)
    assert index.count() == 2_000
    assert job_state.batch_state(client.redis, job_id, lost.seq) == "done"
