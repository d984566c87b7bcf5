"""The state of a vecq deployment at a glance, read from Redis and the broker.

One :func:`read` serves ``vecq status``, the API's ``/metrics`` and the workers' metrics:
queue depths, the dead-letter queue, batches in flight, each index's in-flight bytes and
the most recent jobs. :class:`ClusterCollector` serves a snapshot's gauges to a Prometheus
registry (prometheus_client is imported only when it collects).
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import redis

from vecq.shared import keys
from vecq.shared.state import heartbeats, job_state, pace, pending, registry
from vecq.shared.state.job_state import JobState
from vecq.shared.state.pace import Pace
from vecq.shared.state.replies import text

log = logging.getLogger(__name__)

# Queues vecq publishes to.
QUEUES = (keys.QUEUE_LIVE, keys.QUEUE_BULK)


@dataclass(frozen=True)
class Snapshot:
    """What is queued, in flight and dead-lettered right now."""

    taken_at: float
    queues: dict[str, int | None]
    """Messages waiting in each queue (``None``: the broker could not say)."""
    dlq: int
    pending: int
    """Batches enqueued and not yet settled, across every index."""
    inflight_bytes: dict[str, int]
    jobs: list[JobState] = field(default_factory=list)
    workers: list[dict[str, Any]] = field(default_factory=list)
    """Live workers by their heartbeats: id, host, pid, engine, since, and batches holding."""
    paces: dict[str, Pace] = field(default_factory=dict)
    """The fleet's pace of writes into each index's collection on a server
    (``shared/state/pace.py``)."""
    held_marks: dict[str, tuple[int, int]] = field(default_factory=dict)
    """Index -> (dead letters holding back its marks, marks of deletes and updates kept):
    an unreplayed dead letter keeps every later mark of its index until replayed or purged."""


def queue_depths(app: Any, queues: tuple[str, ...] = QUEUES) -> dict[str, int | None]:
    """Messages waiting in each queue, asked of the broker through a Celery ``app``.

    A passive declare works on every kombu transport (Redis: the list's length; RabbitMQ:
    the queue's message count). A queue that does not exist yet holds nothing.
    """
    depths: dict[str, int | None] = {}
    with app.connection_for_read() as conn:
        channel = conn.default_channel
        for name in queues:
            try:
                depths[name] = int(channel.queue_declare(queue=name, passive=True).message_count)
            except Exception as exc:  # amqp: NOT_FOUND closes the channel; the queue is empty
                if "NOT_FOUND" not in repr(exc) and "404" not in repr(exc):
                    depths[name] = None
                    continue
                depths[name] = 0
                channel = conn.channel()
    return depths


def list_depths(r: redis.Redis, queues: tuple[str, ...] = QUEUES) -> dict[str, int | None]:
    """Messages waiting in each queue of a Redis broker, without Celery: a queue is one list
    of its name (vecq's Celery config has one priority step, so no per-priority lists)."""
    pipe = r.pipeline(transaction=False)
    for name in queues:
        pipe.llen(name)
    return {name: int(n) for name, n in zip(queues, pipe.execute(), strict=True)}


def recent_jobs(r: redis.Redis, limit: int = 10) -> list[JobState]:
    """The newest ``limit`` jobs still in the ledger, newest first."""
    ids: list[bytes] = r.zrevrange(keys.jobs(), 0, max(limit - 1, 0))  # type: ignore[assignment]  # redis-py types every reply as a union
    states = [job_state.read(r, text(i)) for i in ids]
    return [s for s in states if s is not None]


def read(
    r: redis.Redis, depths: Callable[[], dict[str, int | None]] | None = None, jobs: int = 10
) -> Snapshot:
    """A snapshot; ``depths`` asks the broker for queue depths (see :func:`queue_depths`)."""
    names = registry.names(r)
    pipe = r.pipeline(transaction=False)
    pipe.xlen(keys.dlq())
    pipe.zcard(keys.pending())
    for name in names:
        pipe.get(keys.inflight(name))
    for name in names:
        pipe.zcard(keys.held_seqs(name))
        pipe.hlen(keys.tombstones(name))
        pipe.hlen(keys.patches(name))
    dlq, in_flight, *rest = pipe.execute()
    inflight, counts = rest[: len(names)], rest[len(names) :]
    held_marks = {
        name: (int(counts[3 * i]), int(counts[3 * i + 1]) + int(counts[3 * i + 2]))
        for i, name in enumerate(names)
        if int(counts[3 * i]) and int(counts[3 * i + 1]) + int(counts[3 * i + 2])
    }
    holding = Counter(pending.holders(r).values())
    workers = [
        {"id": worker_id, **info, "holding": holding.get(worker_id, 0)}
        for worker_id, info in heartbeats.live(r).items()
    ]
    now = time.time()
    paces = {n: p for n in names if (p := pace.read(r, n, now)) is not None}
    return Snapshot(
        taken_at=now,
        queues=depths() if depths is not None else dict.fromkeys(QUEUES),
        dlq=int(dlq),
        pending=int(in_flight),
        inflight_bytes={n: int(b or 0) for n, b in zip(names, inflight, strict=True)},
        jobs=recent_jobs(r, jobs) if jobs else [],
        workers=workers,
        paces=paces,
        held_marks=held_marks,
    )


Gauge = tuple[str, str, tuple[str, ...], list[tuple[tuple[str, ...], float]]]


def gauges(s: Snapshot) -> list[Gauge]:
    """``(name, help, label names, [(label values, value)])`` for each gauge of ``s``."""
    return [
        (
            "vecq_queue_depth",
            "Messages waiting in each vecq queue.",
            ("queue",),
            [((q,), float(d)) for q, d in s.queues.items() if d is not None],
        ),
        ("vecq_dlq_depth", "Entries in the dead-letter stream.", (), [((), float(s.dlq))]),
        (
            "vecq_marks_held_by_dead_letters",
            "Marks of deletes and updates an index keeps because a dead letter may be replayed.",
            ("index",),
            [((n,), float(kept)) for n, (_, kept) in s.held_marks.items()],
        ),
        (
            "vecq_pending_batches",
            "Batches enqueued and not yet settled.",
            (),
            [((), float(s.pending))],
        ),
        ("vecq_workers", "Workers whose heartbeat is live.", (), [((), float(len(s.workers)))]),
        (
            "vecq_inflight_bytes",
            "Bytes of each index's batches enqueued and not yet settled.",
            ("index",),
            [((n,), float(b)) for n, b in s.inflight_bytes.items()],
        ),
        (
            "vecq_pace_limit",
            "The fleet's limit of requests in flight to each index's collection.",
            ("index",),
            [((n,), p.limit) for n, p in s.paces.items()],
        ),
        (
            "vecq_pace_in_flight",
            "Requests in flight to each index's collection, fleet-wide.",
            ("index",),
            [((n,), float(p.in_flight)) for n, p in s.paces.items()],
        ),
        (
            "vecq_pace_max_write_rate",
            "Each index's write budget in points/s (absent: none).",
            ("index",),
            [((n,), p.max_write_rate) for n, p in s.paces.items() if p.max_write_rate],
        ),
        (
            "vecq_pace_latency_seconds_per_point",
            "Moving average of the write latency per point.",
            ("index",),
            [((n,), p.latency_ms / 1000) for n, p in s.paces.items() if p.latency_ms is not None],
        ),
        (
            "vecq_pace_optimizer_backlog_points",
            "Points the collection's optimizers had still to process at the fleet's last look.",
            ("index",),
            [((n,), float(p.backlog)) for n, p in s.paces.items() if p.backlog is not None],
        ),
        (
            "vecq_pace_throttled",
            "Requests Qdrant refused for load, fleet-wide, ever.",
            ("index",),
            [((n,), float(p.throttles)) for n, p in s.paces.items()],
        ),
    ]


class ClusterCollector:
    """A Prometheus collector of the deployment's gauges, read from Redis at each scrape.

    Register it on a ``prometheus_client`` registry; ``depths`` asks the broker for queue
    depths (see :func:`queue_depths`).
    """

    def __init__(self, r: redis.Redis, depths: Callable[[], dict[str, int | None]]) -> None:
        self._redis = r
        self._depths = depths

    def collect(self) -> Iterator[Any]:
        """One ``GaugeMetricFamily`` per gauge; nothing when Redis cannot be read."""
        from prometheus_client.core import GaugeMetricFamily

        try:
            snapshot = read(self._redis, self._depths, jobs=0)
        except Exception as exc:  # a scrape must not fail because Redis blinked
            log.warning("metrics: cannot read vecq's state from Redis: %s", exc)
            return
        for name, doc, labels, samples in gauges(snapshot):
            family = GaugeMetricFamily(name, doc, labels=list(labels))
            for values, value in samples:
                family.add_metric(list(values), value)
            yield family
