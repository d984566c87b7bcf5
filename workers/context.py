"""What a worker's tasks share: its Redis client, its Qdrant sink, settings, a registry cache."""

from __future__ import annotations

import contextlib
import os
import threading
import time
from dataclasses import dataclass, field

import redis

from vecq.shared.config.settings import Settings
from vecq.shared.state import heartbeats, pending, registry
from vecq.shared.state.registry import IndexInfo
from vecq.workers import retry
from vecq.workers.sink import QdrantSink
from vecq.workers.stage_clock import StageClock

# How long a worker trusts its cached copy of a registry entry. Entries never change, so this
# only bounds how long a deleted index can still be written to by a stale cache.
REGISTRY_CACHE_SECONDS = 5.0


@dataclass
class WorkerContext:
    """What a worker needs to process batches: Redis, the sink, settings, a registry cache."""

    redis: redis.Redis
    sink: QdrantSink
    settings: Settings = field(default_factory=Settings)
    worker_id: str = field(default_factory=heartbeats.new_worker_id)
    """Who this process is to the fleet: it holds the batches it processes under this id."""
    heartbeat: heartbeats.Heartbeat | None = None
    _cache: dict[str, tuple[IndexInfo, float]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def announce(self) -> WorkerContext:
        """Start this worker's heartbeat (``vecq worker`` and in-process workers do)."""
        info = {
            "host": self.worker_id.split(":")[0],
            "pid": os.getpid(),
            "engine": self.settings.engine,
        }
        self.heartbeat = heartbeats.Heartbeat(self.redis, self.worker_id, info).start()
        return self

    def close(self) -> None:
        """Stop the heartbeat and let go of any batch still held: the worker stops cleanly."""
        if self.heartbeat is not None:
            self.heartbeat.stop()
        with contextlib.suppress(redis.RedisError):
            pending.release_worker(self.redis, self.worker_id)

    @property
    def clock(self) -> StageClock:
        """Seconds spent per stage (shared with the sink, which times encode and sink)."""
        return self.sink.clock

    @property
    def max_deliveries(self) -> int:
        """Deliveries of one batch after which it is dead-lettered instead of processed."""
        return self.settings.task_retries + 1 + retry.EXTRA_DELIVERIES

    def index_info(self, name: str, *, fresh: bool = False) -> IndexInfo:
        """The registry entry of ``name``, cached briefly unless ``fresh``."""
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get(name)
        if hit is not None and not fresh and now - hit[1] < REGISTRY_CACHE_SECONDS:
            return hit[0]
        info = retry.call(lambda: registry.get(self.redis, name))
        with self._lock:
            self._cache[name] = (info, now)
        return info
