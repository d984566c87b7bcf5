"""Deletes and metadata updates in call order, whatever order their batches arrive in.

A producer-only client enqueues real calls; the test takes their messages off the real Redis
broker and hands them to the worker pipeline in the order it wants, on both engines.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import redis

from api import Client, Index, UpsertError
from shared import ids as idrules
from shared import keys, marks
from shared.messages import BatchRef
from shared.settings import Settings
from tests.support import broker
from tests.support.engines import ENGINES, held_points
from tests.support.workers import Deliver
from workers.context import WorkerContext

pytestmark = [pytest.mark.integration, pytest.mark.engines(*ENGINES)]


def vectors(n: int, value: float) -> np.ndarray:
    return np.full((n, 4), value, dtype=np.float32)


def stored(index: Index) -> dict[Any, tuple[float, dict[str, Any]]]:
    """caller id -> (first vector component, metadata), read through the engine's own API."""
    out = {}
    for point_id, vector, payload in held_points(index.client.engine, index.info):
        caller = payload.get(keys.PAYLOAD_ID, point_id)
        meta = {k: v for k, v in payload.items() if not k.startswith(keys.RESERVED_PREFIX)}
        out[caller] = (vector[0], meta)
    return out


def test_an_older_upsert_arriving_after_a_delete_stays_deleted(
    index: Index, r: redis.Redis, deliver: Deliver
) -> None:
    """upsert, delete; the delete arrives first: the late upsert must not bring the ids back."""
    index.upsert([1, 2, "doc"], vectors(3, 1.0), wait=False)
    index.delete([1, "doc"], wait=False)
    upsert, delete = broker.take(r)
    assert deliver(delete) == "written"
    assert deliver(upsert) == "written"
    assert stored(index) == {2: (1.0, {})}
    index.upsert([1], vectors(1, 2.0), wait=False)  # a newer upsert stores it again
    (again,) = broker.take(r)
    assert deliver(again) == "written"
    assert stored(index) == {1: (2.0, {}), 2: (1.0, {})}


def test_a_delete_arriving_late_leaves_a_newer_upsert(
    index: Index, r: redis.Redis, deliver: Deliver
) -> None:
    """upsert A, delete, upsert B; delivered B, A, then the delete: B stays, as in call order."""
    index.upsert([1, 2], vectors(2, 1.0), wait=False)
    index.delete([1, 2], wait=False)
    index.upsert([1], vectors(1, 3.0), wait=False)
    first, delete, last = broker.take(r)
    for message in (last, first, delete):
        assert deliver(message) == "written"
    assert stored(index) == {1: (3.0, {})}


def test_updates_applied_out_of_order_end_in_call_order(
    index: Index, r: redis.Redis, deliver: Deliver
) -> None:
    """Two updates of one point delivered newest first: keys end as the later call set them."""
    index.upsert([{"id": "a", "vector": [1.0] * 4, "metadata": {"keep": 0, "x": 0}}], wait=False)
    index.update_metadata([{"id": "a", "metadata": {"x": 1, "y": 1}}], wait=False)
    index.update_metadata([{"id": "a", "metadata": {"x": 2, "keep": None}}], wait=False)
    upsert, older, newer = broker.take(r)
    assert deliver(upsert) == "written"
    assert deliver(newer) == "written"
    assert deliver(older) == "written"
    assert stored(index) == {"a": (1.0, {"x": 2, "y": 1})}


def test_an_update_before_its_upsert_waits_and_is_merged_in(
    index: Index, r: redis.Redis, deliver: Deliver
) -> None:
    """The update of a point whose upsert is still queued waits; the upsert carries the keys."""
    index.upsert([7], vectors(1, 1.0), metadata=[{"lang": "en", "n": 1}], wait=False)
    job = index.update_metadata([(7, {"lang": "fr"})], wait=False)
    upsert, update = broker.take(r)
    assert deliver(update) == "deferred"  # id 7 may be in the older batch still in flight
    assert deliver(upsert) == "written"
    assert stored(index) == {7: (1.0, {"lang": "fr", "n": 1})}
    assert deliver(update) == "written"
    assert job.wait(5).failures == []
    assert stored(index) == {7: (1.0, {"lang": "fr", "n": 1})}


def test_an_update_of_an_id_never_stored_is_reported_not_created(
    index: Index, r: redis.Redis, deliver: Deliver
) -> None:
    """Ids without a point, once nothing older is in flight: failures name them; none created."""
    index.upsert([1], vectors(1, 1.0), wait=False)
    job = index.update_metadata([(1, {"a": 1}), ("ghost", {"a": 1}), (99, {"a": 1})], wait=False)
    for message in broker.take(r):
        deliver(message)
    with pytest.raises(UpsertError, match="2 of 3 ids could not be updated") as caught:
        job.wait(5)
    assert sorted(map(str, caught.value.failed_ids)) == ["99", "ghost"]
    assert "id not found" in caught.value.failures[0].reason
    assert stored(index) == {1: (1.0, {"a": 1})}


