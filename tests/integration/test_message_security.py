"""Workers accept JSON batch references only: pickle and other content never run."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from tests.support.clients import worker_client
from vecq import Client, Index
from vecq.shared import keys
from vecq.shared.state import deadletters

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def client(redis_url: str, engine: str) -> Iterator[Client]:
    """The usual worker client, but every upsert takes the bulk queue (no live lane), so a
    message sent to that queue before an upsert is handled before it (FIFO)."""
    with worker_client(redis_url, engine, live_max_vectors=0) as c:
        yield c


class Exploit:
    """Unpickling this creates a file: proof that a worker deserialised pickle."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self) -> tuple[object, tuple[str, str]]:
        return (open, (str(self.path), "w"))


def _drain(index: Index) -> None:
    """Upsert and wait: the bulk queue is FIFO, so earlier messages have been handled by then."""
    index.upsert(np.array([1]), np.ones((1, index.dimension), np.float32), timeout=30)


def test_pickled_task_is_refused_and_never_unpickled(
    client: Client, make_index: Callable[..., Index], tmp_path: Path
) -> None:
    """A pickle-serialised task is dropped by the worker without being deserialised."""
    index = make_index()
    marker = tmp_path / "pwned"
    app = client.celery  # the producer's Celery app
    app.send_task(
        keys.TASK_UPSERT_BATCH, args=[Exploit(marker)], queue=keys.QUEUE_BULK, serializer="pickle"
    )
    _drain(index)
    time.sleep(0.2)
    assert not marker.exists()


def test_non_json_task_is_refused(client: Client, make_index: Callable[..., Index]) -> None:
    """A YAML-typed message is refused before any vecq code sees it; the worker carries on."""
    index = make_index()
    app = client.celery
    with app.producer_or_acquire() as producer:
        producer.publish(
            b"!!python/object/apply:os.system ['true']",
            routing_key=keys.QUEUE_BULK,
            content_type="application/x-yaml",
            content_encoding="utf-8",
            headers={"task": keys.TASK_UPSERT_BATCH, "id": "yaml-1", "argsrepr": "", "lang": "py"},
        )
    _drain(index)
    assert index.count() == 1


def test_json_message_that_is_not_a_batch_reference_is_dead_lettered(
    client: Client, make_index: Callable[..., Index]
) -> None:
    """Valid JSON of the wrong shape is kept in the DLQ as a message, nothing is written."""
    index = make_index()
    before = deadletters.depth(client.redis)
    client.celery.send_task(
        keys.TASK_UPSERT_BATCH, args=[{"index": index.name, "blob": "vecq:index:x"}]
    )
    _drain(index)
    assert deadletters.depth(client.redis) == before + 1
    letter = deadletters.entries(client.redis)[-1]
    assert letter.kind == "message" and "version" in letter.reason


@pytest.mark.parametrize(
    "body", [{"not": "a task"}, [1, 2], [[{"v": 1}]], "just text", [[], {}, {}, "x"], [[], {}, {}]]
)
def test_a_json_body_that_is_not_a_celery_task_is_dead_lettered_and_the_worker_goes_on(
    client: Client, make_index: Callable[..., Index], body: object
) -> None:
    """A JSON message under vecq's task name whose body is not Celery's (args, kwargs,
    embed) would stop every worker that takes it; it is dead-lettered with what was wrong,
    acknowledged, and the worker goes on writing."""
    index = make_index()
    before = deadletters.depth(client.redis)
    with client.celery.producer_or_acquire() as producer:
        producer.publish(
            body,
            routing_key=keys.QUEUE_BULK,
            serializer="json",
            headers={"task": keys.TASK_UPSERT_BATCH, "id": "malformed-1", "argsrepr": ""},
        )
    _drain(index)
    assert index.count() == 1
    assert deadletters.depth(client.redis) == before + 1
    letter = deadletters.entries(client.redis)[-1]
    assert letter.kind == "message" and "not a Celery task message" in letter.reason


def test_a_malformed_message_on_the_live_queue_is_dead_lettered_too(
    client: Client, make_index: Callable[..., Index]
) -> None:
    """The live lane reads its own queue; a body that is no task message is dead-lettered
    there as well, and the lane goes on serving small upserts."""
    index = make_index()
    before = deadletters.depth(client.redis)
    with client.celery.producer_or_acquire() as producer:
        producer.publish(
            {"not": "a task"},
            routing_key=keys.QUEUE_LIVE,
            serializer="json",
            headers={"task": keys.TASK_UPSERT_BATCH, "id": "malformed-live", "argsrepr": ""},
        )
    deadline = time.monotonic() + 30
    while deadletters.depth(client.redis) == before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert deadletters.depth(client.redis) == before + 1
    _drain(index)
    assert index.count() == 1
