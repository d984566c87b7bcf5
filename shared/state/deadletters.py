"""The dead-letter queue: a Redis stream of batches (and messages) that could not be written.

Both sides use it: workers write entries, ``vecq dlq`` lists, replays and purges them. A
worker adds an entry in the same atomic step that settles the batch as failed, before
the task is acknowledged, and moves the batch's blob (or a blob of only the points Qdrant
rejected) under ``vecq:dlq:blob:{index}:{seq}``. ``replay`` puts the blob back under its
original sequence number and publishes it again, so ordering holds: a replayed batch
never overwrites points that a newer batch wrote since.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import redis

from vecq.shared import keys
from vecq.shared.errors import Failure, VecqError
from vecq.shared.state import ledger, marks
from vecq.shared.state.replies import text, texts
from vecq.shared.wire.messages import BatchRef

# Longest raw message kept for a malformed task (they carry no vectors, only references).
_MAX_MESSAGE_CHARS = 4096
# Dead letters purged per step of an expiry (each is a few commands in one transaction).
EXPIRE_STEP = 500


@dataclass(frozen=True)
class DeadLetter:
    """One entry of the dead-letter stream."""

    entry_id: str
    kind: str
    """``batch`` (points that could not be written) or ``message`` (an unreadable task)."""
    reason: str
    job: str = ""
    index: str = ""
    shard: int = -1
    seq: int = -1
    n: int = 0
    size: int = 0
    attempts: int = 0
    first_seen: float = 0.0
    last_seen: float = 0.0
    failures: tuple[Failure, ...] = ()
    message: str = ""

    @property
    def ids(self) -> list[int | str]:
        """Every id of the entry that was not written."""
        return [i for f in self.failures for i in f.ids]

    @property
    def replayable(self) -> bool:
        """True for a batch whose blob is kept (a malformed message cannot be replayed)."""
        return self.kind == "batch" and self.n > 0

    @classmethod
    def parse(cls, entry_id: Any, raw: Any) -> DeadLetter:
        """Build from a stream entry as redis-py returns it."""
        f = texts(raw)
        records = json.loads(f.get("failures", "[]"))
        return cls(
            entry_id=text(entry_id),
            kind=f.get("kind", "batch"),
            reason=f.get("reason", ""),
            job=f.get("job", ""),
            index=f.get("index", ""),
            shard=int(f.get("shard", -1)),
            seq=int(f.get("seq", -1)),
            n=int(f.get("n", 0)),
            size=int(f.get("size", 0)),
            attempts=int(f.get("attempts", 0)),
            first_seen=float(f.get("first_seen", 0.0)),
            last_seen=float(f.get("last_seen", 0.0)),
            failures=tuple(
                Failure(
                    tuple(r["ids"]), r["reason"], int(f.get("shard", -1)), int(f.get("seq", -1))
                )
                for r in records
            ),
            message=f.get("message", ""),
        )


def batch_letter(
    ref: BatchRef,
    reason: str,
    failures: tuple[Failure, ...],
    *,
    n: int,
    size: int,
    attempts: int,
    first_seen: float,
) -> dict[str, str]:
    """The stream fields of a dead-lettered batch; ``n``/``size`` describe the kept blob."""
    letter = DeadLetter(
        entry_id="",
        kind="batch",
        reason=reason,
        job=ref.job,
        index=ref.index,
        shard=ref.shard,
        seq=ref.seq,
        n=n,
        size=size,
        attempts=attempts,
        first_seen=first_seen,
        last_seen=time.time(),
        failures=failures,
    )
    return _fields(letter)


def record_message(r: redis.Redis, message: Any, reason: str) -> str:
    """Dead-letter a task message that is not a valid batch reference; return the entry id."""
    try:
        shown = json.dumps(message)
    except (TypeError, ValueError):
        shown = repr(message)
    now = repr(time.time())
    fields = {
        "kind": "message",
        "reason": reason,
        "message": shown[:_MAX_MESSAGE_CHARS],
        "attempts": "1",
        "first_seen": now,
        "last_seen": now,
    }
    return text(r.xadd(keys.dlq(), fields))  # type: ignore[arg-type]  # redis stubs too narrow


def entries(
    r: redis.Redis, *, index: str | None = None, limit: int | None = None
) -> list[DeadLetter]:
    """Dead letters, oldest first, optionally of one index and at most ``limit``."""
    out = []
    for letter in _scan(r):
        if index is None or letter.index == index:
            out.append(letter)
            if limit is not None and len(out) >= limit:
                break
    return out


def depth(r: redis.Redis) -> int:
    """Number of entries in the dead-letter stream."""
    return int(r.xlen(keys.dlq()))


def get(r: redis.Redis, entry_id: str) -> DeadLetter:
    """One dead letter by its stream id; ``VecqError`` if there is none."""
    found = r.xrange(keys.dlq(), entry_id, entry_id)
    if not found:
        raise VecqError(f"no dead letter {entry_id!r} (see `vecq dlq list`)")
    return DeadLetter.parse(*found[0])


def replay(r: redis.Redis, publish: Callable[[BatchRef], None], entry_id: str) -> str:
    """Enqueue a dead-lettered batch again, with its original sequence number; return the job id.

    The entry leaves the stream when the batch is enqueued; if the batch fails again it
    comes back as a new entry. If publishing fails, the entry and its blob are restored.
    """
    letter = get(r, entry_id)
    if not letter.replayable:
        raise VecqError(f"dead letter {entry_id} is a {letter.kind} without a batch; purge it")
    kept = keys.dlq_blob(letter.index, letter.seq)
    if not r.exists(kept):
        raise VecqError(f"dead letter {entry_id}: its blob {kept} is gone; purge the entry")
    job_id = uuid.uuid4().hex
    ref = BatchRef(letter.index, letter.shard, letter.seq, job_id, letter.n, letter.size)
    ledger.open_job(r, job_id, letter.index, letter.n, 1, _op(r, kept))
    pipe = r.pipeline(transaction=True)
    pipe.rename(kept, keys.blob(letter.index, letter.seq))
    ledger.mark_stored(pipe, ref)
    pipe.zrem(keys.held_seqs(letter.index), f"b:{letter.seq}")
    pipe.xdel(keys.dlq(), entry_id)
    pipe.execute()
    try:
        publish(ref)
    except BaseException:
        _restore(r, letter, ref)
        raise
    pipe = r.pipeline(transaction=False)
    ledger.mark_published(pipe, job_id, letter.seq)
    ledger.mark_enqueued(pipe, job_id, letter.index)
    pipe.execute()
    return job_id


def _op(r: redis.Redis, blob_key: str) -> str:
    """The operation of a kept blob (read from its header, without decoding the rest)."""
    from vecq.shared.wire.codec import OPS, operation

    head = r.getrange(blob_key, 0, 63)
    return OPS[operation(head)] if isinstance(head, bytes) else "upsert"


def _restore(r: redis.Redis, letter: DeadLetter, ref: BatchRef) -> None:
    pipe = r.pipeline(transaction=True)
    pipe.rename(keys.blob(letter.index, letter.seq), keys.dlq_blob(letter.index, letter.seq))
    pipe.xadd(keys.dlq(), _fields(letter))  # type: ignore[arg-type]  # redis stubs too narrow
    pipe.decrby(keys.inflight(letter.index), letter.size)
    pipe.zrem(keys.pending(), ref.member)
    pipe.zrem(keys.open_seqs(letter.index), f"b:{letter.seq}")
    pipe.zadd(keys.held_seqs(letter.index), {f"b:{letter.seq}": letter.seq})
    pipe.delete(keys.job(ref.job), keys.job_batches(ref.job))
    pipe.execute()


def purge(r: redis.Redis, entry_ids: list[str]) -> int:
    """Delete dead letters and their blobs; return how many entries were removed.

    A purged batch will never be written: it stops holding back the reclaiming of marks, and
    a purged delete or update leaves no marks behind.
    """
    removed = 0
    for entry_id in entry_ids:
        found = r.xrange(keys.dlq(), entry_id, entry_id)
        if not found:
            continue
        letter = DeadLetter.parse(*found[0])
        pipe = r.pipeline(transaction=True)
        pipe.xdel(keys.dlq(), entry_id)
        if letter.kind == "batch":
            pipe.delete(keys.dlq_blob(letter.index, letter.seq))
            pipe.zrem(keys.held_seqs(letter.index), f"b:{letter.seq}")
            marks.forget(pipe, letter.index, [letter.seq])
        removed += int(pipe.execute()[0])
    return removed


def expire(r: redis.Redis, keep_seconds: float, most: int, now: float | None = None) -> int:
    """Purge (as :func:`purge` does) the dead letters older than ``keep_seconds`` (0: none)
    and, beyond ``most``, the oldest; return how many. Cheap when there is nothing to do:
    one length and one ranged read of the stream's oldest entry."""
    now = time.time() if now is None else now
    gone = 0
    if keep_seconds > 0:
        cutoff = f"({int((now - keep_seconds) * 1000)}-0"
        while True:
            old: list[Any] = r.xrange(keys.dlq(), "-", cutoff, count=EXPIRE_STEP)  # type: ignore[assignment]  # redis stubs too wide
            if not old:
                break
            gone += purge(r, [text(entry_id) for entry_id, _ in old])
    extra = int(r.xlen(keys.dlq())) - most
    while extra > 0:
        oldest: list[Any] = r.xrange(keys.dlq(), "-", "+", count=min(extra, EXPIRE_STEP))  # type: ignore[assignment]  # as above
        if not oldest:
            break
        removed = purge(r, [text(entry_id) for entry_id, _ in oldest])
        gone, extra = gone + removed, extra - removed
    return gone


def _fields(letter: DeadLetter) -> dict[str, str]:
    return {
        "kind": letter.kind,
        "job": letter.job,
        "index": letter.index,
        "shard": str(letter.shard),
        "seq": str(letter.seq),
        "n": str(letter.n),
        "size": str(letter.size),
        "reason": letter.reason,
        "attempts": str(letter.attempts),
        "first_seen": repr(letter.first_seen),
        "last_seen": repr(letter.last_seen),
        "failures": json.dumps([{"ids": list(f.ids), "reason": f.reason} for f in letter.failures]),
    }


def _scan(r: redis.Redis, page: int = 500) -> Iterator[DeadLetter]:
    start = "-"
    while True:
        chunk = r.xrange(keys.dlq(), start, "+", count=page)
        if not chunk:
            return
        for entry_id, raw in chunk:
            yield DeadLetter.parse(entry_id, raw)
        start = "(" + text(chunk[-1][0])  # type: ignore[arg-type]  # redis stubs: too wide
