"""Fleet-wide flow control: sinks paced through one Redis, against a Qdrant that throttles.

The engine is qdrant-client's local mode driven as a server (the server's stand-in), its
client wrapped to refuse writes with the errors a loaded server sends (qdrant-client's
real 429 and ResourceExhaustedResponse, grpc's RESOURCE_EXHAUSTED). Several sinks, each
with its own Redis connection and pacer, stand for workers on several hosts.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest
import redis
from qdrant_client import QdrantClient

from tests.support.qdrant_faults import (
    ThrottledQdrant,
    grpc_exhausted,
    resource_exhausted,
    too_many_requests,
)
from vecq.shared import keys
from vecq.shared.engines.grpc_channel import _with_retry_after
from vecq.shared.engines.priority_lock import Serialized
from vecq.shared.engines.server import ServerEngine
from vecq.shared.state import pace
from vecq.shared.state.registry import IndexInfo
from vecq.shared.wire.codec import Batch
from vecq.workers.pacer import Pacer
from vecq.workers.sink import QdrantSink

pytestmark = pytest.mark.engines("local")


def _info() -> IndexInfo:
    return IndexInfo(
        name=f"paced-{uuid.uuid4().hex[:8]}",
        uid=uuid.uuid4().hex,
        dimension=4,
        shards=1,
        metric="dot",
        key_check="",
        shard_function=keys.SHARD_FUNCTION,
        created_at=0.0,
    )


def _batch(info: IndexInfo, ids: range, seq: int = 1) -> Batch:
    vectors = np.random.default_rng(seq).standard_normal((len(ids), 4), dtype=np.float32)
    return Batch(
        np.array(ids, dtype=np.int64),
        vectors,
        index=info.name,
        index_uid=info.uid_bytes,
        shard=0,
        seq=seq,
    )


@pytest.fixture
def qdrant() -> Iterator[ThrottledQdrant]:
    """Local mode in memory behind one lock (it is not thread-safe), wrapped to throttle."""
    local = QdrantClient(location=":memory:")
    yield ThrottledQdrant(Serialized(local))
    local.close()


@pytest.fixture
def fleet(redis_url: str, qdrant: ThrottledQdrant) -> Iterator[Callable[..., QdrantSink]]:
    """Factory of paced server sinks, each a worker with its own Redis connection."""
    clients: list[redis.Redis] = []
    sinks: list[QdrantSink] = []

    def make(concurrency: int = 2, request_points: int = 64, **policy: Any) -> QdrantSink:
        client = redis.Redis.from_url(redis_url)
        clients.append(client)
        engine = ServerEngine(qdrant, "server")
        engine.max_points = request_points
        pacer = Pacer(client, policy=pace.Aimd(**policy)) if policy else Pacer(client)
        sink = QdrantSink(engine, concurrency=concurrency, pacer=pacer, retry_seconds=30)
        sinks.append(sink)
        return sink

    yield make
    for sink in sinks:
        sink.close()
    for client in clients:
        client.close()


@pytest.mark.parametrize("error", [too_many_requests, resource_exhausted, grpc_exhausted])
def test_a_throttled_write_cuts_the_fleets_limit_and_still_lands(
    fleet: Callable[..., QdrantSink], qdrant: ThrottledQdrant, r: redis.Redis, error: Any
) -> None:
    """Each kind of refusal for load is retried, counted, and halves the shared limit."""
    info = _info()
    qdrant.error, qdrant.refusals = error, 2
    sink = fleet(concurrency=1)
    sink.write(info, _batch(info, range(200)))
    assert sink.engine.count(info) == 200
    state = pace.read(r, info.name, time.time())
    assert state is not None
    assert state.throttles == 2 and state.cuts >= 1
    assert state.limit < 4.0  # the initial limit, halved at least once
    assert state.in_flight == 0


def test_workers_sharing_one_redis_never_pass_the_fleets_limit(
    fleet: Callable[..., QdrantSink], qdrant: ThrottledQdrant, r: redis.Redis
) -> None:
    """Four workers with two requests each in flight stay within a fleet limit of three."""
    info = _info()
    qdrant.pause = 0.01
    sinks = [fleet(concurrency=2, lowest=1.0, highest=3.0, initial=3.0) for _ in range(4)]
    errors: list[BaseException] = []

    def work(sink: QdrantSink, shard: int) -> None:
        try:
            sink.write(info, _batch(info, range(shard * 1000, shard * 1000 + 640), seq=shard + 1))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(s, i)) for i, s in enumerate(sinks)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    assert sinks[0].engine.count(info) == 4 * 640
    assert qdrant.most_in_flight == 3  # reached, never passed (8 would be in flight unpaced)
    state = pace.read(r, info.name, time.time())
    assert state is not None and state.in_flight == 0


def test_the_limit_grows_back_while_the_server_is_healthy(
    fleet: Callable[..., QdrantSink], qdrant: ThrottledQdrant, r: redis.Redis
) -> None:
    """After a cut, good requests raise the limit again (additive increase)."""
    info = _info()
    qdrant.error, qdrant.refusals = resource_exhausted, 1
    sink = fleet(concurrency=1, request_points=16)
    sink.write(info, _batch(info, range(16)))
    cut = pace.read(r, info.name, time.time())
    assert cut is not None and cut.cuts == 1
    assert cut.limit == 2.5  # halved from 4, then one good request: + 1/2
    sink.write(info, _batch(info, range(16, 1616), seq=2))
    grown = pace.read(r, info.name, time.time())
    assert grown is not None and grown.limit > 6.0


def test_a_max_write_rate_holds_the_whole_fleet_to_its_budget(
    fleet: Callable[..., QdrantSink], r: redis.Redis
) -> None:
    """6,000 points from three workers at 2,000 points/s take at least the two seconds past
    the one-second burst; unpaced they take a fraction of that."""
    info = _info()
    pace.set_max_write_rate(r, info.name, 2000)
    sinks = [fleet(concurrency=2) for _ in range(3)]
    start = time.perf_counter()
    threads = [
        threading.Thread(
            target=s.write, args=(info, _batch(info, range(i * 2000, (i + 1) * 2000), i + 1))
        )
        for i, s in enumerate(sinks)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    elapsed = time.perf_counter() - start
    assert sinks[0].engine.count(info) == 6000
    assert elapsed >= 1.9


def test_the_fleet_records_its_look_at_the_optimizers(
    fleet: Callable[..., QdrantSink], r: redis.Redis
) -> None:
    """The first write makes one worker look at the collection for all: status and backlog."""
    info = _info()
    fleet(concurrency=1).write(info, _batch(info, range(100)))
    state = pace.read(r, info.name, time.time())
    assert state is not None and state.status == "green" and state.backlog == 0


def test_a_resource_exhausted_with_retry_after_becomes_qdrant_clients_own_error() -> None:
    """The upsert channel reads Qdrant's retry-after trailer as qdrant-client does."""
    import grpc
    from qdrant_client.common.client_exceptions import ResourceExhaustedResponse

    trailer = grpc.aio.Metadata(("retry-after", "3"))
    exc = grpc.aio.AioRpcError(
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        grpc.aio.Metadata(),
        trailer,
        details="Rate limiting exceeded",
    )
    paced = _with_retry_after(exc)
    assert isinstance(paced, ResourceExhaustedResponse) and paced.retry_after_s == 3
    plain = grpc.aio.AioRpcError(
        grpc.StatusCode.UNAVAILABLE, grpc.aio.Metadata(), grpc.aio.Metadata()
    )
    assert _with_retry_after(plain) is plain
