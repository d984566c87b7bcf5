"""Turning a validated upsert into shard batches in Redis and task messages on the broker."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator

import numpy as np
import numpy.typing as npt
import redis

from api.broker import Publisher
from shared import keys, ledger
from shared.codec import Batch, Metadata, encode
from shared.errors import BrokerUnavailable
from shared.messages import BatchRef
from shared.registry import IndexInfo
from shared.settings import Settings
from shared.sharding import shard_of
from shared.validation import Points

# Fixed bytes a point costs in a blob beyond its vector: the id, an item offset, JSON framing.
_ROW_OVERHEAD = 24


def plan(
    points: Points, info: IndexInfo, settings: Settings
) -> list[tuple[int, npt.NDArray[np.intp]]]:
    """Split the points into ``(shard, rows)`` batches, by shard, then by count and bytes.

    Rows keep the caller's order within a shard. Each batch holds at most ``batch_size``
    points and (but for a single oversized point) at most ``batch_max_bytes``.
    """
    n = len(points)
    if n == 0:
        return []
    shards = shard_of(points.ids, info.shards)
    order = np.argsort(shards, kind="stable")
    bounds = np.concatenate([[0], np.cumsum(np.bincount(shards, minlength=info.shards))])
    sizes = _row_sizes(points, info.dimension)
    batches = []
    for shard in range(info.shards):
        rows = order[bounds[shard] : bounds[shard + 1]]
        for chunk in _chunks(rows, sizes, settings.batch_size, settings.batch_max_bytes):
            batches.append((shard, chunk))
    return batches


def _row_sizes(points: Points, dimension: int) -> npt.NDArray[np.int64] | int:
    base = 8 + 4 * dimension + _ROW_OVERHEAD
    if points.items is None and points.metadata is None:
        return base
    sizes = np.full(len(points), base, dtype=np.int64)
    if points.items is not None:
        sizes += np.fromiter((len(i) if i else 0 for i in points.items), np.int64, len(points))
    if points.metadata is not None:
        sizes += np.fromiter((_meta_size(m) for m in points.metadata), np.int64, len(points))
    return sizes


def _meta_size(meta: Metadata | None) -> int:
    if not meta:
        return 0
    return sum(len(k) + len(v) + 8 if isinstance(v, str) else len(k) + 28 for k, v in meta.items())


def _chunks(
    rows: npt.NDArray[np.intp], sizes: npt.NDArray[np.int64] | int, max_rows: int, max_bytes: int
) -> Iterator[npt.NDArray[np.intp]]:
    if isinstance(sizes, int):
        step = max(1, min(max_rows, max_bytes // sizes))
        for start in range(0, rows.size, step):
            yield rows[start : start + step]
        return
    cumulative = np.cumsum(sizes[rows])
    start = 0
    while start < rows.size:
        before = int(cumulative[start - 1]) if start else 0
        end = int(np.searchsorted(cumulative, before + max_bytes, side="right"))
        end = max(start + 1, min(end, start + max_rows))
        yield rows[start:end]
        start = end


def enqueue(
    r: redis.Redis,
    publisher: Publisher,
    info: IndexInfo,
    points: Points,
    settings: Settings,
    on_batch: Callable[[int], None] | None = None,
) -> str:
    """Store every batch's blob, record it in a new job ledger and publish it; return the job id.

    Sequence numbers for all batches are reserved in one step, so every batch of a later
    call is newer than every batch of an earlier one.
    """
    job_id = uuid.uuid4().hex
    batches = plan(points, info, settings)
    try:
        ledger.open_job(r, job_id, info.name, len(points), len(batches))
        last_seq = int(r.incrby(keys.sequence(info.name), len(batches))) if batches else 0
        first_seq = last_seq - len(batches) + 1
        for offset, (shard, rows) in enumerate(batches):
            seq = first_seq + offset
            ids, vectors, items, metadata = points.take(rows)
            blob = encode(
                Batch(info.name, info.uid_bytes, shard, seq, ids, vectors, items, metadata)
            )
            pipe = r.pipeline(transaction=True)
            pipe.set(keys.blob(info.name, seq), blob)
            ledger.mark_queued(pipe, job_id, seq, info.name, len(blob))
            pipe.execute()
            publisher.publish(BatchRef(info.name, shard, seq, job_id, len(ids), len(blob)))
            if on_batch is not None:
                on_batch(len(ids))
        ledger.mark_enqueued(r, job_id)
    except (redis.ConnectionError, redis.TimeoutError) as exc:
        raise BrokerUnavailable(f"Redis failed while enqueueing job {job_id}: {exc}") from exc
    return job_id
