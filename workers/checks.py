"""Start-up checks of a worker: refuse settings that lose batches, warn about a risky Redis."""

from __future__ import annotations

from typing import Any

import redis

from shared.errors import VecqError
from shared.replies import texts
from shared.settings import Settings


def preflight(settings: Settings, r: redis.Redis) -> list[str]:
    """Raise :class:`VecqError` for settings a worker must not run with; return warnings.

    Fatal: a visibility timeout not above the task time limit (Redis would hand a running
    batch to a second worker). Warnings, in server mode: a Redis that may evict keys (blobs
    and ledgers would vanish) or keeps nothing on disk (a restart loses every queued batch).
    """
    try:
        settings.check()  # the one home of the rules, the visibility timeout's among them
    except ValueError as exc:
        raise VecqError(f"refusing to start: {exc}") from None
    if settings.embedded:
        return []  # vecq configures its embedded Redis itself (AOF, no eviction)
    try:
        config: dict[Any, Any] = {}
        for name in ("maxmemory-policy", "appendonly", "save"):  # one each: Redis 6 takes one
            config.update(r.config_get(name))
    except redis.ResponseError:
        return ["could not read the Redis configuration (CONFIG is disabled): make sure it "
                "uses maxmemory-policy noeviction and AOF or RDB persistence"]  # fmt: skip
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