def test_an_update_after_a_delete_reports_the_id_not_found(
    index: Index, r: redis.Redis, deliver: Deliver
) -> None:
    """upsert, delete, update: the update finds the point only because the delete has not
    arrived yet; it waits for it and then reports the id, as in call order."""
    index.upsert([5], vectors(1, 1.0), wait=False)
    index.delete([5], wait=False)
    job = index.update_metadata([(5, {"a": 1})], wait=False)
    upsert, delete, update = broker.take(r)
    assert deliver(upsert) == "written"
    assert deliver(update) == "deferred"
    assert deliver(delete) == "written"
    assert deliver(update) == "failed"
    with pytest.raises(UpsertError):
        job.wait(5)
    assert stored(index) == {}


def test_redelivered_deletes_and_updates_change_nothing(
    index: Index, r: redis.Redis, deliver: Deliver
) -> None:
    """A delete or update delivered twice (blob freed, or racing its own settle) counts once."""
    index.upsert([1, 2], vectors(2, 1.0), wait=False)
    delete_job = index.delete([1], wait=False)
    update_job = index.update_metadata([(2, {"v": 1})], wait=False)
    upsert, delete, update = broker.take(r)
    raw = {m["seq"]: r.get(keys.blob(index.name, m["seq"])) for m in (delete, update)}
    for message in (upsert, delete, update):
        assert deliver(message) == "written"
    for message in (delete, update):
        assert deliver(message) == "duplicate"
        r.set(keys.blob(index.name, message["seq"]), raw[message["seq"]])
        assert deliver(message) == "duplicate"
    assert delete_job.wait(5).progress.written == 1
    assert update_job.wait(5).progress.written == 1
    assert stored(index) == {2: (1.0, {"v": 1})}


def test_string_ids_live_under_their_documented_uuid(
    index: Index, r: redis.Redis, deliver: Deliver
) -> None:
    """A string id's point id is uuid5 of the documented namespace; the payload keeps it."""
    index.upsert([{"id": "doc-42", "vector": [1.0, 2.0, 3.0, 4.0], "item": b"x"}], wait=False)
    for message in broker.take(r):
        deliver(message)
    held = held_points(index.client.engine, index.info)
    assert [str(p[0]) for p in held] == [str(uuid.uuid5(idrules.NAMESPACE, "doc-42"))]
    assert held[0][2][keys.PAYLOAD_ID] == "doc-42"
    (point,) = index.get(["doc-42", "missing"])
    assert (point["id"], point["item"]) == ("doc-42", b"x")


def test_marks_are_reclaimed_once_nothing_older_can_arrive(
    index: Index, r: redis.Redis, deliver: Deliver
) -> None:
    """Tombstones and patches stay while an older batch is in flight, then are reclaimed."""
    index.upsert([1, 2], vectors(2, 1.0), wait=False)
    index.delete([1], wait=False)
    index.update_metadata([(2, {"a": 1})], wait=False)
    upsert, delete, update = broker.take(r)
    assert deliver(delete) == "written"
    assert deliver(update) == "deferred"
    assert marks.held(r, index.name).tombstones == 1
    assert marks.reclaim(r, index.name, after=0) == 0  # notes the watermark
    assert marks.reclaim(r, index.name, after=0) == 0  # the upsert is older and in flight
    assert deliver(upsert) == "written"
    assert deliver(update) == "written"
    marks.reclaim(r, index.name, after=0)  # notes the new watermark
    assert marks.reclaim(r, index.name, after=0) == 2
    held = marks.held(r, index.name)
    assert (held.tombstones, held.patches, held.batches) == (0, 0, 0)
    assert stored(index) == {2: (1.0, {"a": 1})}


def test_marks_wait_for_the_grace_period(index: Index, r: redis.Redis, deliver: Deliver) -> None:
    """A worker may still be writing a batch it fetched before the watermark moved: marks
    outlive the watermark by ``after`` seconds."""
    index.delete([1], wait=False)
    deliver(*broker.take(r))
    marks.reclaim(r, index.name, after=60, now=1000.0)
    assert marks.reclaim(r, index.name, after=60, now=1059.0) == 0
    assert marks.reclaim(r, index.name, after=60, now=1060.0) == 1


