"""What a worker does with one batch: fetch, decode, validate, write, settle. No Celery here."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from vecq.shared import logs
from vecq.shared.errors import (
    CorruptBlobError,
    IndexNotLoadedError,
    InvalidInputError,
    InvalidVectorError,
)
from vecq.shared.points import ids as idrules
from vecq.shared.points import metadata as metarules
from vecq.shared.points import named_vectors
from vecq.shared.points.ids import check_id_array
from vecq.shared.points.sharding import shard_of
from vecq.shared.points.vectors import check_vectors
from vecq.shared.state import deadletters, job_state, ledger
from vecq.shared.state.registry import IndexInfo
from vecq.shared.wire.codec import Batch, decode
from vecq.shared.wire.messages import BatchRef
from vecq.workers import isolation, metrics, ordering, retry, settlement
from vecq.workers.context import WorkerContext
from vecq.workers.settlement import Delivery, Result

log = logging.getLogger(__name__)


class RetryLater(Exception):
    """Deliver the batch again after ``countdown`` seconds.

    Either Qdrant or Redis stayed unavailable through the in-task retries (``counts``: one
    of the batch's Celery retries), or an update waits for older upserts (not a retry).
    """

    def __init__(self, countdown: float, reason: str, *, counts: bool = True) -> None:
        super().__init__(reason)
        self.countdown = countdown
        self.counts = counts


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
    groups: dict[tuple[str, int, int], list[tuple[int, Delivery, Batch, IndexInfo]]] = {}
    for i, message in enumerate(messages):
        with logs.scope():
            prepared = _prepare(ctx, message)
        if isinstance(prepared, str):
            results[i] = prepared
        else:
            ref, op = prepared[0].ref, prepared[1].op
            # Upserts of one shard coalesce; a delete or an update goes on its own.
            alone = i if op != "upsert" else -1
            groups.setdefault((ref.index, ref.shard, alone), []).append((i, *prepared))
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
        ready = [ordering.prepare_upsert(ctx, batch) for _, _, batch, _ in group]
        with metrics.timed_write(info.name):
            ctx.sink.write_many(info, [r.batch for r in ready])
        for each in ready:
            ordering.after_upsert(ctx, info, each)
    except Exception as exc:
        if retry.is_interruption(exc):
            raise
        log.info(
            "coalesced write of %d batches failed (%s); writing them one by one",
            len(group),
            settlement.short(exc),
        )
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
        if job_state.batch_state(ctx.redis, ref.job, ref.seq) in {"done", "failed"}:
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
        bad, missing = _apply(ctx, delivery, batch, info)
    except IndexNotLoadedError as exc:
        return settlement.dead_letter(ctx, delivery, batch, str(exc))
    except ordering.Deferred as exc:
        retry.call(lambda: ledger.record_deferral(ctx.redis, ref))
        countdown = _eta(ctx, exc.countdown)
        log.info(
            "update %s/%d seq %d: ids not found while older upserts are in flight; again in %.1fs",
            ref.index,
            ref.shard,
            ref.seq,
            countdown,
        )
        raise RetryLater(countdown, str(exc), counts=False) from exc
    except Exception as exc:
        if retry.is_interruption(exc):
            raise
        if not retry.is_transient(exc):
            return settlement.dead_letter(
                ctx, delivery, batch, f"Qdrant rejected the batch: {settlement.short(exc)}"
            )
        if retries < ctx.settings.task_retries:
            countdown = _eta(ctx, retry.celery_countdown(retries, ctx.settings.task_retry_backoff))
            retry.call(lambda: ledger.record_retry(ctx.redis, ref))
            metrics.RETRIES.labels("redelivery").inc()
            log.warning(
                "batch %s/%d seq %d: %s; Celery retry %d of %d in %.1fs",
                ref.index,
                ref.shard,
                ref.seq,
                settlement.short(exc),
                retries + 1,
                ctx.settings.task_retries,
                countdown,
            )
            raise RetryLater(countdown, settlement.short(exc)) from exc
        reason = f"Qdrant unavailable through {retries} Celery retries: {settlement.short(exc)}"
        return settlement.dead_letter(ctx, delivery, batch, reason)
    if bad:
        return settlement.dead_letter_points(ctx, delivery, batch, bad)
    if missing:
        return settlement.not_applied(ctx, ref, batch, missing)
    return settlement.written(ctx, ref, len(batch))


def _eta(ctx: WorkerContext, countdown: float) -> float:
    """``countdown``, kept under half the visibility timeout: a worker holds a message with an
    ETA unacknowledged until then, and the Redis transport would deliver it again meanwhile."""
    return min(countdown, ctx.settings.visibility_timeout / 2)


def _apply(
    ctx: WorkerContext, delivery: Delivery, batch: Batch, info: IndexInfo
) -> tuple[dict[int, str], dict[int, str]]:
    """Apply the batch by its operation: (rows Qdrant rejected, rows an update did not find)."""
    if batch.op == "delete":
        ordering.apply_delete(ctx, info, batch)
        return {}, {}
    if batch.op == "update":
        return {}, ordering.apply_update(ctx, info, batch, delivery.first_seen)
    ready = ordering.prepare_upsert(ctx, batch)
    bad = isolation.write_isolating(ctx, info, ready.batch)
    ordering.after_upsert(ctx, info, ready)
    return {int(ready.rows[row]): why for row, why in bad.items()}, {}


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
    _check_points(batch, info)
    return info


def _check_points(batch: Batch, info: IndexInfo) -> None:
    """The design's rules, again, on every point of a decoded batch."""
    check_id_array(batch.ids)
    caller = batch.caller_ids()
    for row, name in enumerate(batch.names or ()):
        if name is None:
            continue
        if idrules.string_key(idrules.check_string_id(name, row)) != int(batch.ids[row]):
            raise _Rejected(f"row {row}: the key of string id {name!r} does not match it")
    _check_vectors(batch, info, caller)
    if batch.shard >= info.shards or not np.all(shard_of(batch.ids, info.shards) == batch.shard):
        raise _Rejected(f"batch holds ids that do not belong to shard {batch.shard}")
    for row, meta in enumerate(batch.metadata or ()):
        if not metarules.check(meta, row, caller[row]) and batch.op == "update":
            raise _Rejected(f"row {row}: an update without metadata")
    if batch.items is not None and len(batch.items) != len(batch):
        raise InvalidVectorError("batch items do not match its points")


def _check_vectors(batch: Batch, info: IndexInfo, caller: list[idrules.Id]) -> None:
    schema = info.schema
    if batch.op != "upsert":
        if batch.vectors.shape[1] != 0 or batch.named:
            raise _Rejected(f"a {batch.op} batch carries vectors")
    elif schema is None:
        if batch.named:
            raise _Rejected("batch carries named vectors, but the index has one unnamed vector")
        check_vectors(batch.vectors, caller, info.dimension)
    else:
        if batch.vectors.shape[1] != 0 or not batch.named:
            raise _Rejected("batch carries an unnamed vector, but the index has named vectors")
        named_vectors.check(batch.named, schema, caller, len(batch))


def _get_blob(ctx: WorkerContext, ref: BatchRef) -> bytes | None:
    raw = retry.call(lambda: ctx.redis.get(ref.blob_key))
    if raw is not None and not isinstance(raw, bytes):
        raise CorruptBlobError("the blob came back as text: use a Redis client without decoding")
    return raw
