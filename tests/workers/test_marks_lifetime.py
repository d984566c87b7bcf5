"""How long the marks of deletes and updates live: kept while an older write can arrive
(in flight, being enqueued, or dead-lettered and replayable), then reclaimed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import redis

from tests.support import broker
from tests.support.engines import ENGINES
from tests.support.ordering import stored, vectors
from tests.support.workers import Deliver
from vecq import Client, Index
from vecq.shared import keys
from vecq.shared.config.settings import Settings
from vecq.shared.state import marks
from vecq.shared.wire.messages import BatchRef
from vecq.workers.context import WorkerContext

pytestmark = [pytest.mark.integration, pytest.mark.engines(*ENGINES)]


def test_marks_are_reclaimed_once_nothing_older_can_arrive(
    index: Index, r: redis.Redis, deliver: Deliver
) -> None:
    """Tombstones and patches stay while an older batch is in flight, then are reclaimed."""
    index.upsert([1, 2], vectors(2, 1.0), wait=False)
    index.delete([1], wait=False)
    index.update_metadata([(2, {"a": 1})], wait=False)
    upsert, delete, update = broker.take(r)
    assert deliver(delete) == "written"
    assert deliver(update) == "deferred"
    assert marks.held(r, index.name).tombstones == 1
    assert marks.reclaim(r, index.name, after=0) == 0  # notes the watermark
    assert marks.reclaim(r, index.name, after=0) == 0  # the upsert is older and in flight
    assert deliver(upsert) == "written"
    assert deliver(update) == "written"
    marks.reclaim(r, index.name, after=0)  # notes the new watermark
    assert marks.reclaim(r, index.name, after=0) == 2
    held = marks.held(r, index.name)
    assert (held.tombstones, held.patches, held.batches) == (0, 0, 0)
    assert stored(index) == {2: (1.0, {"a": 1})}


def test_marks_wait_for_the_grace_period(index: Index, r: redis.Redis, deliver: Deliver) -> None:
    """A worker may still be writing a batch it fetched before the watermark moved: marks
    outlive the watermark by ``after`` seconds."""
    index.delete([1], wait=False)
    deliver(*broker.take(r))
    marks.reclaim(r, index.name, after=60, now=1000.0)
    assert marks.reclaim(r, index.name, after=60, now=1059.0) == 0
    assert marks.reclaim(r, index.name, after=60, now=1060.0) == 1


def test_a_dead_lettered_older_batch_holds_the_marks(
    index: Index, r: redis.Redis, deliver: Deliver, producer_ctx: WorkerContext
) -> None:
    """A dead letter may be replayed: the deletes after it keep their tombstones, and a replay
    of it leaves the deleted id deleted."""
    from tests.support.qdrant_faults import poisonable
    from vecq.shared.state import deadletters

    index.upsert([1, 2], vectors(2, 1.0), wait=False)
    index.delete([1], wait=False)
    upsert, delete = broker.take(r)
    with poisonable(producer_ctx.sink) as flaky:
        flaky.poison = {1, 2}
        # id 1 is left out (the newer delete wins); Qdrant rejects id 2: a dead letter
        assert deliver(upsert) == "partial"
    assert deliver(delete) == "written"
    marks.reclaim(r, index.name, after=0)
    assert marks.reclaim(r, index.name, after=0) == 0
    assert marks.held(r, index.name).tombstones == 1
    (letter,) = deadletters.entries(r, index=index.name)
    assert letter.ids == [2]
    published: list[BatchRef] = []
    deadletters.replay(r, published.append, letter.entry_id)
    assert deliver(published[0].to_message()) == "written"
    assert stored(index) == {2: (1.0, {})}


def test_an_interrupted_delete_leaves_no_marks_for_what_it_did_not_enqueue(
    producer: Client, index: Index, r: redis.Redis, tmp_path: Path
) -> None:
    """The broker fails after the first batch: the batches never published leave no
    tombstones (an older upsert of those ids must still land)."""
    from vecq.api import producer as producer_module
    from vecq.shared.errors import BrokerUnavailable
    from vecq.shared.points.validation import deletions

    class FailsAfterOne:
        def __init__(self) -> None:
            self.sent = 0

        def publish(self, ref: Any, queue: str = keys.QUEUE_BULK) -> None:
            if self.sent:
                raise BrokerUnavailable("the broker went away")
            producer.publisher.publish(ref, queue)
            self.sent += 1

        def close(self) -> None:
            pass

    settings = Settings(batch_size=2)
    with pytest.raises(BrokerUnavailable) as caught:
        producer_module.enqueue(
            producer.redis, FailsAfterOne(), index.info, deletions([1, 2, 3, 4, 5, 6]), settings
        )
    assert sorted(caught.value.enqueued_ids.tolist()) == [1, 2]
    found = marks.lookup(r, index.name, ["1", "2", "3", "4", "5", "6"])
    assert sorted(found) == ["1", "2"]
    assert marks.held(r, index.name).batches == 1
