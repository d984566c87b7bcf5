"""Back in seconds: cut-short jobs finish, a dead worker's batch comes back within a minute,
and nothing only queued or merely slow is ever published twice. Real processes throughout.

Each test prints how long recovery took (``-s`` shows it), for the record.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from tests.support.engines import stored_points
from tests.support.tracked import DIM, producer, wait_until
from tests.support.workers import Workers
from vecq import BrokerUnavailable, Client, WaitTimeout
from vecq.shared import keys
from vecq.shared.state import ledger, pending

pytestmark = [pytest.mark.fault, pytest.mark.timeout(240)]

ROOT = Path(__file__).resolve().parents[2]


def _republished(workers: Workers) -> int:
    """Batches the workers' reapers published again, by their log lines."""
    return workers.logs().count("published it again")


def _deliveries(client: Client, job_id: str) -> dict[str, int]:
    """Deliveries per batch of a job (its attempts hash, first-seen times left out)."""
    raw = client.redis.hgetall(keys.job_attempts(job_id))
    return {k.decode(): int(v) for k, v in raw.items() if b":" not in k}


def test_a_job_cut_short_by_a_redis_kill_finishes_once_redis_is_back(workers: Workers) -> None:
    """Redis SIGKILLed between two batches of one call, then restarted: the call raises
    BrokerUnavailable, and the job finishes with the batches Redis had, all written."""
    server = workers.redis
    workers.start()
    with producer(server.url, server.broker_url, **workers.location) as client:
        index = client.create_index(
            "cut", index_key=client.generate_key(), dimension=DIM, metric="dot"
        )
        seen: list[int] = []

        def kill_redis_after_three(n: int) -> None:
            seen.append(n)
            if len(seen) == 3:
                server.stop(kill=True)

        ids = np.arange(4_000, dtype=np.int64)  # 4 shards, batches of at most 256
        vectors = np.random.default_rng(5).standard_normal((4_000, DIM), dtype=np.float32)
        with pytest.raises(BrokerUnavailable, match="Redis") as caught:
            index.upsert(ids, vectors, wait=False, on_batch=kill_redis_after_three)
        exc = caught.value
        assert exc.job_id is not None and len(exc.enqueued_ids) >= sum(seen)
        server.start()
        restarted = time.monotonic()
        job = client.job(exc.job_id)
        job.wait(90)
        took = time.monotonic() - restarted
        state = job.state()
        print(f"\ncut-short job finished {took:.1f}s after Redis came back")
        assert state.status == "done" and state.aborted and took < 60
        enqueued = set(np.asarray(exc.enqueued_ids).tolist())
        maybe = set(np.asarray(exc.uncertain_ids).tolist())
        assert state.total in (len(enqueued), len(enqueued) + len(maybe))
    workers.stop_all()  # the engine's folder is the worker's: read it once the worker is gone
    stored = {int(p[0]) for p in stored_points(workers.engine, workers.data_dir, index.info)}
    assert enqueued <= stored <= enqueued | maybe


