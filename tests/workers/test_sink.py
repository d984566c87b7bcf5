"""The Qdrant sink on real local-mode Qdrant: request splitting and coalesced writes."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from qdrant_client import QdrantClient, models

from shared import keys
from shared.codec import Batch
from shared.registry import IndexInfo
from workers.sink import LOCAL_REQUEST_POINTS, MAX_REQUEST_BYTES, QdrantSink

INFO = IndexInfo(name="sink", uid="0" * 32, dimension=4, shards=1, metric="dot",
                 key_check="", shard_function=keys.SHARD_FUNCTION, created_at=0.0)  # fmt: skip


@pytest.fixture
def qdrant() -> Iterator[QdrantClient]:
    """A fresh in-memory Qdrant."""
    client = QdrantClient(location=":memory:")
    yield client
    client.close()


def _batch(seq: int, ids: list[int], value: float, dim: int = 4) -> Batch:
    vectors = np.full((len(ids), dim), value, dtype=np.float32)
    return Batch("sink", INFO.uid_bytes, 0, seq, np.array(ids, dtype=np.int64), vectors)


def _stored(qdrant: QdrantClient, ids: list[int]) -> dict[int, tuple[int, float]]:
    points = qdrant.retrieve(keys.collection("sink", 0), ids, with_vectors=True)
    return {int(p.id): (p.payload[keys.PAYLOAD_SEQ], p.vector[0]) for p in points}  # type: ignore[index]


def test_coalesced_write_applies_each_batch_own_condition(qdrant: QdrantClient) -> None:
    """write_many keeps newer stored points, takes each id from its newest batch, adds new ones."""
    sink = QdrantSink(qdrant, local=True)
    sink.write(INFO, _batch(10, [1], 10.0))
    sink.write(INFO, _batch(3, [2], 3.0))
    calls = _count_upserts(qdrant)
    sink.write_many(
        INFO,
        [_batch(5, [1, 2, 5], 5.0), _batch(12, [1], 12.0), _batch(7, [2, 6], 7.0),
         _batch(4, [1, 9], 4.0)],
    )  # fmt: skip
    assert calls == [5]  # one request for four batches: eight points, five distinct ids
    assert _stored(qdrant, [1, 2, 5, 6, 9]) == {
        1: (12, 12.0),  # the newest batch's point replaced the stored seq 10
        2: (7, 7.0),  # seq 7 beats seq 5 within the call, and the stored seq 3
        5: (5, 5.0),
        6: (7, 7.0),
        9: (4, 4.0),
    }


def test_coalesced_write_leaves_points_newer_than_every_batch(qdrant: QdrantClient) -> None:
    """A stored point newer than the coalesced batches that name it stays as it is."""
    sink = QdrantSink(qdrant, local=True)
    sink.write(INFO, _batch(50, [1, 2], 50.0))
    sink.write_many(INFO, [_batch(20, [1], 20.0), _batch(30, [2, 3], 30.0)])
    assert _stored(qdrant, [1, 2, 3]) == {1: (50, 50.0), 2: (50, 50.0), 3: (30, 30.0)}


def test_local_mode_writes_a_large_batch_in_short_requests(qdrant: QdrantClient) -> None:
    """A batch goes to local mode as requests of LOCAL_REQUEST_POINTS, all of it stored."""
    sink = QdrantSink(qdrant, local=True)
    calls = _count_upserts(qdrant)
    n = 3 * LOCAL_REQUEST_POINTS + 5
    sink.write(INFO, _batch(1, list(range(n)), 1.0))
    assert calls == [LOCAL_REQUEST_POINTS] * 3 + [5]
    assert qdrant.count(keys.collection("sink", 0)).count == n


@pytest.mark.parametrize(("grpc", "at_least"), [(False, 500), (True, 2000)])
def test_server_requests_stay_far_below_qdrants_32_mib_limit(
    qdrant: QdrantClient, grpc: bool, at_least: int
) -> None:
    """A server gets as many 768-d points per request as fit MAX_REQUEST_BYTES encoded."""
    sink = QdrantSink(qdrant, local=False, grpc=grpc)
    points = sink.request_points(_batch(1, list(range(4096)), 0.5, 768))
    per_float = 5 if grpc else 20
    assert at_least <= points
    assert points * 768 * per_float <= MAX_REQUEST_BYTES <= 32 * 2**20 / 4


def test_server_requests_shrink_for_large_items(qdrant: QdrantClient) -> None:
    """With 1 MiB items a request carries only a handful of points."""
    sink = QdrantSink(qdrant, local=False)
    batch = _batch(1, list(range(100)), 0.5)
    batch = Batch(
        batch.index, batch.index_uid, 0, 1, batch.ids, batch.vectors, [b"x" * 2**20] * 100
    )
    assert sink.request_points(batch) == 5


def _count_upserts(qdrant: QdrantClient) -> list[int]:
    """Record the number of points of every upsert request from now on."""
    calls: list[int] = []
    real = qdrant.upsert

    def counting(collection: str, points: models.Batch, **kwargs: Any) -> Any:
        calls.append(len(points.ids))
        return real(collection, points, **kwargs)

    qdrant.upsert = counting  # type: ignore[method-assign]
    return calls
