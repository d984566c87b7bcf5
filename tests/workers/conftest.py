"""Fixtures of the worker tests: a worker context on real Redis and Qdrant, an index, batches."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import redis

from tests.support import broker
from tests.support.batches import store
from tests.support.engines import engine_settings
from tests.support.qdrant_faults import FlakyEdge, FlakyQdrant
from tests.support.workers import Deliver
from vecq import Client, Index
from vecq.shared.config.settings import Settings
from vecq.shared.crypto import generate_key
from vecq.shared.engines import open_engine
from vecq.shared.state import registry
from vecq.shared.state.registry import IndexInfo
from vecq.shared.wire.codec import Batch
from vecq.workers.context import WorkerContext
from vecq.workers.pipeline import RetryLater, process_batch
from vecq.workers.sink import QdrantSink


@pytest.fixture
def ctx(
    r: redis.Redis, engine: str, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[WorkerContext]:
    """A worker context on the test Redis and a fresh ``engine`` (Edge in tmp_path, local
    mode in memory, or the test server)."""
    qdrant = open_engine(Settings(**engine_settings(engine, tmp_path, request)))
    settings = Settings(retry_seconds=5.0, task_retries=2, task_retry_backoff=0.5)
    context = WorkerContext(redis=r, sink=QdrantSink(qdrant), settings=settings)
    yield context
    context.close()  # lets go of what a test left held, as a worker stopping cleanly does
    qdrant.close()


@pytest.fixture
def info(r: redis.Redis) -> IndexInfo:
    """A registered one-shard, 4-d, dot-product index."""
    return registry.create(
        r, f"p-{uuid.uuid4().hex[:10]}", dimension=4, shards=1, metric="dot", key=generate_key()
    )


@pytest.fixture
def enqueue(r: redis.Redis, info: IndexInfo) -> Callable[..., dict[str, object]]:
    """Factory: store a batch blob as the producer would and return its task message."""

    def put(ids: list[int], value: float, seq: int, job: str | None = None) -> dict[str, object]:
        vectors = np.full((len(ids), 4), value, dtype=np.float32)
        batch = Batch(
            np.array(ids, dtype=np.int64),
            vectors,
            index=info.name,
            index_uid=info.uid_bytes,
            shard=0,
            seq=seq,
        )
        return store(r, batch, job or uuid.uuid4().hex)

    return put


@pytest.fixture
def poison(ctx: WorkerContext) -> Iterator[Callable[[set[int]], None]]:
    """``poison(ids)``: from now on the engine rejects any write holding one of ``ids``, with
    its own error type (local mode: qdrant-client's 400; Edge: Edge's dimension error)."""
    engine = ctx.sink.engine
    wrapper: FlakyEdge | FlakyQdrant
    if engine.kind == "edge":
        wrapper = FlakyEdge(engine)
        ctx.sink.engine = wrapper  # type: ignore[assignment]  # a wrapper of the engine
    else:
        wrapper = FlakyQdrant(engine.client)
        engine.client = wrapper

    def set_poison(ids: set[int]) -> None:
        wrapper.poison = ids

    yield set_poison
    if engine.kind == "edge":
        ctx.sink.engine = engine
    else:
        engine.client = wrapper.real  # type: ignore[union-attr]


# The fixtures below drive the pipeline with messages a real producer published: the test
# takes them off the broker and delivers them in the order it wants.


@pytest.fixture(scope="module")
def producer(
    redis_url: str,
    engine: str,
    tmp_path_factory: pytest.TempPathFactory,
    request: pytest.FixtureRequest,
) -> Iterator[Client]:
    """A client that only enqueues (no worker consumes): the test delivers its messages."""
    where = engine_settings(engine, tmp_path_factory.mktemp("edge"), request)
    with Client(redis_url=redis_url, worker=False, **where) as client:
        yield client


@pytest.fixture
def producer_ctx(producer: Client) -> Iterator[WorkerContext]:
    """A worker context writing to the producer's own engine (one process holds it)."""
    settings = Settings(retry_seconds=5.0, task_retries=2, task_retry_backoff=0.5)
    context = WorkerContext(producer.redis, QdrantSink(producer.engine), settings)
    yield context
    context.close()


@pytest.fixture
def index(producer: Client, r: redis.Redis) -> Iterator[Index]:
    """A fresh one-shard, 4-d, dot-product index, with nothing queued for it."""
    broker.take(r)
    made = producer.create_index(
        f"o-{uuid.uuid4().hex[:10]}",
        index_key=producer.generate_key(),
        dimension=4,
        shards=1,
        metric="dot",
    )
    yield made
    broker.take(r)


@pytest.fixture
def deliver(producer_ctx: WorkerContext) -> Deliver:
    """Hand one message to the pipeline; ``deferred`` when it must wait for older upserts."""

    def run(message: dict[str, Any]) -> str:
        try:
            return str(process_batch(producer_ctx, message))
        except RetryLater as later:
            if later.counts:
                raise  # a retry, not a deferral: the test did not expect it
            return "deferred"

    return run
