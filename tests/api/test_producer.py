"""The producer's ledger when publishing fails part-way: exactly what was enqueued, no more."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from collections.abc import Callable

import numpy as np
import pytest

from vecq import BrokerUnavailable, Client, Index, UpsertJob
from vecq.api import producer as producing
from vecq.shared import keys
from vecq.shared.points.validation import from_arrays
from vecq.shared.state import job_state
from vecq.shared.wire.messages import BatchRef

pytestmark = pytest.mark.integration


class BrokenAfter:
    """The real publisher, failing from the ``n``-th publish on as a dead broker would."""

    def __init__(self, real: object, n: int) -> None:
        self.real = real
        self.left = n
        self.sent: list[BatchRef] = []

    def publish(self, ref: BatchRef, queue: str = keys.QUEUE_BULK) -> None:
        if self.left == 0:
            raise BrokerUnavailable("broker connection refused")
        self.left -= 1
        self.real.publish(ref, queue)  # type: ignore[attr-defined]
        self.sent.append(ref)

    def close(self) -> None:
        pass


def test_publish_failure_leaves_an_exact_ledger_and_a_finishing_job(
    client: Client, make_index: Callable[..., Index]
) -> None:
    """Three batches published, the fourth fails: the job holds those three and finishes."""
    index = make_index(dimension=3, shards=1)
    settings = dataclasses.replace(client.settings, batch_size=100)
    points = from_arrays(np.arange(1_000), np.ones((1_000, 3), np.float32), 3)
    publisher = BrokenAfter(client.publisher, 3)
    with pytest.raises(BrokerUnavailable) as caught:
        producing.enqueue(client.redis, publisher, index.info, points, settings)
    exc = caught.value
    assert exc.job_id is not None
    assert sorted(np.asarray(exc.enqueued_ids).tolist()) == list(range(300))
    job = UpsertJob(client.redis, exc.job_id, index.name, 300, 20).wait(20)
    assert (job.progress.total, job.progress.written) == (300, 300)
    assert set(job_state.batch_states(client.redis, exc.job_id)) == {r.seq for r in publisher.sent}
    stored = publisher.sent[-1].seq + 1  # the batch stored but never published
    assert not client.redis.exists(keys.blob(index.name, stored))
    assert job_state.inflight(client.redis, index.name) == 0
    assert index.count() == 300


def test_threads_making_the_publisher_app_at_once_get_one_app() -> None:
    """In a process that has not imported Celery yet, requests arriving together (vecq serve)
    all make the publisher's app at once: each gets the same app, none an ImportError."""
    code = """
import sys, threading
from vecq.api.publisher import CeleryPublisher
from vecq.shared.config.settings import Settings
assert "celery" not in sys.modules
publisher = CeleryPublisher(Settings(redis_url="redis://127.0.0.1:1/0"))
start, apps, errors = threading.Barrier(8), [], []
def make():
    start.wait()
    try:
        apps.append(publisher.app)
    except Exception as exc:
        errors.append(repr(exc))
threads = [threading.Thread(target=make) for _ in range(8)]
for t in threads: t.start()
for t in threads: t.join()
assert not errors, errors
assert len(apps) == 8 and len({id(a) for a in apps}) == 1
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
