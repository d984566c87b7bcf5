"""How a batch ends, exactly once: settled as written, or dead-lettered whole or in part.

Every outcome goes through the ledger's one settle script (``shared/state/ledger.py``); a batch
settled before (a redelivery) comes back as ``duplicate`` and counts nothing twice.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass
from typing import Literal

import numpy as np

from vecq.shared.errors import CorruptBlobError, Failure
from vecq.shared.state import deadletters, ledger
from vecq.shared.wire.codec import Batch, decode, encode
from vecq.shared.wire.messages import BatchRef
from vecq.workers import metrics, retry
from vecq.workers.context import WorkerContext

log = logging.getLogger(__name__)

Result = Literal["written", "partial", "failed", "duplicate", "rejected", "deferred"]


@dataclass(frozen=True)
class Delivery:
    """One delivery of a batch: its message, its blob as fetched, how often it was delivered."""

    ref: BatchRef
    raw: bytes | None
    count: int
    first_seen: float


def written(ctx: WorkerContext, ref: BatchRef, n: int) -> Result:
    """Settle a batch whose ``n`` points are all written."""
    return _settle(ctx, ref, ledger.Settlement(written=n), "written")


def dead_letter(ctx: WorkerContext, delivery: Delivery, batch: Batch | None, reason: str) -> Result:
    """Settle the whole batch as failed and move it, blob and all, to the dead-letter queue."""
    ref = delivery.ref
    if batch is None and delivery.raw is not None:
        with contextlib.suppress(CorruptBlobError):
            batch = decode(delivery.raw)
    ids = tuple(batch.caller_ids()) if batch is not None else ()
    failure = Failure(ids, reason, ref.shard, ref.seq)
    kept = delivery.raw is not None
    letter = deadletters.batch_letter(
        ref,
        reason,
        (failure,),
        n=ref.n if kept else 0,
        size=len(delivery.raw) if delivery.raw is not None else 0,
        attempts=delivery.count,
        first_seen=delivery.first_seen,
    )
    result = _settle(ctx, ref, ledger.Settlement(0, ref.n, (failure,), letter), "failed")
    if result == "failed":
        log.error("batch %s/%d seq %d dead-lettered: %s", ref.index, ref.shard, ref.seq, reason)
    return result


def dead_letter_points(
    ctx: WorkerContext, delivery: Delivery, batch: Batch, bad: dict[int, str]
) -> Result:
    """Settle a batch whose other points are written; dead-letter only the rejected ones."""
    ref = delivery.ref
    rows = np.array(sorted(bad), dtype=np.intp)
    caller = batch.caller_ids()
    by_reason: dict[str, list[int | str]] = {}
    for row in rows.tolist():
        by_reason.setdefault(bad[row], []).append(caller[row])
    failures = tuple(Failure(tuple(ids), why, ref.shard, ref.seq) for why, ids in by_reason.items())
    dead_blob = encode(batch.select(rows))
    summary = f"Qdrant rejected {rows.size} of {len(batch)} points"
    letter = deadletters.batch_letter(
        ref,
        summary,
        failures,
        n=int(rows.size),
        size=len(dead_blob),
        attempts=delivery.count,
        first_seen=delivery.first_seen,
    )
    outcome = ledger.Settlement(
        len(batch) - int(rows.size), int(rows.size), failures, letter, dead_blob
    )
    return _settle(ctx, ref, outcome, "failed" if rows.size == len(batch) else "partial")


def not_applied(ctx: WorkerContext, ref: BatchRef, batch: Batch, rows: dict[int, str]) -> Result:
    """Settle an update whose other points are updated; ``rows`` were not found (no dead
    letter: replaying an update of points that do not exist would change nothing)."""
    caller = batch.caller_ids()
    by_reason: dict[str, list[int | str]] = {}
    for row in sorted(rows):
        by_reason.setdefault(rows[row], []).append(caller[row])
    failures = tuple(Failure(tuple(ids), why, ref.shard, ref.seq) for why, ids in by_reason.items())
    outcome = ledger.Settlement(len(batch) - len(rows), len(rows), failures)
    return _settle(ctx, ref, outcome, "failed" if len(rows) == len(batch) else "partial")


def _settle(
    ctx: WorkerContext, ref: BatchRef, outcome: ledger.Settlement, result: Result
) -> Result:
    """Settle once and count it; ``duplicate`` if the batch was settled before."""
    with ctx.clock.stage("ledger"):
        settled = retry.call(lambda: ledger.settle(ctx.redis, ref, outcome))
    if not settled:
        metrics.settled(ref.index, "duplicate")
        return "duplicate"
    metrics.settled(ref.index, result, written=outcome.written, failed=outcome.failed)
    return result


def short(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}"
    return text if len(text) <= 300 else text[:297] + "..."
