"""UpsertJob: wait=False, progress, status, failures, and a wait that cannot hang forever."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from httpx import Headers
from qdrant_client.http.exceptions import UnexpectedResponse

from tests.support.clients import broker_url
from vecq import Client, Index, UpsertError, VecqError, WaitTimeout
from vecq.api.cli import main


def test_wait_false_returns_a_job_that_finishes(
    make_index: Callable[..., Index], make_vectors: Callable[..., np.ndarray]
) -> None:
    """wait=False returns once enqueued; waiting on the job then sees every vector written."""
    index = make_index(dimension=8, shards=2)
    job = index.upsert(np.arange(3000), make_vectors(3000, 8), wait=False)
    assert job.status in {"queued", "running", "done"}
    assert job.wait(timeout=30) is job
    assert job.status == "done"
    progress = job.progress
    assert (progress.total, progress.written, progress.failed, progress.fraction) == (
        3000,
        3000,
        0,
        1.0,
    )
    assert job.failures == []


def test_wait_without_workers_times_out_with_advice(redis_server: Callable[..., Any]) -> None:
    """With no worker consuming (a Redis of its own, nobody else on it), wait raises
    WaitTimeout that says to start one."""
    server = redis_server()
    with Client(
        redis_url=server.url,
        broker_url=server.broker_url,
        worker=False,
        stall_timeout=1.0,
        qdrant_path=":memory:",
    ) as c:
        index = c.create_index("stall", index_key=c.generate_key(), dimension=2)
        with pytest.raises(WaitTimeout, match="vecq worker"):
            index.upsert([(1, [0.0, 1.0])])
        with pytest.raises(WaitTimeout, match=r"after 0\.2s"):
            index.upsert([(2, [0.0, 1.0])], wait=False).wait(timeout=0.2)


def test_failed_batch_raises_upsert_error_naming_ids(
    client: Client, make_index: Callable[..., Index], monkeypatch: pytest.MonkeyPatch
) -> None:
    """When Qdrant rejects a batch (a real 400), wait raises UpsertError with its ids and reason."""
    index = make_index(dimension=3, shards=1)
    sink = client.worker.context.sink
    real_write = sink.write

    def reject(info: object, batch: object) -> None:
        if getattr(info, "name", None) == index.name:
            raise UnexpectedResponse(400, "Bad Request", b'{"status":{"error":"bad"}}', Headers())
        real_write(info, batch)

    monkeypatch.setattr(sink, "write", reject)
    with pytest.raises(UpsertError) as info:
        index.upsert([(1, [1.0, 0.0, 0.0]), (2, [0.0, 1.0, 0.0])])
    assert sorted(info.value.failed_ids) == [1, 2]
    assert "400" in str(info.value) and "ids [" in str(info.value)
    job_failures = info.value.failures
    assert len(job_failures) == 1 and "rejected" in job_failures[0].reason
    assert index.count() == 0


def test_a_job_reopens_by_its_id(
    client: Client,
    make_index: Callable[..., Index],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    redis_url: str,
) -> None:
    """client.job(id) and `vecq status --job id` read the same ledger; an unknown id is clear."""
    index = make_index(dimension=4, shards=2)
    job = index.upsert(np.arange(600), np.ones((600, 4), np.float32))
    again = client.job(job.job_id)
    assert (again.index, again.total, again.status) == (index.name, 600, "done")
    assert again.wait(5).progress.written == 600
    with pytest.raises(VecqError, match="no job 'nope'"):
        client.job("nope")
    monkeypatch.setenv("VECQ_REDIS_URL", redis_url)
    monkeypatch.setenv("VECQ_BROKER_URL", broker_url(redis_url))
    capsys.readouterr()
    assert main(["status", "--job", job.job_id, "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert (shown["status"], shown["written"], shown["failures"]) == ("done", 600, [])
