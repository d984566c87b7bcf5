"""What a worker does with one batch: fetch, decode, validate, write, settle. No Celery here."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import redis

from shared import ledger, registry
from shared.codec import Batch, decode
from shared.errors import (
    CorruptBlobError,
    Failure,
    IndexNotLoadedError,
    InvalidInputError,
    InvalidVectorError,
)
from shared.messages import BatchRef
from shared.qdrant import is_missing_collection
from shared.registry import IndexInfo
from shared.sharding import shard_of
from shared.validation import check_id_array, check_metadata, check_vectors
from workers import retry
from workers.sink import QdrantSink

log = logging.getLogger(__name__)

Result = Literal["written", "failed", "duplicate"]

# How long a worker trusts its cached copy of a registry entry. Entries never change, so this
# only bounds how long a deleted index can still be written to by a stale cache.
REGISTRY_CACHE_SECONDS = 5.0


@dataclass
class WorkerContext:
    """What a worker needs to process batches: Redis, the sink, a registry cache."""

    redis: redis.Redis
    sink: QdrantSink
    _cache: dict[str, tuple[IndexInfo, float]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def index_info(self, name: str, *, fresh: bool = False) -> IndexInfo:
        """The registry entry of ``name``, cached briefly unless ``fresh``."""
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get(name)
        if hit is not None and not fresh and now - hit[1] < REGISTRY_CACHE_SECONDS:
            return hit[0]
        info = retry.call(lambda: registry.get(self.redis, name))
        with self._lock:
            self._cache[name] = (info, now)
        return info


class _Rejected(Exception):
    """The batch can never be written as it is; the message says why."""


def process_batch(ctx: WorkerContext, message: Any) -> Result:
    """Write one batch to Qdrant and settle it in the job ledger, exactly once.

    Permanent problems (a corrupt blob, invalid data, a deleted index, a Qdrant 4xx) and
    transient ones that outlast the retry budget settle the batch as failed with a reason,
    so the job reports them and nothing is dropped silently.
    """
    ref = BatchRef.from_message(message)
    raw = _get_blob(ctx, ref)
    if raw is None:
        if ledger.batch_state(ctx.redis, ref.job, ref.seq) in {"done", "failed"}:
            return "duplicate"  # settled before; this is a redelivery
        return _settle_failed(ctx, ref, (), "the batch blob is missing from Redis")
    try:
        batch = decode(raw)
        info = _check_batch(ctx, ref, batch)
    except (_Rejected, CorruptBlobError, InvalidInputError, IndexNotLoadedError) as exc:
        return _settle_failed(ctx, ref, (), str(exc))
    try:
        _write(ctx, info, batch)
    except IndexNotLoadedError as exc:
        return _settle_failed(ctx, ref, _ids(batch), str(exc))
    except Exception as exc:
        kind = "transient error outlasted retries" if retry.is_transient(exc) else "rejected"
        log.warning("batch %s/%d seq %d %s: %r", ref.index, ref.shard, ref.seq, kind, exc)
        return _settle_failed(ctx, ref, _ids(batch), f"Qdrant {kind}: {_short(exc)}")
    settled = ledger.settle(ctx.redis, ref.job, ref.index, ref.seq, ref.n, ref.size, "done")
    return "written" if settled else "duplicate"


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


def _write(ctx: WorkerContext, info: IndexInfo, batch: Batch) -> None:
    try:
        ctx.sink.write(info, batch)
    except Exception as exc:
        if not is_missing_collection(exc):
            raise
        # The collection vanished. Write again (re-creating it) only if the index still exists.
        ctx.sink.forget(info)
        current = ctx.index_info(info.name, fresh=True)
        if current.uid != info.uid:
            raise IndexNotLoadedError(f"index {info.name!r} was deleted") from None
        ctx.sink.write(current, batch)


def _settle_failed(ctx: WorkerContext, ref: BatchRef, ids: tuple[int, ...], reason: str) -> Result:
    if not ids:
        raw = _get_blob(ctx, ref)
        ids = _ids_of(raw) if raw is not None else ()
    failure = Failure(ids, reason, ref.shard, ref.seq)
    settled = ledger.settle(
        ctx.redis, ref.job, ref.index, ref.seq, ref.n, ref.size, "failed", failure
    )
    log.error("batch %s/%d seq %d failed: %s", ref.index, ref.shard, ref.seq, reason)
    return "failed" if settled else "duplicate"


def _get_blob(ctx: WorkerContext, ref: BatchRef) -> bytes | None:
    raw = retry.call(lambda: ctx.redis.get(ref.blob_key))
    if raw is not None and not isinstance(raw, bytes):
        raise CorruptBlobError("the blob came back as text: use a Redis client without decoding")
    return raw


def _ids(batch: Batch) -> tuple[int, ...]:
    # Only on failure: the ledger records the ids of a failed batch, never of a written one.
    return tuple(batch.ids.tolist())


def _ids_of(raw: bytes) -> tuple[int, ...]:
    try:
        return _ids(decode(raw))
    except CorruptBlobError:
        return ()


def _short(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}"
    return text if len(text) <= 300 else text[:297] + "..."
