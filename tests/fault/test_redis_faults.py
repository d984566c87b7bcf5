"""Redis failing under the pipeline: restarts, being down, out of memory, and backpressure."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import redis

from tests.support.services import RedisServer, SentinelGroup
from tests.support.tracked import DIM, Tracked, check_stored, producer, wait_until
from tests.support.workers import Workers
from vecq import BackpressureTimeout, BrokerUnavailable
from vecq.shared import keys
from vecq.shared.state import job_state
from vecq.shared.wire.codec import decode

pytestmark = [pytest.mark.fault, pytest.mark.timeout(180)]


def _queued_batches_are_exactly_the_enqueued_ids(
    r: redis.Redis, index: str, exc: BrokerUnavailable | BackpressureTimeout
) -> None:
    """The ledger's enqueued batches hold exactly the ids the error reports, and no others."""
    assert exc.job_id is not None
    states = job_state.batch_states(r, exc.job_id)
    assert set(states.values()) <= {"queued", "done", "failed"}  # nothing half-way left behind
    held: list[int] = []
    for seq in states:
        raw = r.get(keys.blob(index, seq))
        assert raw is not None, f"batch {seq} is in the ledger but its blob is gone"
        held += decode(raw).ids.tolist()
    assert sorted(held) == sorted(np.asarray(exc.enqueued_ids).tolist())
    assert r.llen(keys.QUEUE_BULK) == len(states)  # and each one was published, once
    state = job_state.read(r, exc.job_id)
    assert state is not None and state.enqueued and state.batches == len(states)
    assert state.total == len(held)
    assert state.aborted


def test_redis_restart_while_producing_and_consuming(workers: Workers) -> None:
    """Redis killed and restarted (AOF) mid-run: producers get BrokerUnavailable, nothing lost."""
    server = workers.redis
    workers.start()
    tracked: Tracked
    with producer(server.url, server.broker_url, **workers.location) as client:
        index = client.create_index(
            "restart", index_key=client.generate_key(), dimension=DIM, shards=2, metric="dot"
        )
        tracked = Tracked(index)
        rng = np.random.default_rng(4)
        for call in range(16):
            if call == 6:
                server.stop(kill=True)
            if call == 9:
                server.start()
            started = time.monotonic()
            tracked.upsert(rng.choice(4_000, size=600, replace=False).astype(np.int64))
            assert time.monotonic() - started < 20, "a call against a dead Redis must not hang"
        assert tracked.interrupted >= 3  # the calls made while Redis was down
        tracked.settle_all(timeout=120)
    workers.stop_all()
    report = check_stored(workers.engine, workers.data_dir, tracked)
    assert report.ok, report.summary() + "\n" + workers.logs()


def test_sentinel_failover_during_a_backfill(tmp_path: Path, engine: str) -> None:
    """The master SIGKILLed mid-backfill behind a sentinel:// URL (broker and state): the
    sentinel promotes the replica, producer and workers follow it, and every acknowledged
    call is stored exactly."""
    group = SentinelGroup(tmp_path / "sentinel").start()
    (tmp_path / "logs").mkdir()
    workers = Workers(group, tmp_path / "data", tmp_path / "logs", engine)  # type: ignore[arg-type]
    try:
        workers.start()
        with producer(group.url, group.broker_url, **workers.location) as client:
            index = client.create_index(
                "failover", index_key=client.generate_key(), dimension=DIM, shards=2, metric="dot"
            )
            tracked = Tracked(index)
            rng = np.random.default_rng(7)
            first = group.current_master()
            for call in range(24):
                if call == 8:
                    group.kill_master()
                tracked.upsert(rng.choice(4_000, size=600, replace=False).astype(np.int64))
                time.sleep(0.2)
            assert group.current_master() != first, "the sentinel promoted the replica"
            tracked.settle_all(timeout=150)
        workers.stop_all()
        report = check_stored(workers.engine, workers.data_dir, tracked)
        assert report.ok, report.summary() + "\n" + workers.logs()
        assert tracked.history.calls == 24
    finally:
        workers.stop_all(kill=True)
        group.stop()


