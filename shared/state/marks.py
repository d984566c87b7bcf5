"""Marks: what deletes and metadata updates leave in Redis, so that older writes obey them.

Qdrant's conditional upsert (``_vecq_seq < seq``) keeps an older batch from overwriting a
newer point, but it always inserts a point that is not there: once a delete has removed a
point, nothing in Qdrant remembers it. So each delete batch leaves a **tombstone** per point
(its sequence number) and each metadata update a **patch** (its sequence number and keys),
written in the round trip that stores the batch, before it can be published:

- a write of an upsert batch skips points with a newer tombstone, merges newer patches into
  the metadata it writes, and looks again after writing (``version`` tells whether any mark
  appeared meanwhile) to apply what arrived while it wrote;
- an update merges every kept patch of the point from its own onwards, so updates applied
  out of order still end in call order.

A mark is kept while a write older than it may still arrive: until every older batch is
settled (none in flight, none dead-lettered: a replay may write it), then
``Settings.reclaim_seconds`` longer for a worker still writing a batch it fetched before
that (:func:`reclaim`, run by the reaper). The cost: about 100 bytes of Redis per deleted
or updated point while it is kept.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import redis

from vecq.shared import keys
from vecq.shared.points.metadata import Metadata
from vecq.shared.state.replies import text
from vecq.shared.state.scripts import Lua

_MARK = Lua("mark")
_UNMARK = Lua("unmark")
_WATERMARK = Lua("watermark")

# Most batches whose marks one reclaim step removes (each up to batch_size points).
RECLAIM_STEP = 16
# Most older writes in flight an update looks through for an upsert before assuming one.
IN_FLIGHT_SCAN = 1000


@dataclass(frozen=True)
class PointMarks:
    """The kept marks of one point: its deletes' and its updates' sequence numbers."""

    tombstones: tuple[int, ...] = ()
    patches: tuple[tuple[int, Metadata], ...] = ()
    """``(seq, keys)`` in sequence order."""

    def deleted_after(self, seq: int) -> int:
        """The newest delete newer than ``seq`` (0 if none)."""
        return max((t for t in self.tombstones if t > seq), default=0)

    def deleted_between(self, low: int, high: int) -> bool:
        """True if a delete falls strictly between ``low`` and ``high``."""
        return any(low < t < high for t in self.tombstones)

    def patches_from(self, seq: int) -> tuple[int, Metadata] | None:
        """The patches at ``seq`` or newer merged in order, with the oldest one's seq."""
        newer = [(s, p) for s, p in self.patches if s >= seq]
        if not newer:
            return None
        merged: Metadata = {}
        for _, patch in newer:
            merged.update(patch)
        return newer[0][0], merged


@dataclass
class Snapshot:
    """The marks of a batch's points as read once, and the version they were read at."""

    version: int
    points: dict[str, PointMarks] = field(default_factory=dict)


def register(
    pipe: redis.client.Pipeline,
    index: str,
    job_id: str,
    seq: int,
    kind: str,
    point_keys: Sequence[str],
    patches: Sequence[Metadata | None] | None = None,
) -> None:
    """Queue on ``pipe`` (right behind ``ledger.mark_stored``) the marks of one batch."""
    hash_key = keys.tombstones(index) if kind == "delete" else keys.patches(index)
    values: list[str] = list(point_keys)
    if kind == "update":
        values += [json.dumps(p, separators=(",", ":")) for p in patches or ()]
    _MARK(
        pipe,
        keys={
            "batches": keys.job_batches(job_id),
            "marks": hash_key,
            "index": keys.marks(index),
            "marked": keys.marked(index, seq),
            "version": keys.marks_version(index),
        },
        args={"seq": str(seq), "kind": kind, "n": len(point_keys)},
        more_args=values,
    )


def forget(
    client: redis.Redis | redis.client.Pipeline,
    index: str,
    seqs: Sequence[int],
    *,
    unless_in_job: str | None = None,
) -> object:
    """Remove the marks of these batches (with ``unless_in_job``: only of those no longer in
    that job's ledger, i.e. dropped by an aborted enqueue). Returns how many had marks."""
    if not seqs:
        return 0
    return _UNMARK(
        client,
        keys={
            "tombs": keys.tombstones(index),
            "patches": keys.patches(index),
            "index": keys.marks(index),
            "batches": keys.job_batches(unless_in_job or "-"),
        },
        args={"guard": "1" if unless_in_job else "0"},
        more_keys=[keys.marked(index, s) for s in seqs],
        more_args=[str(s) for s in seqs],
    )


def version(r: redis.Redis, index: str) -> int:
    """How many batches have left marks on the index so far (0: never any)."""
    return int(r.get(keys.marks_version(index)) or 0)