def test_a_job_whose_producer_died_with_redis_is_finished_by_the_workers(
    workers: Workers, tmp_path: Path
) -> None:
    """The producer and Redis both SIGKILLed mid-call; Redis restarted: the workers finish the
    job with what Redis held, and every batch of it is written."""
    server = workers.redis
    workers.start()
    with producer(server.url, server.broker_url, **workers.location) as client:
        key = client.generate_key()
        client.create_index("orphan", index_key=key, dimension=DIM, metric="dot")
    script = textwrap.dedent(f"""
        import sys, time
        import numpy as np
        from vecq import Client
        client = Client(redis_url={server.url!r}, broker_url={server.broker_url!r},
                        worker=False, batch_size=256, data_dir={str(tmp_path)!r})
        index = client.load_index("orphan", bytes.fromhex({key.hex()!r}))
        seen = []
        def hold_after_three(n):
            seen.append(n)
            if len(seen) == 3:
                print("three", flush=True)
                time.sleep(600)
        index.upsert(np.arange(4000), np.ones((4000, {DIM}), np.float32), wait=False,
                     on_batch=hold_after_three)
    """)
    proc = subprocess.Popen(
        [sys.executable, "-c", script],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "three"
        server.stop(kill=True)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        if proc.stdout is not None:
            proc.stdout.close()
    server.start()
    restarted = time.monotonic()
    with producer(server.url, server.broker_url, **workers.location) as client:
        (job_id,) = ledger.interrupted_jobs(client.redis)  # nobody finished its enqueue
        job = client.job(job_id)
        job.wait(90)
        took = time.monotonic() - restarted
        state = job.state()
        print(f"\norphaned job finished {took:.1f}s after Redis came back")
        assert state.status == "done" and state.aborted and took < 60
        assert state.batches >= 3 and state.written == state.total > 0
        assert ledger.interrupted_jobs(client.redis) == []


def test_a_worker_killed_mid_batch_is_covered_within_a_minute_with_default_settings(
    workers: Workers,
) -> None:
    """Default timeouts (an hour's visibility): SIGKILL the worker holding a batch, start
    another at once, and the whole job is written within 60 s of the kill."""
    workers.with_defaults()
    server = workers.redis
    # Each write of the first worker takes a second longer, so the kill lands inside one
    # (between two batches the worker holds none, and there would be nothing to take over).
    first = workers.slow_writes("killed", 1.0).start()
    with producer(server.url, server.broker_url, **workers.location) as client:
        index = client.create_index(
            "killed", index_key=client.generate_key(), dimension=DIM, metric="dot"
        )
        vectors = np.random.default_rng(6).standard_normal((2_560, DIM), dtype=np.float32)
        job = index.upsert(np.arange(2_560), vectors, wait=False)  # 10 batches of 256
        wait_until(
            lambda: bool(pending.holders(client.redis)) and job.progress.written > 0,
            60,
            "the worker to hold a batch",
        )
        first.send_signal(signal.SIGKILL)
        killed = time.monotonic()
        first.wait(10)
        workers.env_extra["VECQ_TEST_SLOW_WRITE"] = None  # the next one writes at full speed
        workers.start()
        job.wait(90)
        took = time.monotonic() - killed
        print(f"\njob written {took:.1f}s after its worker was killed")
        assert job.status == "done" and took < 60, workers.logs()
        assert _republished(workers) >= 1  # the dead worker's batch, by the reaper


def test_a_backlog_longer_than_the_old_reaper_threshold_is_never_republished(
    workers: Workers,
) -> None:
    """A worker that takes 1.2 s a batch drains 40 queued batches in about 50 s, four times the
    visibility timeout: nothing waiting in the queue is published a second time."""
    server = workers.redis
    workers.slow_writes("backlog", 1.2).start()
    with producer(server.url, server.broker_url, batch_size=64, **workers.location) as client:
        index = client.create_index(
            "backlog", index_key=client.generate_key(), dimension=DIM, metric="dot", shards=1
        )
        job = index.upsert(np.arange(1_920), np.ones((1_920, DIM), np.float32), wait=False)
        started = time.monotonic()
        job.wait(120)
        took = time.monotonic() - started
        assert took > 2 * 12  # longer than twice the visibility timeout: the old threshold
        deliveries = _deliveries(client, job.job_id)
        print(
            f"\nbacklog of {len(deliveries)} batches drained in {took:.0f}s; republished "
            f"{_republished(workers)}"
        )
        assert len(deliveries) == job.state().batches and set(deliveries.values()) == {1}
        assert _republished(workers) == 0


def test_a_worker_stalled_in_a_slow_write_is_never_duplicated(workers: Workers) -> None:
    """One write takes 25 s, longer than the heartbeat's expiry and twice the visibility
    timeout: the worker keeps beating, so its batch is delivered once and written once."""
    server = workers.redis
    workers.slow_writes("stall", 25).start()
    with producer(server.url, server.broker_url, **workers.location) as client:
        index = client.create_index(
            "stall", index_key=client.generate_key(), dimension=DIM, metric="dot", shards=1
        )
        job = index.upsert(np.arange(100), np.ones((100, DIM), np.float32), wait=False)
        job.wait(90)
        assert job.status == "done"
        assert set(_deliveries(client, job.job_id).values()) == {1}
        assert _republished(workers) == 0


def test_a_wait_behind_other_jobs_in_a_deep_queue_does_not_stall(workers: Workers) -> None:
    """A job queued behind 12 s of another job's batches waits them out with a 4 s stall
    timeout: the fleet settling any job's batches is progress. Once the worker is gone, the
    same wait stops at the stall timeout and says to start one."""
    server = workers.redis
    worker = workers.slow_writes("ahead", 1.0).start("--concurrency", "1")
    with producer(server.url, server.broker_url, stall_timeout=4.0, **workers.location) as client:
        key = client.generate_key()
        ahead = client.create_index("ahead", index_key=key, dimension=DIM, shards=1)
        behind = client.create_index("behind", index_key=key, dimension=DIM, shards=1)
        ahead.upsert(np.arange(12 * 256), np.ones((12 * 256, DIM), np.float32), wait=False)
        # More than live_max_vectors: queued behind the other job, not on the live lane.
        job = behind.upsert(np.arange(600), np.ones((600, DIM), np.float32), wait=False)
        started = time.monotonic()
        job.wait()
        waited = time.monotonic() - started
        assert waited > 4.0, "the job did not wait behind the other job's batches"
        print(f"\nwaited {waited:.1f}s behind the other job with a 4 s stall timeout")
        worker.send_signal(signal.SIGTERM)
        worker.wait(60)
        stuck = behind.upsert(np.arange(600, 1200), np.ones((600, DIM), np.float32), wait=False)
        with pytest.raises(WaitTimeout, match=r"no batch of any job settled for 4s"):
            stuck.wait()
