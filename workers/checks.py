"""Start-up checks of a worker: refuse settings that lose batches, warn about a risky Redis."""

from __future__ import annotations

import logging
import time
from typing import Any

import redis

from vecq.shared.config.settings import Settings
from vecq.shared.errors import VecqError
from vecq.shared.redaction import redact_url
from vecq.shared.state.replies import texts

log = logging.getLogger(__name__)

# A worker started while Redis restarts or a sentinel fails over waits this long for it
# (Celery then keeps reconnecting to the broker on its own).
REDIS_START_WAIT = 60.0


def preflight(settings: Settings, r: redis.Redis, wait: float = REDIS_START_WAIT) -> list[str]:
    """Raise :class:`VecqError` for settings a worker must not run with; return warnings.

    Fatal: a visibility timeout not above the task time limit (Redis would hand a running
    batch to a second worker), or a Redis that does not answer within ``wait`` seconds (a
    restart or a Sentinel failover is waited out). Warnings, in server mode: a Redis that may
    evict keys (blobs and ledgers would vanish) or keeps nothing on disk (a restart loses
    every queued batch).
    """
    try:
        settings.check()  # the one home of the rules, the visibility timeout's among them
    except ValueError as exc:
        raise VecqError(f"refusing to start: {exc}") from None
    if settings.embedded:
        return []  # vecq configures its embedded Redis itself (AOF, no eviction)
    try:
        config = _redis_config(settings, r, wait)
    except redis.ResponseError:
        return [
            "could not read the Redis configuration (CONFIG is disabled): make sure it "
            "uses maxmemory-policy noeviction and AOF or RDB persistence"
        ]
    config = texts(config)
    warnings = []
    policy = config.get("maxmemory-policy") or "noeviction"
    if policy != "noeviction":
        warnings.append(
            f"Redis maxmemory-policy is {policy!r}: under memory pressure it may evict queued "
            "batches and job ledgers. Use noeviction (vecq then blocks or raises "
            "BrokerUnavailable instead of losing data)"
        )
    if config.get("appendonly") != "yes" and not (config.get("save") or "").strip():
        warnings.append(
            "Redis keeps nothing on disk (appendonly no, no save points): a restart loses "
            "every queued batch. Enable AOF (appendonly yes, appendfsync everysec)"
        )
    return warnings


def _redis_config(settings: Settings, r: redis.Redis, wait: float) -> dict[Any, Any]:
    """The Redis settings that matter, once Redis answers (for at most ``wait`` seconds)."""
    deadline = time.monotonic() + wait
    while True:
        try:
            config: dict[Any, Any] = {}
            for name in ("maxmemory-policy", "appendonly", "save"):  # one each: Redis 6 takes one
                config.update(r.config_get(name))
            return config
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            where = redact_url(settings.redis_url)
            if time.monotonic() >= deadline:
                raise VecqError(f"cannot reach Redis at {where} after {wait:g}s: {exc}") from None
            log.warning("waiting for Redis at %s: %s", where, exc)
            time.sleep(1.0)
