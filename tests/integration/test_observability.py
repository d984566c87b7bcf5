"""A `vecq worker` process's metrics endpoint and JSON logs, and `vecq status`, end to end."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.support.clients import broker_url
from tests.support.services import free_port
from vecq import Client

pytestmark = [pytest.mark.integration, pytest.mark.process]


def _env(redis_url: str, tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VECQ_")}
    env.update(
        VECQ_REDIS_URL=redis_url,
        VECQ_BROKER_URL=broker_url(redis_url),
        VECQ_QDRANT_PATH=str(tmp_path / "qdrant"),
        PYTHONWARNINGS="ignore",  # Celery's CLI worker warns when run as root
        VECQ_REMOTE_CONTROL="true",  # Flower inspects workers and turns their events on
    )
    return env


@pytest.fixture
def observed_worker(
    redis_url: str, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[tuple[int, Path]]:
    """A `vecq worker --metrics-port P --log-format json`: its port and its log file.

    Parametrize with the pool (``threads`` unless asked); prefork runs one child.
    """
    pool = getattr(request, "param", "threads")
    port = free_port()
    log_path = tmp_path / "worker.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "vecq.api.cli",
                "worker",
                "--metrics-port",
                str(port),
                "--log-format",
                "json",
                "--pool",
                pool,
                "--concurrency",
                "1",
            ],
            env=_env(redis_url, tmp_path),
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=Path(__file__).parents[2],
        )
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=1)
                    break
                except httpx.TransportError:
                    assert proc.poll() is None, log_path.read_text()
                    assert time.monotonic() < deadline, "the metrics endpoint never answered"
                    time.sleep(0.2)
            yield port, log_path
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _samples(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


@pytest.mark.parametrize("observed_worker", ["threads", "prefork"], indirect=True)
def test_worker_metrics_logs_and_status(
    observed_worker: tuple[int, Path], redis_url: str, tmp_path: Path
) -> None:
    """Counters match what was written; JSON log lines carry the batch's ids; status sees it.

    With the prefork pool the counting happens in the pool's child and the parent serves it.
    """
    port, log_path = observed_worker
    # Ready: the worker says so in its log, and its metrics port answers /readyz with 200.
    deadline = time.monotonic() + 30
    while httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=5).status_code != 200:
        assert time.monotonic() < deadline, "the worker never became ready"
        time.sleep(0.2)
    ready = [
        json.loads(line)["msg"]
        for line in log_path.read_text().splitlines()
        if line.startswith("{") and "vecq worker ready" in line
    ]
    assert ready and "consuming" in ready[0]
    assert httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5).status_code == 200
    name = f"obs-{uuid.uuid4().hex[:8]}"
    vectors = np.random.default_rng(3).standard_normal((3000, 8), dtype=np.float32)
    with Client(
        redis_url=redis_url, broker_url=broker_url(redis_url), worker=False, stall_timeout=60.0
    ) as client:
        index = client.create_index(
            name, index_key=client.generate_key(), dimension=8, shards=2, metric="dot"
        )
        job = index.upsert(np.arange(3000), vectors)

    written = ("vecq_vectors_total", (("index", name), ("outcome", "written")))
    deadline = time.monotonic() + 60
    # Counted right after each batch settles, so the last count may trail the job by a hair.
    while (samples := _samples(port)).get(written) != 3000:
        assert time.monotonic() < deadline, samples.get(written)
        time.sleep(0.1)
    assert samples[("vecq_batches_total", (("index", name), ("outcome", "written")))] >= 2
    assert samples[("vecq_write_seconds_count", (("index", name),))] >= 2
    assert ("vecq_queue_depth", (("queue", "vecq.bulk"),)) in samples
    assert ("vecq_inflight_bytes", (("index", name),)) in samples

    status = subprocess.run(
        [sys.executable, "-m", "vecq.api.cli", "status", "--json", "--jobs", "50"],
        env=_env(redis_url, tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
        cwd=Path(__file__).parents[2],
    )
    assert status.returncode == 0, status.stderr
    report = json.loads(status.stdout)
    assert report["workers"], "the running worker has no live heartbeat"
    assert set(report["queues"]) == {"vecq.live", "vecq.bulk"}
    mine = [j for j in report["jobs"] if j["job_id"] == job.job_id]
    assert mine and mine[0]["status"] == "done" and mine[0]["written"] == 3000

    lines = [json.loads(line) for line in log_path.read_text().splitlines() if line.startswith("{")]
    created = [e for e in lines if e.get("index") == name and "created collection" in e["msg"]]
    assert len(created) == 1  # one collection per index, made by the first batch written
    assert {e["job"] for e in created} == {job.job_id}
    assert {e["shard"] for e in created} <= {0, 1}
    assert all(isinstance(e["batch"], int) and e["level"] == "INFO" for e in created)


def test_flower_sees_workers_and_tasks(
    observed_worker: tuple[int, Path], redis_url: str, tmp_path: Path
) -> None:
    """`celery -A vecq.workers flower`, unchanged, lists the worker and the batches it ran."""
    _, log_path = observed_worker
    port = free_port()
    env = {**_env(redis_url, tmp_path), "FLOWER_UNAUTHENTICATED_API": "true"}
    flower = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "vecq.workers",
            "flower",
            f"--port={port}",
            "--address=127.0.0.1",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=Path(__file__).parents[2],
    )
    try:
        api = f"http://127.0.0.1:{port}/api"
        deadline = time.monotonic() + 60
        workers: dict[str, dict[str, object]] = {}
        while not workers:
            assert time.monotonic() < deadline, "Flower never listed the worker"
            with contextlib.suppress(httpx.TransportError, ValueError):
                workers = httpx.get(f"{api}/workers", params={"refresh": "true"}, timeout=5).json()
            time.sleep(0.5)
        assert any("vecq.upsert_batch" in w.get("registered", []) for w in workers.values())
        # Flower switches the worker's task events on by a broadcast, every few seconds.
        while "Events of group {task} enabled" not in log_path.read_text():
            assert time.monotonic() < deadline, "Flower never enabled task events"
            time.sleep(0.5)
        with Client(
            redis_url=redis_url, broker_url=broker_url(redis_url), worker=False, stall_timeout=60.0
        ) as client:
            index = client.create_index(
                f"fl-{uuid.uuid4().hex[:8]}", client.generate_key(), dimension=4, shards=1
            )
            # Bulk-sized: live-lane calls are served outside the Celery pool, unseen by Flower.
            index.upsert(np.arange(1000), np.ones((1000, 4), np.float32))
        tasks: dict[str, dict[str, object]] = {}
        while not tasks:
            assert time.monotonic() < deadline, "Flower never showed the batch's task"
            tasks = httpx.get(f"{api}/tasks", timeout=5).json()
            time.sleep(0.5)
        assert {t["name"] for t in tasks.values()} == {"vecq.upsert_batch"}
        assert any(t["state"] == "SUCCESS" for t in tasks.values())
    finally:
        flower.terminate()
        flower.wait(30)
