"""The fleet-wide pace of writes into an index's collection, kept in Redis.

Every worker on every host writing to one collection shares three things, so that the
fleet as a whole backs off when Qdrant says it has had enough:

- a **limit** of requests in flight (AIMD: cut on 429/RESOURCE_EXHAUSTED, on latency
  rising well above its floor, or while the optimizers' backlog grows; grows by about one
  slot per limit's worth of good requests), held as slots with leases
  (``pace_acquire``/``pace_release``);
- an optional **write rate** in points/s (``max_write_rate``), a token bucket that every
  request draws from before it is sent (``pace_tokens``), so a backfill leaves the server
  room for searches;
- the last look at the collection's **optimizers** (``pace_backlog``), taken by one worker
  at a time for all.

The policy's numbers are the caller's (``workers/pacer.py``); this module only keeps the
state. :func:`read` serves ``vecq status`` and the metrics.
"""

from __future__ import annotations

from dataclasses import dataclass

import redis

from vecq.shared import keys
from vecq.shared.state.replies import text
from vecq.shared.state.scripts import Lua

_ACQUIRE = Lua("pace_acquire")
_RELEASE = Lua("pace_release")
_TOKENS = Lua("pace_tokens")
_BACKLOG = Lua("pace_backlog")


@dataclass(frozen=True)
class Aimd:
    """How the limit moves: its bounds, the cut, what counts as overload, and how often."""

    lowest: float = 1.0
    highest: float = 64.0
    initial: float = 4.0
    decrease: float = 0.5
    latency_factor: float = 3.0
    cooldown: float = 2.0


@dataclass(frozen=True)
class Pace:
    """One index's pace as the fleet shares it."""

    index: str
    limit: float
    in_flight: int
    max_write_rate: float | None
    latency_ms: float | None
    """Moving average of the write latency, milliseconds per point."""
    floor_ms: float | None
    throttles: int
    """Requests Qdrant refused for load (429 / RESOURCE_EXHAUSTED), ever."""
    cuts: int
    backlog: int | None
    """Points the collection's optimizers had still to process at the last look."""
    status: str | None
    """The collection's status at the last look (green, yellow, grey, red)."""

    def as_dict(self) -> dict[str, object]:
        """JSON-ready fields (``vecq status --json``)."""
        return dict(self.__dict__)

    def describe(self) -> str:
        """One line for ``vecq status``."""
        parts = [
            f"limit {self.limit:.1f} requests, {self.in_flight} in flight"
            if self.limit
            else "no request sent yet"
        ]
        if self.max_write_rate:
            parts.append(f"max {self.max_write_rate:,.0f} points/s")
        if self.latency_ms is not None and self.floor_ms is not None:
            parts.append(
                f"{self.latency_ms * 1000:.0f} µs/point (floor {self.floor_ms * 1000:.0f})"
            )
        if self.throttles:
            parts.append(f"{self.throttles} throttled")
        if self.backlog is not None:
            parts.append(f"optimizer backlog {self.backlog:,} points ({self.status})")
        return ", ".join(parts)


def acquire(
    r: redis.Redis, index: str, token: str, now: float, lease: float, initial: float
) -> tuple[bool, float]:
    """Take a request slot if the fleet holds fewer than the limit: (taken, limit)."""
    taken, limit, _ = _ACQUIRE(
        r,
        {"pace": keys.pace(index), "slots": keys.pace_slots(index)},
        {"token": token, "now": now, "lease": lease, "initial": initial},
    )
    return bool(int(taken)), float(text(limit))


def release(
    r: redis.Redis,
    index: str,
    token: str,
    now: float,
    outcome: str,
    latency_ms: float | None,
    policy: Aimd,
) -> float:
    """Give the slot back with the request's ``outcome`` (ok, throttled, error); the new limit."""
    if outcome not in ("ok", "throttled", "error"):
        raise ValueError(f"outcome {outcome!r}")
    limit = _RELEASE(
        r,
        {"pace": keys.pace(index), "slots": keys.pace_slots(index)},
        {
            "token": token,
            "now": now,
            "outcome": outcome,
            "latency": "" if latency_ms is None else repr(latency_ms),
            "lowest": policy.lowest,
            "highest": policy.highest,
            "decrease": policy.decrease,
            "factor": policy.latency_factor,
            "cooldown": policy.cooldown,
        },
    )
    return float(text(limit))


def reserve(r: redis.Redis, index: str, points: int, now: float, burst: float) -> float:
    """Draw ``points`` from the index's write budget: seconds to wait before sending (0: none)."""
    wait = _TOKENS(r, {"pace": keys.pace(index)}, {"points": points, "now": now, "burst": burst})
    return float(text(wait))


def record_backlog(
    r: redis.Redis, index: str, backlog: int, status: str, now: float, policy: Aimd
) -> float:
    """Record a look at the optimizers (cutting the limit while they fall behind); the limit."""
    limit = _BACKLOG(
        r,
        {"pace": keys.pace(index)},
        {
            "backlog": backlog,
            "status": status,
            "now": now,
            "lowest": policy.lowest,
            "decrease": policy.decrease,
            "cooldown": policy.cooldown,
        },
    )
    return float(text(limit))


def claim_probe(r: redis.Redis, index: str, seconds: float) -> bool:
    """True for the one caller that should look at the optimizers for the next ``seconds``."""
    return bool(r.set(keys.pace_probe(index), "1", nx=True, px=max(1, int(seconds * 1000))))


def set_max_write_rate(r: redis.Redis, index: str, rate: float | None) -> None:
    """Cap the index's writes at ``rate`` points/s fleet-wide (``None`` or 0: no cap)."""
    if rate is not None and rate < 0:
        raise ValueError(f"max_write_rate must be >= 0 points/s, not {rate}")
    if rate:
        r.hset(keys.pace(index), "rate", repr(float(rate)))
    else:
        r.hdel(keys.pace(index), "rate", "tokens", "stamp")


def read(r: redis.Redis, index: str, now: float) -> Pace | None:
    """The index's pace, or ``None`` if nothing has been written to a server for it."""
    pipe = r.pipeline(transaction=False)
    pipe.hgetall(keys.pace(index))
    pipe.zcount(keys.pace_slots(index), now, "+inf")
    fields, in_flight = pipe.execute()
    if not fields:
        return None
    got = {text(k): text(v) for k, v in fields.items()}

    def number(name: str) -> float | None:
        return float(got[name]) if name in got else None

    backlog = number("backlog")
    return Pace(
        index=index,
        limit=number("limit") or 0.0,
        in_flight=int(in_flight),
        max_write_rate=number("rate"),
        latency_ms=number("latency"),
        floor_ms=number("floor"),
        throttles=int(got.get("throttles", 0)),
        cuts=int(got.get("cuts", 0)),
        backlog=int(backlog) if backlog is not None else None,
        status=got.get("status"),
    )
