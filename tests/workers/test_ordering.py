"""Deletes and metadata updates in call order, whatever order their batches arrive in.

A producer-only client enqueues real calls; the test takes their messages off the real Redis
broker and hands them to the worker pipeline in the order it wants, on both engines.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest
import redis

from tests.support import broker
from tests.support.engines import WITH_SERVER, held_points
from tests.support.ordering import stored, vectors
from tests.support.workers import Deliver
from vecq import Index, UpsertError
from vecq.shared import keys
from vecq.shared.points import ids as idrules
from vecq.shared.state import ledger
from vecq.workers.context import WorkerContext

pytestmark = [pytest.mark.integration, pytest.mark.engines(*WITH_SERVER)]


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
    arrived yet; the delete's tombstone says the point is gone in call order, and no older
    upsert can bring it back, so the update reports the id at once, as in call order."""
    index.upsert([5], vectors(1, 1.0), wait=False)
    index.delete([5], wait=False)
    job = index.update_metadata([(5, {"a": 1})], wait=False)
    upsert, delete, update = broker.take(r)
    assert deliver(upsert) == "written"
    assert deliver(update) == "failed"
    with pytest.raises(UpsertError, match="1 of 1 ids could not be updated"):
        job.wait(5)
    assert deliver(delete) == "written"
    assert stored(index) == {}


def test_an_update_waits_for_older_upserts_only(
    index: Index, r: redis.Redis, deliver: Deliver
) -> None:
    """Older deletes and updates in flight never create a point: an update that finds none
    reports it without waiting for them (else each update would queue behind the last)."""
    index.upsert([1], vectors(1, 1.0), wait=False)
    index.delete([1], wait=False)
    index.update_metadata([(8, {"a": 1})], wait=False)
    job = index.update_metadata([(9, {"b": 2})], wait=False)
    upsert, delete, older_update, update = broker.take(r)
    assert deliver(upsert) == "written"
    assert deliver(update) == "failed"  # the delete and the older update are still queued
    with pytest.raises(UpsertError) as caught:
        job.wait(5)
    assert caught.value.failed_ids == [9]
    assert deliver(older_update) == "failed"
    assert deliver(delete) == "written"
    assert stored(index) == {}


def test_an_update_waits_while_an_older_upsert_is_still_being_enqueued(
    index: Index, r: redis.Redis, deliver: Deliver
) -> None:
    """A job still enqueuing counts by its kind: an upsert's numbers may yet create the
    point, a delete's never will."""
    for job_id, op in (("enqueuing-upsert", "upsert"), ("enqueuing-delete", "delete")):
        ledger.open_job(r, job_id, index.name, total=1, batches=1, op=op)
        ledger.reserve(r, index.name, job_id, 1)
    job = index.update_metadata([(3, {"a": 1})], wait=False)
    (update,) = broker.take(r)
    assert deliver(update) == "deferred"  # the upsert job's number is older and still open
    ledger.mark_enqueued(r, "enqueuing-upsert", index.name)
    assert deliver(update) == "failed"  # only the delete job is open: 3 is not found
    with pytest.raises(UpsertError):
        job.wait(5)
    assert stored(index) == {}
    # Left open, the job would be finished by a reaper in a later test (a changed Redis).
    ledger.mark_enqueued(r, "enqueuing-delete", index.name)


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
    held = held_points(index.session.engine, index.info)
    assert [str(p[0]) for p in held] == [str(uuid.uuid5(idrules.NAMESPACE, "doc-42"))]
    assert held[0][2][keys.PAYLOAD_ID] == "doc-42"
    (point,) = index.get(["doc-42", "missing"])
    assert (point["id"], point["item"]) == ("doc-42", b"x")


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
