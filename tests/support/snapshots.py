"""Proof that a call changed nothing: every vecq key of Redis with a digest of its value."""

from __future__ import annotations

import redis

from vecq.shared import keys

# What running workers change on their own, whatever the call under test does: the
# reaper's lock, the fleet-wide sets it sweeps (it drops settled batches from the pending
# set, lets go of dead holders, finishes stopped jobs) and the workers' heartbeats. A call
# that enqueued anything would still show: its job, blobs, sequence and in-flight keys.
_BACKGROUND = {keys.reaper_lock(), keys.pending(), keys.holders(), keys.enqueuing()}
# The reaper also reclaims the marks of deletes and updates, in every index: what it notes
# and what it removes. A call that enqueued a delete or update still shows (its job, blob,
# sequence number and in-flight record).
_RECLAIMED = tuple(
    f"{keys.PREFIX}:{kind}:" for kind in ("reclaim", "tombs", "patches", "marks", "marked")
)


def snapshot(r: redis.Redis) -> dict[bytes, bytes | None]:
    """Every vecq key with a digest of its value, to prove a call changed nothing.

    Keys the workers change in the background (:data:`_BACKGROUND`, heartbeats) are left out.
    """
    wanted = []
    for k in r.scan_iter(match="vecq:*", count=1000):
        name = k.decode()
        background = name in _BACKGROUND or name.startswith(_RECLAIMED)
        if not background and not name.startswith(keys.workers_prefix()):
            wanted.append(k)
    out: dict[bytes, bytes | None] = {}
    for start in range(0, len(wanted), _DUMPS_PER_TRIP):
        part = wanted[start : start + _DUMPS_PER_TRIP]
        pipe = r.pipeline(transaction=False)
        for k in part:
            pipe.dump(k)
        out.update(zip(part, pipe.execute(), strict=True))
    return out


# DUMPs sent in one round trip: a suite leaves tens of thousands of keys in the test
# database, and one round trip each made a snapshot take seconds.
_DUMPS_PER_TRIP = 1000
