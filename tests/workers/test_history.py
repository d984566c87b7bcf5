"""Random histories of upserts, deletes and metadata updates, delivered in a random order.

A producer enqueues a random mix of calls on a small universe of integer and string ids;
their messages are delivered in a shuffled order, some twice, some dead-lettered and
replayed later, deferred ones again after the rest. Then a Jepsen-style check compares
what the engine holds with every call applied in call order: nothing lost, stale,
phantom or resurrected, and each update's not-found report right.
"""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import pytest
import redis

from tests.support import broker
from tests.support.engines import WITH_SERVER, held_points
from tests.support.history import History
from tests.support.qdrant_faults import poisonable
from tests.support.workers import Deliver
from vecq import Index, UpsertError, UpsertJob
from vecq.shared.state import deadletters
from vecq.shared.wire.messages import BatchRef
from vecq.workers.context import WorkerContext

pytestmark = [pytest.mark.integration, pytest.mark.engines(*WITH_SERVER)]

UNIVERSE: list[int | str] = [*range(24), *(f"doc-{i}" for i in range(16))]


def _calls(
    index: Index, history: History, rng: random.Random, n: int
) -> list[tuple[int, UpsertJob]]:
    """Send ``n`` random calls with wait=False; return (call number, job) for each."""
    jobs = []
    for _ in range(n):
        ids = rng.sample(UNIVERSE, rng.randint(1, 8))
        kind = rng.choice(["upsert", "upsert", "delete", "update"])
        call = history.calls + 1
        if kind == "upsert":
            vectors = np.full((len(ids), 4), float(call), dtype=np.float32)
            metadata = [{"t": call, "u": 0} for _ in ids]
            history.sent(ids, vectors[:, 0], metadata)
            job = index.upsert(ids, vectors, metadata=metadata, wait=False)
        elif kind == "delete":
            history.deleted(ids)
            job = index.delete(ids, wait=False)
        else:
            patch: dict[str, Any] = rng.choice([{"u": call}, {"w": call}, {"u": None}])
            history.updated(ids, patch)
            job = index.update_metadata([{"id": i, "metadata": patch} for i in ids], wait=False)
        jobs.append((call, job))
    return jobs


def _deliver_shuffled(
    deliver: Deliver, messages: list[dict[str, Any]], rng: random.Random, poisoned: Any
) -> None:
    """Deliver every message in a random order, some twice; a few while their ids are
    poisoned (dead-lettered); deferred ones again after the rest, until none waits."""
    pending = list(messages)
    rng.shuffle(pending)
    rounds = 0
    while pending:
        rounds += 1
        assert rounds < 50, "updates still deferred after 50 rounds"
        waiting = []
        for message in pending:
            poisoned.poison = set(rng.sample(range(24), 2)) if rng.random() < 0.1 else set()
            result = deliver(message)
            poisoned.poison = set()
            if result == "deferred":
                waiting.append(message)
            elif rng.random() < 0.2:
                deliver(message)  # a redelivery: changes nothing
        pending = waiting


def _replay_dead_letters(r: redis.Redis, index: Index, deliver: Deliver) -> int:
    replayed = 0
    for letter in deadletters.entries(r, index=index.name):
        published: list[BatchRef] = []
        deadletters.replay(r, published.append, letter.entry_id)
        for ref in published:
            assert deliver(ref.to_message()) != "deferred"
        replayed += 1
    return replayed


@pytest.mark.parametrize("seed", range(4))
def test_a_random_history_ends_as_its_calls_in_order(
    index: Index, r: redis.Redis, deliver: Deliver, producer_ctx: WorkerContext, seed: int
) -> None:
    """60 random calls, delivered shuffled, duplicated, dead-lettered and replayed: the
    engine ends holding exactly what the calls leave in call order."""
    rng = random.Random(seed)
    history = History()
    jobs = _calls(index, history, rng, 60)
    with poisonable(producer_ctx.sink) as poisoned:
        _deliver_shuffled(deliver, broker.take(r), rng, poisoned)
    _replay_dead_letters(r, index, deliver)
    for call, job in jobs:
        try:
            job.wait(10)
        except UpsertError as exc:
            if job.op == "update":
                history.reported_not_found(call, exc.failed_ids)
        history.acknowledge(
            call, [i for i, events in history.events.items() if any(e.call == call for e in events)]
        )
    report = history.check(held_points(producer_ctx.sink.engine, index.info))
    assert report.ok, report.summary()
    assert report.checked == len(history.events)
