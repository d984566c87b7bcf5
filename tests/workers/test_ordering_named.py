"""The ordering guarantees with named dense and sparse vectors, on both engines.

The same cases as ``test_ordering.py`` (late batches, deletes, duplicates), for an index
whose points carry a named dense vector, a sparse vector and a multivector: the conditional
update guards every vector of a point at once.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import redis

from tests.support import broker
from tests.support.engines import WITH_SERVER, held_points
from tests.support.workers import Deliver
from vecq import Client, Index, SparseSpec, VectorSpec
from vecq.shared import keys

pytestmark = [pytest.mark.integration, pytest.mark.engines(*WITH_SERVER)]


@pytest.fixture
def index(producer: Client, r: redis.Redis) -> Iterator[Index]:
    broker.take(r)
    made = producer.create_index(
        f"on-{uuid.uuid4().hex[:10]}",
        index_key=producer.generate_key(),
        shards=1,
        vectors={"text": VectorSpec(2, "dot"), "rows": VectorSpec(2, "dot", multivector=True)},
        sparse_vectors={"bm25": SparseSpec()},
    )
    yield made
    broker.take(r)


def point(value: float) -> dict[str, Any]:
    """Vectors that say which call wrote them."""
    return {
        "text": [value, value],
        "rows": [[value, 0.0]] * 2,
        "bm25": {"indices": [int(value)], "values": [value]},
    }


def stored(index: Index) -> dict[Any, Any]:
    """caller id -> (text[0], bm25 index, rows[0][0]) as the engine holds them."""
    out = {}
    for point_id, vector, payload in held_points(index.session.engine, index.info):
        caller = payload.get(keys.PAYLOAD_ID, point_id)
        out[caller] = (vector["text"][0], vector["bm25"][0], vector["rows"][0][0])
    return out


def test_a_late_older_batch_leaves_every_vector_of_the_newer_one(
    index: Index, r: redis.Redis, deliver: Deliver
) -> None:
    index.upsert([{"id": 1, "vector": point(1.0)}, {"id": "a", "vector": point(1.0)}], wait=False)
    index.upsert([{"id": 1, "vector": point(2.0)}], wait=False)
    older, newer = broker.take(r)
    assert deliver(newer) == "written"
    assert deliver(older) == "written"  # inserts "a", skips 1
    assert stored(index) == {1: (2.0, [2], 2.0), "a": (1.0, [1], 1.0)}


def test_an_older_upsert_arriving_after_a_delete_stays_deleted(
    index: Index, r: redis.Redis, deliver: Deliver
) -> None:
    index.upsert([{"id": 1, "vector": point(1.0)}, {"id": 2, "vector": point(1.0)}], wait=False)
    index.delete([1], wait=False)
    upsert, delete = broker.take(r)
    assert deliver(delete) == "written"
    assert deliver(upsert) == "written"
    assert stored(index) == {2: (1.0, [1], 1.0)}


def test_a_redelivered_batch_changes_nothing(
    index: Index, r: redis.Redis, deliver: Deliver
) -> None:
    index.upsert([{"id": 3, "vector": point(1.0)}], wait=False)
    (first,) = broker.take(r)
    blob = r.get(keys.blob(index.name, first["seq"]))
    assert deliver(first) == "written"
    index.upsert([{"id": 3, "vector": point(5.0)}], wait=False)
    (second,) = broker.take(r)
    assert deliver(second) == "written"
    r.set(keys.blob(index.name, first["seq"]), blob)  # the old batch comes back
    assert deliver(first) == "duplicate"
    assert stored(index) == {3: (5.0, [5], 5.0)}
