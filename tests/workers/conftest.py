"""Fixtures of the worker tests: a worker context on real Redis and Qdrant, an index, batches."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
import redis

from shared import registry
from shared.codec import Batch
from shared.crypto import generate_key
from shared.engines import open_engine
from shared.registry import IndexInfo
from shared.settings import Settings
from tests.support.batches import store
from tests.support.qdrant_faults import FlakyEdge, FlakyQdrant
from workers.context import WorkerContext
from workers.sink import QdrantSink


@pytest.fixture
def ctx(r: redis.Redis, engine: str, tmp_path: Path) -> Iterator[WorkerContext]:
    """A worker context on the test Redis and a fresh ``engine`` (Edge in tmp_path, or
    local mode in memory)."""
    where = {"qdrant_path": ":memory:"} if engine == "local" else {"data_dir": str(tmp_path)}
    qdrant = open_engine(Settings(**where))
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
        batch = Batch(info.name, info.uid_bytes, 0, seq, np.array(ids, dtype=np.int64), vectors)
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
