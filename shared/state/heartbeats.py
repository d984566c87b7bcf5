"""Workers announce themselves: a key per worker with a short expiry, renewed by a thread.

A batch is held by the worker processing it (``shared/ledger.delivered`` records it); if
that worker's heartbeat lapses, the worker is dead (killed, out of memory, its host lost)
and the reaper publishes its batches again. A slow worker keeps beating, so its batches are
never taken from it. ``vecq status`` lists the live workers from the same keys.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterable
from typing import Any

import redis

from vecq.shared import keys
from vecq.shared.state.replies import text

log = logging.getLogger(__name__)

# How often a worker renews its heartbeat.
BEAT_SECONDS = 2.0
# How long a heartbeat lasts unrenewed: five missed renewals. A worker silent this long is
# dead (a live one renews from a thread of its own, even while it writes), so this, plus
# a sweep of the reaper, is how soon a dead worker's batch is written again.
TTL_SECONDS = 10.0


def new_worker_id() -> str:
    """A unique id for this worker process: host, pid and a random part."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def beat(r: redis.Redis, worker_id: str, info: dict[str, Any]) -> None:
    """Announce ``worker_id`` alive for :data:`TTL_SECONDS`, with what it says of itself."""
    r.set(keys.worker(worker_id), json.dumps(info), px=int(TTL_SECONDS * 1000))


def alive(r: redis.Redis, worker_ids: Iterable[str]) -> set[str]:
    """The ones among ``worker_ids`` whose heartbeat has not lapsed."""
    ids = sorted(set(worker_ids))
    pipe = r.pipeline(transaction=False)
    for worker_id in ids:
        pipe.exists(keys.worker(worker_id))
    return {w for w, present in zip(ids, pipe.execute(), strict=True) if present}


def live(r: redis.Redis) -> dict[str, dict[str, Any]]:
    """Every live worker's id and what it says of itself (host, pid, engine, queues)."""
    found = sorted(r.scan_iter(match=keys.workers_prefix() + "*", count=500))
    values = r.mget(found) if found else []
    prefix = len(keys.workers_prefix())
    return {
        text(k)[prefix:]: json.loads(v) for k, v in zip(found, values, strict=True) if v is not None
    }


class Heartbeat:
    """A daemon thread renewing one worker's heartbeat until :meth:`stop`."""

    def __init__(self, r: redis.Redis, worker_id: str, info: dict[str, Any]) -> None:
        self._r = r
        self.worker_id = worker_id
        self._info = {**info, "since": time.time()}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="vecq-heartbeat", daemon=True)

    def start(self) -> Heartbeat:
        """Announce now, then keep announcing; returns at once."""
        try:
            beat(self._r, self.worker_id, self._info)
        except redis.RedisError as exc:  # the thread keeps trying
            log.warning("heartbeat: cannot reach Redis: %s", exc)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop beating and withdraw the heartbeat (best effort: it lapses anyway)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(5)
        with contextlib.suppress(redis.RedisError):
            self._r.delete(keys.worker(self.worker_id))

    def _run(self) -> None:
        while not self._stop.wait(BEAT_SECONDS):
            try:
                beat(self._r, self.worker_id, self._info)
            except redis.RedisError as exc:  # Redis down: batches cannot settle either
                log.warning("heartbeat: cannot reach Redis: %s", exc)
