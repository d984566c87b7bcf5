"""Proof that a call changed nothing: every vecq key of Redis with a digest of its value."""

from __future__ import annotations

import redis

from shared import keys


def snapshot(r: redis.Redis) -> dict[bytes, bytes | None]:
    """Every vecq key with a digest of its value, to prove a call changed nothing.

    The reaper's lock is left out: a running worker takes it now and then on its own.
    """
    out: dict[bytes, bytes | None] = {}
    for k in r.scan_iter(match="vecq:*"):
        if k != keys.reaper_lock().encode():
            out[k] = r.dump(k)
    return out
