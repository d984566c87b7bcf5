"""How a worker paces its requests to a Qdrant server with the rest of the fleet.

Before each request the sink asks :meth:`Pacer.request` for permission: it waits its turn
in the index's write budget (if ``max_write_rate`` is set), then for one of the index's
request slots, both shared in Redis (``shared/state/pace.py``); afterwards it reports how the
request went, which moves the fleet's limit (AIMD). Now and then one worker looks at the
collection's optimizers for everyone (:meth:`Pacer.probe`). Only a server is paced:
Qdrant Edge and local mode live in the worker's own process.
"""

from __future__ import annotations

import logging
import random
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import redis

from vecq.shared.engines import Writer
from vecq.shared.engines.grpc_channel import TIMEOUT_SECONDS
from vecq.shared.state import pace
from vecq.shared.state.registry import IndexInfo
from vecq.workers import metrics, retry

log = logging.getLogger(__name__)

# The AIMD policy. Start at 4 requests in flight fleet-wide: two workers' worth of the
# default write concurrency, which a single Qdrant node takes without queueing. Halve on
# overload, the usual multiplicative decrease. Three times the latency floor counts as
# overload: one request queued behind two others doubles its latency without the server
# being in trouble. One cut per 2 s: every worker sees one overload at once, and the cut
# must show in the latency before the next one. At most 64 requests fleet-wide, far more
# than any node needs to be kept busy, and never fewer than one.
POLICY = pace.Aimd(
    lowest=1.0, highest=64.0, initial=4.0, decrease=0.5, latency_factor=3.0, cooldown=2.0
)
# Requests smaller than this give no latency sample: their fixed costs would read as slowness.
MIN_SAMPLE_POINTS = 64
# A slot is held at most as long as a request may take, so a worker killed holding one frees
# it within that time.
LEASE_SECONDS = TIMEOUT_SECONDS + 5.0
# Waiting for a slot: a first pause of 5 ms, doubling to 200 ms (polling Redis, jittered).
SLOT_WAIT_FIRST = 0.005
SLOT_WAIT_MAX = 0.2
# Seconds of budget a write-rate bucket holds: a second's worth may go at once.
BURST_SECONDS = 1.0
# How often the fleet looks at a collection's optimizers (one worker does, for all).
PROBE_SECONDS = 5.0


class PaceTimeout(TimeoutError):
    """No request slot came free in time (transient: the batch is retried later)."""


class Pacer:
    """Asks the fleet's shared pace before each request to a server, and reports after."""

    def __init__(
        self,
        redis_client: redis.Redis,
        *,
        policy: pace.Aimd = POLICY,
        sleep: Callable[[float], None] = time.sleep,
        slot_timeout: float = LEASE_SECONDS,
    ) -> None:
        self.redis = redis_client
        self.policy = policy
        self.sleep = sleep
        self.slot_timeout = slot_timeout
        self._probed: dict[str, float] = {}
        self._lock = threading.Lock()

    @contextmanager
    def request(self, info: IndexInfo, points: int) -> Iterator[None]:
        """Hold one of the index's request slots for the block; report how it went."""
        index = info.name
        wait = pace.reserve(self.redis, index, points, time.time(), BURST_SECONDS)
        if wait > 0:
            metrics.PACE_WAIT.labels(index, "rate").inc(wait)
            self.sleep(wait)
        token = self._take_slot(index)
        start = time.perf_counter()
        outcome = "error"
        try:
            yield
            outcome = "ok"
        except BaseException as exc:
            if retry.is_throttle(exc):
                outcome = "throttled"
                metrics.THROTTLED.labels(index).inc()
            raise
        finally:
            elapsed = time.perf_counter() - start
            sample = (
                elapsed * 1000 / points if outcome == "ok" and points >= MIN_SAMPLE_POINTS else None
            )
            try:
                pace.release(self.redis, index, token, time.time(), outcome, sample, self.policy)
            except redis.RedisError as exc:  # the lease frees the slot anyway
                log.warning("could not give back a request slot of %s: %s", index, exc)

    def _take_slot(self, index: str) -> str:
        token = uuid.uuid4().hex
        pause = SLOT_WAIT_FIRST
        started = time.monotonic()
        while True:
            taken, _ = pace.acquire(
                self.redis, index, token, time.time(), LEASE_SECONDS, self.policy.initial
            )
            if taken:
                waited = time.monotonic() - started
                if waited:
                    metrics.PACE_WAIT.labels(index, "slot").inc(waited)
                return token
            if time.monotonic() - started > self.slot_timeout:
                raise PaceTimeout(
                    f"no request slot of {index} came free in {self.slot_timeout:.0f}s "
                    "(the fleet's limit is in use)"
                )
            self.sleep(pause * random.uniform(0.5, 1.0))
            pause = min(pause * 2, SLOT_WAIT_MAX)

    def probe(self, info: IndexInfo, engine: Writer) -> None:
        """Look at the collection's optimizers if it is this worker's turn (every few seconds)."""
        now = time.monotonic()
        with self._lock:
            if now < self._probed.get(info.name, 0.0):
                return
            self._probed[info.name] = now + PROBE_SECONDS
        try:
            if not pace.claim_probe(self.redis, info.name, PROBE_SECONDS):
                return
            state = engine.backlog(info)
            if state is None:
                return
            backlog, status = state
            pace.record_backlog(self.redis, info.name, backlog, status, time.time(), self.policy)
        except Exception as exc:  # a look that fails must not fail the write
            log.info("could not look at %s's optimizers: %r", info.collection, exc)
