"""A rerun of an ingest whose earlier run's batches are still queued (its worker gone)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from tests.support.services import RedisServer
from vecq import Client
from vecq.api.ingest.backfill import ingest
from vecq.api.ingest.sources.files import open_sources


def test_a_rerun_reports_and_waits_for_what_an_earlier_run_left_queued(
    redis_server: Callable[..., RedisServer], tmp_path: Path
) -> None:
    """Every chunk is skipped on the rerun, but the earlier run's jobs are unfinished: the
    report lists them (instead of "written: 0"); once a worker writes them, it does not."""
    server = redis_server()
    path = tmp_path / "v.npy"
    np.save(path, np.random.default_rng(0).standard_normal((300, 4), dtype=np.float32))
    data = str(tmp_path / "data")
    with Client(
        redis_url=server.url, broker_url=server.broker_url, data_dir=data, worker=False
    ) as producer:
        key = producer.generate_key()
        index = producer.create_index("left", index_key=key, dimension=4, shards=2)
        first = ingest(index, open_sources([str(path)]), chunk_rows=100)
        assert (first.vectors, first.earlier_jobs) == (300, [])
        again = ingest(index, open_sources([str(path)]), chunk_rows=100)
    assert (again.vectors, again.skipped_chunks, again.earlier_vectors) == (0, 3, 300)
    assert {j.job_id for j in again.earlier_jobs} == {j.job_id for j in first.jobs}
    with Client(
        redis_url=server.url, broker_url=server.broker_url, data_dir=data, worker=True
    ) as worker:
        index = worker.load_index("left", key)
        for job in again.earlier_jobs:
            worker.job(job.job_id).wait(60)
        third = ingest(index, open_sources([str(path)]), chunk_rows=100)
        assert (third.vectors, third.earlier_jobs, index.count()) == (0, [], 300)
