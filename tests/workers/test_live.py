"""The live lane on real Redis, a real in-process worker and real engines (Edge, local mode)."""

from __future__ import annotations

import contextlib
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import redis

from tests.support.clients import broker_url, worker_client
from tests.support.engines import ENGINES
from vecq import Client
from vecq.shared import keys
from vecq.shared.engines import Write
from vecq.shared.engines.edge import EdgeEngine
from vecq.shared.engines.server import ServerEngine
from vecq.shared.state.registry import IndexInfo

pytestmark = pytest.mark.engines(*ENGINES)


def test_small_upserts_queue_on_the_live_lane_and_are_coalesced(
    redis_url: str, r: redis.Redis, monkeypatch: pytest.MonkeyPatch, engine: str, tmp_path: Path
) -> None:
    """200 one-vector calls go to the live queue; a worker writes them in a few requests."""
    name = f"live-{uuid.uuid4().hex[:8]}"
    with Client(
        redis_url=redis_url, broker_url=broker_url(redis_url), worker=False, data_dir=str(tmp_path)
    ) as producer:
        key = producer.generate_key()
        index = producer.create_index(name, index_key=key, dimension=4, shards=2, metric="dot")
        jobs = [index.upsert([(i, [float(i), 0, 0, 1])], wait=False) for i in range(200)]
        assert r.llen(keys.QUEUE_LIVE) == 200
        assert r.llen(keys.QUEUE_BULK) == 0
        requests: list[int] = []
        kind = EdgeEngine if engine == "edge" else ServerEngine
        real = kind.write

        def counting(self: Any, info: IndexInfo, request: Write) -> None:
            requests.append(len(request))
            real(self, info, request)

        monkeypatch.setattr(kind, "write", counting)
        with worker_client(redis_url, engine) as consumer:
            for job in jobs:
                job.wait(30)
            assert consumer.load_index(name, key).count() == 200
            got = consumer.load_index(name, key).get([7, 150])
            assert [p["vector"][0] for p in got] == [7.0, 150.0]
            lane = consumer.worker.lane  # type: ignore[union-attr]
            deadline = time.monotonic() + 60  # acknowledged just after the jobs settle
            while lane.served < 200 and time.monotonic() < deadline:
                time.sleep(0.01)
            assert lane.served == 200
            assert r.llen(keys.QUEUE_LIVE) == 0
    assert sum(requests) == 200
    assert len(requests) <= 10, requests  # 200 batches, 2 shards: a few coalesced requests


def test_a_live_upsert_finishes_while_a_slow_backfill_is_still_running(
    redis_url: str, engine: str
) -> None:
    """With every bulk request taking 0.2 s, a one-vector upsert is not queued behind them."""
    with worker_client(redis_url, engine, batch_size=64) as client:
        index = client.create_index(
            f"live-{uuid.uuid4().hex[:8]}", index_key=client.generate_key(), dimension=4, shards=1
        )
        sink = client.worker.context.sink  # type: ignore[union-attr]
        slow = _SlowBulk(sink.engine)
        sink.engine = slow  # type: ignore[assignment]  # a wrapper of the engine
        try:
            vectors = np.ones((1_280, 4), dtype=np.float32)
            backfill = index.upsert(np.arange(1_280, 2_560), vectors, wait=False)
            slow.started.wait(10)
            start = time.monotonic()
            index.upsert([(1, [1.0, 2.0, 3.0, 4.0])])  # wait=True
            live_seconds = time.monotonic() - start
            assert backfill.status != "done"
            backfill.wait(60)
        finally:
            sink.engine = slow.real
        # 20 bulk batches took >= 4 s; the live call waited for at most a couple of requests.
        assert live_seconds < 2.0
        assert index.count() == 1_281


class _SlowBulk:
    """The worker's real engine; every bulk request takes 0.2 s more (holding local mode's
    lock, as a slow write would)."""

    def __init__(self, real: Any) -> None:
        self.real = real
        self.started = threading.Event()

    def write(self, info: IndexInfo, request: Write) -> None:
        if len(request) > 1:
            lock = self.real.client.lock if self.real.kind == "local" else contextlib.nullcontext()
            with lock:
                self.started.set()
                time.sleep(0.2)
                self.real.write(info, request)
            return
        self.real.write(info, request)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)
