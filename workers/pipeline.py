"""What a worker does with one batch: fetch, decode, validate, write, settle. No Celery here."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import numpy.typing as npt

from shared import deadletters, ledger, logs
from shared.codec import Batch, decode
from shared.errors import (
    CorruptBlobError,
    IndexNotLoadedError,
    InvalidInputError,
    InvalidVectorError,
)
from shared.messages import BatchRef
from shared.registry import IndexInfo
from shared.sharding import shard_of
from shared.validation import check_id_array, check_metadata, check_vectors
from workers import metrics, retry, settlement
from workers.context import WorkerContext
from workers.settlement import Delivery, Result

log = logging.getLogger(__name__)

# Most extra Qdrant requests spent splitting a rejected batch to find its bad points: one
# bad point in 2,048 takes about 22; a batch that is bad throughout stops here and is
# dead-lettered whole rather than costing one request per point.
MAX_ISOLATION_WRITES = 64


class RetryLater(Exception):
    """Qdrant or Redis stayed unavailable through the in-task retries; deliver again later."""

    def __init__(self, countdown: float, reason: str) -> None:
        super().__init__(reason)
        self.countdown = countdown


class _Rejected(Exception):
    """The batch can never be written as it is; the message says why."""


def process_batch(ctx: WorkerContext, message: Any, *, retries: int = 0) -> Result:
    """Write one batch to Qdrant and settle it in the job ledger, exactly once.

    ``retries`` is how many Celery-level retries came before this delivery. Returns
    ``written``; ``partial`` (Qdrant rejected some points: they were isolated and
    dead-lettered, the rest written); ``failed`` (dead-lettered whole); ``duplicate`` (settled
    before); or ``rejected`` (an unreadable message, dead-lettered). Raises
    :class:`RetryLater` when a transient outage outlasted the in-task retries and Celery
    retries remain. Nothing is dropped without a dead letter.
    """
    with logs.scope():
        prepared = _prepare(ctx, message)
        if isinstance(prepared, str):
            return prepared
        return _write_and_settle(ctx, *prepared, retries)


def process_batches(
    ctx: WorkerContext, messages: list[Any], retries: list[int]
) -> list[Result | RetryLater]:
    """Process several small batches, writing those of one shard in one request (coalescing).

    The live lane's path. Each batch gets exactly the checks, conditional write and
    settlement of :func:`process_batch`; when a coalesced write fails, its batches fall back
    to being written one by one, with the usual retries and dead-lettering. Returns one
    result per message, or the :class:`RetryLater` to act on for it.
    """
    results: list[Result | RetryLater | None] = [None] * len(messages)
    groups: dict[tuple[str, int], list[tuple[int, Delivery, Batch, IndexInfo]]] = {}
    for i, message in enumerate(messages):
        with logs.scope():
            prepared = _prepare(ctx, message)
        if isinstance(prepared, str):
            results[i] = prepared
        else:
            groups.setdefault((prepared[0].ref.index, prepared[0].ref.shard), []).append(
                (i, *prepared)
            )
    for group in groups.values():
        written = len(group) > 1 and _write_group(ctx, group)
        for i, delivery, batch, info in group:
            try:
                with logs.scope(**_log_ids(delivery.ref)):
                    if written:
                        results[i] = settlement.written(ctx, delivery.ref, len(batch))
                    else:
                        results[i] = _write_and_settle(ctx, delivery, batch, info, retries[i])
            except RetryLater as later:
                results[i] = later
    done = [r for r in results if r is not None]
    assert len(done) == len(messages), "every message has a result"
    return done


def _write_group(ctx: WorkerContext, group: list[tuple[int, Delivery, Batch, IndexInfo]]) -> bool:
    """One coalesced write of ``group``; False (after logging) if it must go batch by batch."""
    info = group[0][3]
    try:
        with metrics.timed_write(info.name):
            ctx.sink.write_many(info, [batch for _, _, batch, _ in group])
    except Exception as exc:
        if retry.is_interruption(exc):
            raise
        log.info("coalesced write of %d batches failed (%s); writing them one by one",
                 len(group), settlement.short(exc))  # fmt: skip
        return False
    return True


def _prepare(ctx: WorkerContext, message: Any) -> Result | tuple[Delivery, Batch, IndexInfo]:
    """Parse, count the delivery, fetch, decode and validate; or dead-letter and say why not."""
    try:
        ref = BatchRef.from_message(message)
    except CorruptBlobError as exc:
        why = str(exc)
        entry = retry.call(lambda: deadletters.record_message(ctx.redis, message, why))
        log.error("dead-lettered malformed task message (entry %s): %s", entry, why)
        metrics.settled("", "rejected")
        return "rejected"
    logs.bind(**_log_ids(ref))
    with ctx.clock.stage("ledger"):
        count, first_seen = retry.call(lambda: ledger.delivered(ctx.redis, ref, ctx.worker_id))
    with ctx.clock.stage("fetch"):
        raw = _get_blob(ctx, ref)
    delivery = Delivery(ref, raw, count, first_seen)
    if raw is None:
        if ledger.batch_state(ctx.redis, ref.job, ref.seq) in {"done", "failed"}:
            metrics.settled(ref.index, "duplicate")
            return "duplicate"  # settled before; this is a redelivery
        return settlement.dead_letter(ctx, delivery, None, "the batch blob is missing from Redis")
    if count > ctx.max_deliveries:
        return settlement.dead_letter(
            ctx,
            delivery,
            None,
            f"delivered {count} times without being settled (does it crash the worker?)",
        )
    try:
        with ctx.clock.stage("decode"):
            batch = decode(raw)
        with ctx.clock.stage("validate"):
            info = _check_batch(ctx, ref, batch)
    except (_Rejected, CorruptBlobError, InvalidInputError, IndexNotLoadedError) as exc:
        return settlement.dead_letter(ctx, delivery, None, str(exc))
    return delivery, batch, info


def _log_ids(ref: BatchRef) -> dict[str, Any]:
    return {"job": ref.job, "index": ref.index, "shard": ref.shard, "batch": ref.seq}


def _write_and_settle(
    ctx: WorkerContext, delivery: Delivery, batch: Batch, info: IndexInfo, retries: int
) -> Result:
    ref = delivery.ref
    try:
        bad = _write_isolating(ctx, info, batch)
    except IndexNotLoadedError as exc:
        return settlement.dead_letter(ctx, delivery, batch, str(exc))
    except Exception as exc:
        if retry.is_interruption(exc):
            raise
        if not retry.is_transient(exc):
            return settlement.dead_letter(
                ctx, delivery, batch, f"Qdrant rejected the batch: {settlement.short(exc)}"
            )
        if retries < ctx.settings.task_retries:
            countdown = retry.celery_countdown(retries, ctx.settings.task_retry_backoff)
            retry.call(lambda: ledger.record_retry(ctx.redis, ref))
            metrics.RETRIES.labels("redelivery").inc()
            log.warning(
                "batch %s/%d seq %d: %s; Celery retry %d of %d in %.1fs",
                ref.index, ref.shard, ref.seq, settlement.short(exc), retries + 1,
                ctx.settings.task_retries, countdown,
            )  # fmt: skip
            raise RetryLater(countdown, settlement.short(exc)) from exc
        reason = f"Qdrant unavailable through {retries} Celery retries: {settlement.short(exc)}"
        return settlement.dead_letter(ctx, delivery, batch, reason)
    if bad:
        return settlement.dead_letter_points(ctx, delivery, batch, bad)
    return settlement.written(ctx, ref, len(batch))


def _check_batch(ctx: WorkerContext, ref: BatchRef, batch: Batch) -> IndexInfo:
    """Validate a decoded batch against its message and the registry (the worker's second look)."""
    if (batch.index, batch.shard, batch.seq, len(batch)) != (ref.index, ref.shard, ref.seq, ref.n):
        raise _Rejected(
            f"blob holds {batch.index}/{batch.shard} seq {batch.seq} n {len(batch)}, but the "
            f"message names {ref.index}/{ref.shard} seq {ref.seq} n {ref.n}"
        )
    info = ctx.index_info(ref.index)
    if info.uid_bytes != batch.index_uid:
        info = ctx.index_info(ref.index, fresh=True)
    if info.uid_bytes != batch.index_uid:
        raise IndexNotLoadedError(f"index {ref.index!r} was deleted after this batch was queued")
    check_id_array(batch.ids)
    check_vectors(batch.vectors, batch.ids, info.dimension)
    if batch.shard >= info.shards or not np.all(shard_of(batch.ids, info.shards) == batch.shard):
        raise _Rejected(f"batch holds ids that do not belong to shard {batch.shard}")
    if batch.metadata is not None:
        for row, meta in enumerate(batch.metadata):
            check_metadata(meta, row, int(batch.ids[row]))
    if batch.items is not None and len(batch.items) != len(batch):
        raise InvalidVectorError("batch items do not match its points")
    return info


def _write_isolating(ctx: WorkerContext, info: IndexInfo, batch: Batch) -> dict[int, str]:
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
            _write(ctx, info, part)
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
            batch.index, batch.shard, batch.seq, len(bad), len(batch),
        )  # fmt: skip
    return bad


def _write(ctx: WorkerContext, info: IndexInfo, batch: Batch) -> None:
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


def _get_blob(ctx: WorkerContext, ref: BatchRef) -> bytes | None:
    raw = retry.call(lambda: ctx.redis.get(ref.blob_key))
    if raw is not None and not isinstance(raw, bytes):
        raise CorruptBlobError("the blob came back as text: use a Redis client without decoding")
    return raw
