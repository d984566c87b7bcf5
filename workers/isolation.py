"""Writing a batch that Qdrant may reject for some of its points: split it until the bad
points are found, write the rest, and report the bad ones with Qdrant's reason."""

from __future__ import annotations

import logging

import numpy as np
import numpy.typing as npt

from vecq.shared.errors import IndexNotLoadedError
from vecq.shared.state.registry import IndexInfo
from vecq.shared.wire.codec import Batch
from vecq.workers import metrics, retry, settlement
from vecq.workers.context import WorkerContext

log = logging.getLogger(__name__)

# Most extra Qdrant requests spent splitting a rejected batch to find its bad points: one
# bad point in 2,048 takes about 22; a batch that is bad throughout stops here and is
# dead-lettered whole rather than costing one request per point.
MAX_ISOLATION_WRITES = 64


def write_isolating(ctx: WorkerContext, info: IndexInfo, batch: Batch) -> dict[int, str]:
    """Write the batch; if Qdrant rejects it for its content, split it to find the bad points.

    Returns the rows that Qdrant rejected, each with the reason; every other row is
    written. Transient and batch-wide errors propagate: retrying rewrites the halves
    already written with the same sequence number, which the conditional upsert skips.
    """
    bad: dict[int, str] = {}
    budget = [MAX_ISOLATION_WRITES]

    def attempt(rows: npt.NDArray[np.intp]) -> None:
        part = batch if rows.size == len(batch) else batch.select(rows)
        try:
            write(ctx, info, part)
            return
        except Exception as exc:
            if retry.is_transient(exc) or not retry.is_point_specific(exc):
                raise
            reason = f"Qdrant rejected the point: {settlement.short(exc)}"
        if rows.size == 1 or budget[0] < 2:
            bad.update(dict.fromkeys(rows.tolist(), reason))
            return
        budget[0] -= 2
        middle = rows.size // 2
        attempt(rows[:middle])
        attempt(rows[middle:])

    attempt(np.arange(len(batch)))
    if bad:
        log.warning(
            "batch %s/%d seq %d: Qdrant rejected %d of %d points; the rest are written",
            batch.index,
            batch.shard,
            batch.seq,
            len(bad),
            len(batch),
        )
    return bad


def write(ctx: WorkerContext, info: IndexInfo, batch: Batch) -> None:
    with metrics.timed_write(info.name):
        _write_once(ctx, info, batch)


def _write_once(ctx: WorkerContext, info: IndexInfo, batch: Batch) -> None:
    try:
        ctx.sink.write(info, batch)
    except Exception as exc:
        if not ctx.sink.engine.is_missing(exc):
            raise
        # The collection vanished. Write again (re-creating it) only if the index still exists.
        ctx.sink.forget(info)
        current = ctx.index_info(info.name, fresh=True)
        if current.uid != info.uid:
            raise IndexNotLoadedError(f"index {info.name!r} was deleted") from None
        ctx.sink.write(current, batch)