def test_a_dead_lettered_older_batch_holds_the_marks(
    index: Index, r: redis.Redis, deliver: Deliver, producer_ctx: WorkerContext
) -> None:
    """A dead letter may be replayed: the deletes after it keep their tombstones, and a replay
    of it leaves the deleted id deleted."""
    from shared import deadletters
    from tests.support.qdrant_faults import poisonable

    index.upsert([1, 2], vectors(2, 1.0), wait=False)
    index.delete([1], wait=False)
    upsert, delete = broker.take(r)
    with poisonable(producer_ctx.sink) as flaky:
        flaky.poison = {1, 2}
        # id 1 is left out (the newer delete wins); Qdrant rejects id 2: a dead letter
        assert deliver(upsert) == "partial"
    assert deliver(delete) == "written"
    marks.reclaim(r, index.name, after=0)
    assert marks.reclaim(r, index.name, after=0) == 0
    assert marks.held(r, index.name).tombstones == 1
    (letter,) = deadletters.entries(r, index=index.name)
    assert letter.ids == [2]
    published: list[BatchRef] = []
    deadletters.replay(r, published.append, letter.entry_id)
    assert deliver(published[0].to_message()) == "written"
    assert stored(index) == {2: (1.0, {})}


def test_an_interrupted_delete_leaves_no_marks_for_what_it_did_not_enqueue(
    producer: Client, index: Index, r: redis.Redis, tmp_path: Path
) -> None:
    """The broker fails after the first batch: the batches never published leave no
    tombstones (an older upsert of those ids must still land)."""
    from api import producer as producer_module
    from shared.errors import BrokerUnavailable
    from shared.validation import deletions

    class FailsAfterOne:
        def __init__(self) -> None:
            self.sent = 0

        def publish(self, ref: Any, queue: str = keys.QUEUE_BULK) -> None:
            if self.sent:
                raise BrokerUnavailable("the broker went away")
            producer.publisher.publish(ref, queue)
            self.sent += 1

        def close(self) -> None:
            pass

    settings = Settings(batch_size=2)
    with pytest.raises(BrokerUnavailable) as caught:
        producer_module.enqueue(producer.redis, FailsAfterOne(), index.info,
                                deletions([1, 2, 3, 4, 5, 6]), settings)  # fmt: skip
    assert sorted(caught.value.enqueued_ids.tolist()) == [1, 2]
    found = marks.lookup(r, index.name, ["1", "2", "3", "4", "5", "6"])
    assert sorted(found) == ["1", "2"]
    assert marks.held(r, index.name).batches == 1


class LandsLate:
    """The real engine, except that its next upsert runs ``before`` first: another call is
    applied while this write is on its way (a slow network, a paused worker)."""

    def __init__(self, real: Any, before: Callable[[], None]) -> None:
        self.real = real
        self.before: Callable[[], None] | None = before

    def write(self, info: Any, request: Any) -> None:
        hook, self.before = self.before, None
        if hook is not None:
            hook()
        self.real.write(info, request)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)


def _landing_late(
    ctx: WorkerContext, deliver: Deliver, message: dict[str, Any], meanwhile: Callable[[], None]
) -> str:
    """Deliver ``message`` with ``meanwhile`` run between its marks check and its write."""
    real = ctx.sink.engine
    ctx.sink.engine = LandsLate(real, meanwhile)
    try:
        return deliver(message)
    finally:
        ctx.sink.engine = real


def test_a_write_landing_after_a_delete_is_undone(
    index: Index, r: redis.Redis, deliver: Deliver, producer_ctx: WorkerContext
) -> None:
    """An upsert checks the marks, then a delete is enqueued and applied, then the upsert's
    write lands: the worker looks again after writing and deletes what it resurrected."""
    index.upsert([1, 2], vectors(2, 1.0), wait=False)
    (upsert,) = broker.take(r)

    def delete_meanwhile() -> None:
        index.delete([1], wait=False)
        (delete,) = broker.take(r)
        assert deliver(delete) == "written"

    assert _landing_late(producer_ctx, deliver, upsert, delete_meanwhile) == "written"
    assert stored(index) == {2: (1.0, {})}


def test_a_write_landing_after_an_update_keeps_the_update(
    index: Index, r: redis.Redis, deliver: Deliver, producer_ctx: WorkerContext
) -> None:
    """upsert v1; upsert v2 is on its way when an update is enqueued and applied to v1: v2's
    write replaces the payload, and the worker merges the update in again after it."""
    index.upsert([1], vectors(1, 1.0), metadata=[{"v": 1}], wait=False)
    assert deliver(*broker.take(r)) == "written"
    index.upsert([1], vectors(1, 2.0), metadata=[{"v": 2}], wait=False)
    (second,) = broker.take(r)

    def update_meanwhile() -> None:
        index.update_metadata([(1, {"tag": "x"})], wait=False)
        (update,) = broker.take(r)
        assert deliver(update) == "written"

    assert _landing_late(producer_ctx, deliver, second, update_meanwhile) == "written"
    assert stored(index) == {1: (2.0, {"v": 2, "tag": "x"})}
