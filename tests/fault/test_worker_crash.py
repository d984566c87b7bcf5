"""Workers dying mid-batch: kill -9 a worker process, and kill a prefork pool child."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator

import numpy as np
import psutil
import pytest

from tests.support.engines import ENGINES
from tests.support.tracked import DIM, Tracked, check_stored, producer, wait_until
from tests.support.workers import VISIBILITY_TIMEOUT, Workers
from vecq import Client

pytestmark = [pytest.mark.fault, pytest.mark.timeout(180), pytest.mark.engines(*ENGINES)]


@pytest.fixture
def client(workers: Workers) -> Iterator[Client]:
    """A producer on the private Redis of the worker processes."""
    with producer(workers.redis.url, workers.redis.broker_url, **workers.location) as c:
        yield c


def _written(tracked: Tracked) -> int:
    return sum(job.progress.written for _, job, _ in tracked.pending)


def test_kill_9_worker_mid_batch_then_start_another(client: Client, workers: Workers) -> None:
    """Batches a SIGKILLed worker held are redelivered to the next worker; the set check holds."""
    index = client.create_index(
        "crash", index_key=client.generate_key(), dimension=DIM, shards=2, metric="dot"
    )
    tracked = Tracked(index)
    rng = np.random.default_rng(1)
    first = workers.start()
    for _ in range(12):  # overlapping id ranges: later calls must win
        tracked.upsert(rng.choice(6_000, size=1_500, replace=False).astype(np.int64))
    total = sum(ids.size for _, _, ids in tracked.pending)
    wait_until(lambda: _written(tracked) > 0, 60, "the first worker to write something")
    assert _written(tracked) < total, "the worker finished before it could be killed"
    first.send_signal(signal.SIGKILL)
    first.wait(10)
    killed_at = time.monotonic()
    # Redis hands a dead worker's unacknowledged batches out again once their visibility
    # timeout has passed; the next worker looks for them as it starts.
    time.sleep(max(0.0, VISIBILITY_TIMEOUT + 1 - (time.monotonic() - killed_at)))
    workers.start()
    tracked.settle_all(timeout=120)
    workers.stop_all()
    report = check_stored(workers.engine, workers.data_dir, tracked)
    assert report.ok, report.summary() + "\n" + workers.logs()
    assert report.checked == len(tracked.history.events)


def test_kill_a_prefork_pool_child(client: Client, workers: Workers) -> None:
    """A pool child killed mid-batch loses nothing: its batch is rejected back and redone."""
    index = client.create_index(
        "child", index_key=client.generate_key(), dimension=DIM, shards=2, metric="dot"
    )
    tracked = Tracked(index)
    rng = np.random.default_rng(2)
    parent = workers.start("--pool", "prefork", "-c", "1")
    for _ in range(10):
        tracked.upsert(rng.choice(5_000, size=1_500, replace=False).astype(np.int64))

    def child() -> psutil.Process | None:
        kids = psutil.Process(parent.pid).children()
        return kids[0] if kids else None

    wait_until(lambda: _written(tracked) > 0 and child() is not None, 60, "a child to write")
    victim = child()
    assert victim is not None, "the pool child vanished on its own"
    os.kill(victim.pid, signal.SIGKILL)

    def replaced() -> bool:
        kid = child()
        return kid is not None and kid.pid != victim.pid

    wait_until(replaced, 30, "a new pool child")
    tracked.settle_all(timeout=120)
    workers.stop_all()
    report = check_stored(workers.engine, workers.data_dir, tracked)
    assert report.ok, report.summary() + "\n" + workers.logs()
