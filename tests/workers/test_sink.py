"""The sink on real engines (Edge, local mode): request splitting and coalesced writes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from qdrant_client import QdrantClient

from tests.support.engines import WITH_SERVER
from vecq.shared import keys
from vecq.shared.config.settings import Settings
from vecq.shared.engines import Engine, Write, open_engine
from vecq.shared.engines.edge import MAX_REQUEST_POINTS, REQUEST_FLOATS, EdgeEngine
from vecq.shared.engines.server import LOCAL_REQUEST_POINTS, MAX_REQUEST_BYTES, ServerEngine
from vecq.shared.state.registry import IndexInfo
from vecq.shared.wire.codec import Batch
from vecq.workers.sink import QdrantSink

pytestmark = pytest.mark.engines(*WITH_SERVER)

INFO = IndexInfo(
    name="sink",
    uid="0" * 32,
    dimension=4,
    shards=1,
    metric="dot",
    key_check="",
    shard_function=keys.SHARD_FUNCTION,
    created_at=0.0,
)


@pytest.fixture
def sink(engine: str, tmp_path: Path) -> Iterator[QdrantSink]:
    """A sink on a fresh ``engine``: Edge in tmp_path, or local mode in memory."""
    where = {"qdrant_path": ":memory:"} if engine == "local" else {"data_dir": str(tmp_path)}
    opened = open_engine(Settings(**where))
    yield QdrantSink(opened)
    opened.close()


def _batch(seq: int, ids: list[int], value: float, dim: int = 4) -> Batch:
    vectors = np.full((len(ids), dim), value, dtype=np.float32)
    return Batch(
        np.array(ids, dtype=np.int64),
        vectors,
        index="sink",
        index_uid=INFO.uid_bytes,
        shard=0,
        seq=seq,
    )


def _stored(engine: Engine, ids: list[int]) -> dict[int, tuple[int, float]]:
    return {
        int(p.id): (p.payload[keys.PAYLOAD_SEQ], p.vector[0]) for p in engine.retrieve(INFO, ids)
    }


def edge_points(dimension: int) -> int:
    """Points per request Edge takes for vectors of ``dimension``."""
    return EdgeEngine("unused").request_points(dimension, 0)


def _count_writes(sink: QdrantSink, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Record the number of points of every write request from now on."""
    calls: list[int] = []
    real = sink.engine.write

    def counting(info: IndexInfo, request: Write) -> None:
        calls.append(len(request))
        real(info, request)

    monkeypatch.setattr(sink.engine, "write", counting)
    return calls


def test_coalesced_write_applies_each_batch_own_condition(
    sink: QdrantSink, monkeypatch: pytest.MonkeyPatch
) -> None:
    """write_many keeps newer stored points, takes each id from its newest batch, adds new ones."""
    sink.write(INFO, _batch(10, [1], 10.0))
    sink.write(INFO, _batch(3, [2], 3.0))
    calls = _count_writes(sink, monkeypatch)
    sink.write_many(
        INFO,
        [
            _batch(5, [1, 2, 5], 5.0),
            _batch(12, [1], 12.0),
            _batch(7, [2, 6], 7.0),
            _batch(4, [1, 9], 4.0),
        ],
    )
    assert calls == [5]  # one request for four batches: eight points, five distinct ids
    assert _stored(sink.engine, [1, 2, 5, 6, 9]) == {
        1: (12, 12.0),  # the newest batch's point replaced the stored seq 10
        2: (7, 7.0),  # seq 7 beats seq 5 within the call, and the stored seq 3
        5: (5, 5.0),
        6: (7, 7.0),
        9: (4, 4.0),
    }


def test_coalesced_write_leaves_points_newer_than_every_batch(sink: QdrantSink) -> None:
    """A stored point newer than the coalesced batches that name it stays as it is."""
    sink.write(INFO, _batch(50, [1, 2], 50.0))
    sink.write_many(INFO, [_batch(20, [1], 20.0), _batch(30, [2, 3], 30.0)])
    assert _stored(sink.engine, [1, 2, 3]) == {1: (50, 50.0), 2: (50, 50.0), 3: (30, 30.0)}


def test_a_large_batch_goes_in_requests_of_the_engines_size(
    sink: QdrantSink, monkeypatch: pytest.MonkeyPatch, engine: str
) -> None:
    """Local mode takes LOCAL_REQUEST_POINTS a request; Edge REQUEST_FLOATS (at most 4,096)."""
    step = sink.request_points(_batch(1, [1], 1.0))
    assert step == (LOCAL_REQUEST_POINTS if engine == "local" else MAX_REQUEST_POINTS)
    assert edge_points(768) == REQUEST_FLOATS // 768 == 64
    calls = _count_writes(sink, monkeypatch)
    n = 3 * step + 5
    sink.write(INFO, _batch(1, list(range(n)), 1.0))
    assert calls == [step] * 3 + [5]
    assert sink.engine.count(INFO) == n


@pytest.mark.engines("local")
@pytest.mark.parametrize(("grpc", "at_least"), [(False, 500), (True, 2000)])
def test_server_requests_stay_far_below_qdrants_32_mib_limit(grpc: bool, at_least: int) -> None:
    """A server gets as many 768-d points per request as fit MAX_REQUEST_BYTES encoded."""
    client = QdrantClient(location=":memory:")
    engine = ServerEngine(client, "server", grpc=grpc)
    engine.max_points = 100_000  # no cap on points: the byte bound alone
    server = QdrantSink(engine)
    points = server.request_points(_batch(1, list(range(4096)), 0.5, 768))
    per_float = 5 if grpc else 20
    assert at_least <= points
    assert points * 768 * per_float <= MAX_REQUEST_BYTES <= 32 * 2**20 / 4
    client.close()


@pytest.mark.engines("local")
def test_server_requests_hold_at_most_request_points() -> None:
    """Settings.request_points caps a server's requests, so a batch goes as several at once."""
    client = QdrantClient(location=":memory:")
    server = QdrantSink(ServerEngine(client, "server", grpc=True))
    assert server.request_points(_batch(1, list(range(4096)), 0.5, 768)) == 512
    assert server.request_points(_batch(1, list(range(4096)), 0.5, 8)) == 512
    client.close()


@pytest.mark.engines("local")
def test_server_requests_shrink_for_large_items() -> None:
    """With 1 MiB items a request carries only a handful of points."""
    client = QdrantClient(location=":memory:")
    server = QdrantSink(ServerEngine(client, "server"))
    batch = _batch(1, list(range(100)), 0.5)
    batch = Batch(
        batch.ids,
        batch.vectors,
        [b"x" * 2**20] * 100,
        index=batch.index,
        index_uid=batch.index_uid,
        shard=0,
        seq=1,
    )
    assert server.request_points(batch) == 5
    client.close()