def test_redis_down_at_publish_time_gives_broker_unavailable(
    redis_server: Callable[..., RedisServer],
) -> None:
    """With Redis gone, upsert raises BrokerUnavailable in bounded time and enqueues nothing."""
    server = redis_server()
    with producer(server.url, server.broker_url) as client:
        index = client.create_index("down", index_key=client.generate_key(), dimension=DIM)
        server.stop(kill=True)
        started = time.monotonic()
        with pytest.raises(BrokerUnavailable, match="Redis"):
            index.upsert(np.arange(10), np.ones((10, DIM), np.float32), wait=False)
        assert time.monotonic() - started < 15


def test_redis_out_of_memory_gives_broker_unavailable_and_an_exact_ledger(
    redis_server: Callable[..., RedisServer],
) -> None:
    """maxmemory with noeviction: BrokerUnavailable, and the ledger lists what was enqueued."""
    server = redis_server("--maxmemory", "4mb")
    with producer(server.url, server.broker_url, batch_size=500) as client:
        index = client.create_index("oom", index_key=client.generate_key(), dimension=256)
        vectors = np.ones((20_000, 256), np.float32)  # 20 MB: far over maxmemory
        with pytest.raises(BrokerUnavailable, match="out of memory") as caught:
            index.upsert(np.arange(20_000), vectors, wait=False)
        assert 0 < len(caught.value.enqueued_ids) < 20_000
        _queued_batches_are_exactly_the_enqueued_ids(client.redis, index.name, caught.value)


def test_backpressure_times_out_with_an_exact_ledger(
    redis_server: Callable[..., RedisServer],
) -> None:
    """No worker: the in-flight window fills, upsert blocks, then raises BackpressureTimeout."""
    server = redis_server()
    options = {"batch_size": 256, "max_inflight_bytes": 100_000, "backpressure_timeout": 1.0}
    with producer(server.url, server.broker_url, **options) as client:
        index = client.create_index("bp", index_key=client.generate_key(), dimension=DIM)
        started = time.monotonic()
        with pytest.raises(BackpressureTimeout, match="in flight") as caught:
            index.upsert(np.arange(10_000), np.ones((10_000, DIM), np.float32), wait=False)
        assert 1.0 <= time.monotonic() - started < 10
        one_batch = 256 * (8 + 4 * DIM) + 4096
        assert job_state.inflight(client.redis, index.name) <= 100_000 + one_batch
        _queued_batches_are_exactly_the_enqueued_ids(client.redis, index.name, caught.value)


def test_backpressure_blocks_until_workers_catch_up(workers: Workers) -> None:
    """A backfill 11x the in-flight window completes once a worker drains it, window respected."""
    server = workers.redis
    limit = 100_000
    options = {"batch_size": 256, "max_inflight_bytes": limit, "backpressure_timeout": 60.0}
    with producer(server.url, server.broker_url, **options) as client:
        index = client.create_index(
            "bp2", index_key=client.generate_key(), dimension=DIM, metric="dot"
        )
        peak = [0]
        stop = threading.Event()

        def watch() -> None:
            while not stop.is_set():
                peak[0] = max(peak[0], job_state.inflight(client.redis, index.name))
                time.sleep(0.01)

        watcher = threading.Thread(target=watch)
        watcher.start()
        threading.Timer(1.0, workers.start).start()  # the worker arrives while upsert blocks
        n = 15_000  # 15,000 x 16-d: about 1.1 MB of blobs, 11x the window
        try:
            job = index.upsert(np.arange(n), np.ones((n, DIM), np.float32), wait=False)
            job.wait(120)
        finally:
            stop.set()
            watcher.join()
        assert peak[0] <= limit + 256 * (8 + 4 * DIM) + 4096
        wait_until(lambda: job_state.inflight(client.redis, index.name) == 0, 10, "window drained")