def lookup(r: redis.Redis, index: str, point_keys: Sequence[str]) -> dict[str, PointMarks]:
    """The kept marks of these points (points without any are left out)."""
    if not point_keys:
        return {}
    pipe = r.pipeline(transaction=False)
    pipe.hmget(keys.tombstones(index), list(point_keys))
    pipe.hmget(keys.patches(index), list(point_keys))
    tombs, patches = pipe.execute()
    found: dict[str, PointMarks] = {}
    for key, tomb, patch in zip(point_keys, tombs, patches, strict=True):
        if tomb is None and patch is None:
            continue
        found[key] = PointMarks(_tombstones(tomb), _patches(patch))
    return found


def snapshot(r: redis.Redis, index: str, point_keys: Sequence[str]) -> Snapshot:
    """The marks of these points with the version read before them (cheap when none exist)."""
    current = version(r, index)
    if current == 0:
        return Snapshot(0)
    return Snapshot(current, lookup(r, index, point_keys))


def watermark(r: redis.Redis, index: str) -> tuple[int, int]:
    """(the oldest sequence number that may still be written, the newest handed out)."""
    low, last = _WATERMARK(
        r,
        keys={
            "open": keys.open_seqs(index),
            "held": keys.held_seqs(index),
            "sequence": keys.sequence(index),
        },
        args={},
    )
    return int(low), int(last)


def older_upsert_in_flight(r: redis.Redis, index: str, seq: int) -> bool:
    """True if an upsert older than ``seq`` may still be in flight (stored or being enqueued).

    Only an upsert creates a point, so an update that found none waits for older upserts
    alone: waiting for older deletes and updates too would chain every update behind the
    ones before it. A batch of the open set with marks is a delete or an update (its marks
    outlive it there); a job still enqueuing says its kind. Anything unclear counts as an
    upsert (waiting longer is safe), and so does a crowd of more than
    :data:`IN_FLIGHT_SCAN` older writes.
    """
    members: list[bytes] = r.zrangebyscore(  # type: ignore[assignment]  # stubs: too wide
        keys.open_seqs(index), "-inf", f"({seq}", 0, IN_FLIGHT_SCAN
    )
    if not members:
        return False
    pipe = r.pipeline(transaction=False)
    for member in members:
        kind, _, ident = text(member).partition(":")
        if kind == "b":
            pipe.exists(keys.marked(index, int(ident)))
        else:
            pipe.hget(keys.job(ident), "op")
    for member, answer in zip(members, pipe.execute(), strict=True):
        if text(member).startswith("b:"):
            if not answer:
                return True
        elif answer is None or text(answer) == "upsert":
            return True
    return len(members) >= IN_FLIGHT_SCAN


def reclaim(r: redis.Redis, index: str, after: float, now: float | None = None) -> int:
    """Remove the marks no older write can need any more; return how many batches' marks.

    Each call notes the current watermark; marks older than the watermark noted at least
    ``after`` seconds ago are removed (any worker that fetched an older batch before then has
    finished by now), and a new watermark is noted.
    """
    now = time.time() if now is None else now
    noted = r.hgetall(keys.reclaim(index))
    removed = 0
    if noted:
        low, at = int(noted[b"watermark"]), float(noted[b"at"])
        if now - at < after:
            return 0
        while True:
            found: list[bytes] = r.zrangebyscore(  # type: ignore[assignment]  # stubs: too wide
                keys.marks(index), "-inf", f"({low}", 0, RECLAIM_STEP
            )
            if not found:
                break
            removed += int(forget(r, index, [int(s) for s in found]))  # type: ignore[call-overload]  # a plain client returns the reply
    low, _ = watermark(r, index)
    r.hset(keys.reclaim(index), mapping={"watermark": low, "at": now})
    return removed


@dataclass(frozen=True)
class Held:
    """What an index keeps to order its writes (``vecq index describe`` shows it)."""

    tombstones: int
    patches: int
    batches: int
    watermark: int
    last: int


def held(r: redis.Redis, index: str) -> Held:
    """Counts of the kept marks of an index, and how far its writes have settled."""
    pipe = r.pipeline(transaction=False)
    pipe.hlen(keys.tombstones(index))
    pipe.hlen(keys.patches(index))
    pipe.zcard(keys.marks(index))
    tombs, patches, batches = pipe.execute()
    low, last = watermark(r, index)
    return Held(int(tombs), int(patches), int(batches), low, last)


def drop(r: redis.Redis, index: str) -> None:
    """Delete every key that orders the index's writes (the index is being deleted)."""
    seqs: list[bytes] = r.zrange(keys.marks(index), 0, -1)  # type: ignore[assignment]  # stubs: too wide
    names = [keys.marked(index, int(s)) for s in seqs] + keys.index_keys(index)
    for start in range(0, len(names), 1000):
        r.delete(*names[start : start + 1000])


def _tombstones(raw: bytes | None) -> tuple[int, ...]:
    if raw is None:
        return ()
    return tuple(int(s) for s in text(raw).split(","))


def _patches(raw: bytes | None) -> tuple[tuple[int, Metadata], ...]:
    if raw is None:
        return ()
    out = []
    for line in text(raw).split("\n"):
        seq, _, body = line.partition("\t")
        out.append((int(seq), json.loads(body)))
    return tuple(sorted(out, key=lambda entry: entry[0]))
