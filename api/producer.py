"""Turning a validated upsert into shard batches in Redis and task messages on the broker."""

from __future__ import annotations

import functools
import threading
import uuid
from collections.abc import Callable, Iterator

import numpy as np
import numpy.typing as npt
import redis

from vecq.api.backpressure import Room
from vecq.api.encoder import Encoder
from vecq.api.publisher import Publisher
from vecq.shared import keys
from vecq.shared.config.settings import Settings
from vecq.shared.errors import BackpressureTimeout, BrokerUnavailable, EnqueueInterrupted
from vecq.shared.points import ids as idrules
from vecq.shared.points import metadata as metarules
from vecq.shared.points.sharding import shard_of
from vecq.shared.points.validation import Points
from vecq.shared.state import ledger, marks
from vecq.shared.state.redis_memory import footprint, out_of_memory
from vecq.shared.state.registry import IndexInfo
from vecq.shared.wire.messages import BatchRef

# Fixed bytes a point costs in a blob beyond its vector: the id, an item offset, JSON framing.
_ROW_OVERHEAD = 24
# Room left in a size class for the blob header (index name included).
_BLOB_SLACK = 512


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
    sizes = _row_sizes(points)
    batches = []
    for shard in range(info.shards):
        rows = order[bounds[shard] : bounds[shard + 1]]
        for chunk in _chunks(rows, sizes, settings.batch_size, settings.batch_max_bytes):
            batches.append((shard, chunk))
    return batches


def _row_sizes(points: Points) -> npt.NDArray[np.int64] | int:
    base = 8 + 4 * int(points.vectors.shape[1]) + _ROW_OVERHEAD
    if points.items is None and points.metadata is None and points.names is None:
        return base
    n = len(points)
    sizes = np.full(n, base, dtype=np.int64)
    if points.items is not None:
        sizes += np.fromiter((len(i) if i else 0 for i in points.items), np.int64, n)
    if points.metadata is not None:
        sizes += np.fromiter((metarules.size(m) for m in points.metadata), np.int64, n)
    if points.names is not None:
        sizes += np.fromiter((len(s) * 3 + 8 if s else 0 for s in points.names), np.int64, n)
    return sizes


def _chunks(
    rows: npt.NDArray[np.intp], sizes: npt.NDArray[np.int64] | int, max_rows: int, max_bytes: int
) -> Iterator[npt.NDArray[np.intp]]:
    if isinstance(sizes, int):
        step = fit_size_class(max(1, min(max_rows, max_bytes // sizes)), sizes - _ROW_OVERHEAD)
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


def fit_size_class(rows: int, row_bytes: int) -> int:
    """Shrink a batch (by less than a quarter) so its blob fills a Redis allocation class.

    2,048 vectors of 768-d make a 6.02 MiB blob that Redis stores in a 7 MiB allocation;
    2,042 fit in 6 MiB. The same memory then holds more vectors in flight.
    """
    blob = rows * row_bytes
    class_size = footprint(blob)
    if class_size == blob or rows < 64:
        return rows
    lower = class_size - (1 << max(3, (class_size - 1).bit_length() - 3))
    fitted = (lower - _BLOB_SLACK) // row_bytes
    return fitted if fitted >= rows * 3 // 4 else rows


def enqueue(
    r: redis.Redis,
    publisher: Publisher,
    info: IndexInfo,
    points: Points,
    settings: Settings,
    on_batch: Callable[[int], None] | None = None,
    *,
    encode_ahead: bool = True,
) -> str:
    """Store every batch's blob, record it in a new job ledger and publish it; return the job id.

    ``encode_ahead`` encodes the next blob in a thread while the last is stored; a process
    that also runs the worker turns it off (there the GIL is the bottleneck, and the extra
    thread only contends for it: 10% slower end to end in bench.embedded).

    Sequence numbers for all batches are reserved in one step, so every batch of a later
    call is newer than every batch of an earlier one. Before each batch, waits while the
    index's in-flight bytes are over ``max_inflight_bytes``. If Redis or the broker fails,
    or the wait runs out, the job is cut down to the batches actually published and the
    error (:class:`EnqueueInterrupted`) says which ids those are.
    """
    job_id = uuid.uuid4().hex
    run = _Run(r, job_id, info.name, on_batch)
    try:
        _send(r, publisher, info, points, settings, run, encode_ahead)
    except BackpressureTimeout as exc:
        raise run.interrupted(BackpressureTimeout, str(exc), points) from None
    except (redis.OutOfMemoryError, redis.ResponseError) as exc:
        if "VECQ_FINISHED" in str(exc):
            raise run.interrupted(
                EnqueueInterrupted,
                f"this upsert stalled for over {ledger.PRODUCER_LEASE_SECONDS:g}s, and workers "
                "finished its job with the batches it had stored",
                points,
            ) from exc
        if not out_of_memory(exc):
            raise
        raise run.interrupted(
            BrokerUnavailable,
            f"Redis is out of memory (maxmemory reached with noeviction): {exc}. Raise "
            "maxmemory or lower max_inflight_bytes so the in-flight window fits",
            points,
        ) from exc
    except (redis.ConnectionError, redis.TimeoutError) as exc:
        raise run.interrupted(BrokerUnavailable, f"Redis failed: {exc}", points) from exc
    except BrokerUnavailable as exc:
        raise run.interrupted(BrokerUnavailable, str(exc), points) from exc
    return job_id


def _send(
    r: redis.Redis,
    publisher: Publisher,
    info: IndexInfo,
    points: Points,
    settings: Settings,
    run: _Run,
    encode_ahead: bool,
) -> None:
    """Open the job, then store, record and publish each batch in turn (see :func:`enqueue`)."""
    batches = plan(points, info, settings)
    ledger.open_job(r, run.job_id, info.name, len(points), len(batches), points.op)
    last_seq = ledger.reserve(r, info.name, run.job_id, len(batches)) if batches else 0
    room = Room(r, info.name, settings, run.job_id)
    # A small call takes the live lane, and is done fastest without helper threads.
    live = len(points) <= settings.live_max_vectors
    queue = keys.QUEUE_LIVE if live else keys.QUEUE_BULK
    encoder = Encoder(
        points,
        info,
        batches,
        last_seq - len(batches) + 1,
        threaded=encode_ahead and len(batches) > 1 and not live,
    )
    try:
        for shard, seq, rows, blob in encoder:
            size = footprint(len(blob))
            room.wait(size)
            ref = BatchRef(info.name, shard, seq, run.job_id, rows.size, size)
            # Not MULTI: Redis queues a transaction's commands, holding a 6 MB argument
            # twice. The ledger script is atomic on its own and makes the blob permanent.
            pipe = r.pipeline(transaction=False)
            run.flush(pipe)
            pipe.set(ref.blob_key, blob, ex=keys.ORPHAN_BLOB_TTL_SECONDS)
            ledger.mark_stored(pipe, ref)
            reply_at = len(pipe) - 1
            if points.op != "upsert":
                _mark(pipe, info, run.job_id, seq, points, rows)
            # Recorded before the round trip: it may apply even if the reply is lost.
            run.stored(ref, rows)
            room.seen(pipe.execute()[reply_at])
            run.confirmed(ref)
            publisher.publish(ref, queue)
            run.published(ref)
    finally:
        encoder.stop()
    pipe = r.pipeline(transaction=False)
    run.flush(pipe)
    ledger.mark_enqueued(pipe, run.job_id, info.name)
    pipe.execute()


def _mark(
    pipe: redis.client.Pipeline,
    info: IndexInfo,
    job_id: str,
    seq: int,
    points: Points,
    rows: npt.NDArray[np.intp],
) -> None:
    """Queue the tombstones or patches of a delete or update batch (``shared/state/marks.py``)."""
    chosen = points.select(rows, arrays=("ids",))
    point_keys = [idrules.mark_key(p) for p in chosen.point_ids()]
    patches = list(chosen.metadata) if chosen.metadata is not None else None
    marks.register(pipe, info.name, job_id, seq, points.op, point_keys, patches)


class _Run:
    """What one enqueue has done so far, to report exactly that if it is interrupted.

    A batch is *stored* when its round trip to Redis is sent, *confirmed* when Redis
    answered it, *published* once its message is on the broker. Kept under a lock: the
    encoder thread never touches it, but a progress callback may be called from anywhere.
    """

    def __init__(
        self, r: redis.Redis, job_id: str, index: str, on_batch: Callable[[int], None] | None
    ) -> None:
        self.r = r
        self.job_id = job_id
        self.index = index
        self._on_batch = on_batch
        self._lock = threading.Lock()
        self._sizes: dict[int, int] = {}
        self._rows: dict[int, npt.NDArray[np.intp]] = {}
        self._confirmed: set[int] = set()
        self._published: list[int] = []
        self._unmarked: list[int] = []

    def stored(self, ref: BatchRef, rows: npt.NDArray[np.intp]) -> None:
        with self._lock:
            self._sizes[ref.seq] = ref.size
            self._rows[ref.seq] = rows

    def confirmed(self, ref: BatchRef) -> None:
        with self._lock:
            self._confirmed.add(ref.seq)

    def published(self, ref: BatchRef) -> None:
        with self._lock:
            self._unmarked.append(ref.seq)
            self._published.append(ref.seq)
            rows = self._rows[ref.seq]
        if self._on_batch is not None:
            self._on_batch(rows.size)

    def flush(self, pipe: redis.client.Pipeline) -> None:
        """Mark published batches ``queued``, riding on the next round trip."""
        with self._lock:
            unmarked, self._unmarked = self._unmarked, []
        for seq in unmarked:
            ledger.mark_published(pipe, self.job_id, seq)

    def interrupted(
        self, kind: type[EnqueueInterrupted], reason: str, points: Points
    ) -> EnqueueInterrupted:
        """Cut the job down to what was published, if Redis answers, and build the error.

        If Redis cannot be reached, every batch it confirmed storing stays in the job (the
        fleet finishes the job's enqueue once Redis is back, and delivers them); the batch
        whose round trip went unanswered may or may not have been stored.
        """
        published = sorted(self._published)
        try:
            # Every published batch is marked again: a mark riding on a failed round trip is lost.
            pipe = self.r.pipeline(transaction=True)
            for seq in published:
                ledger.mark_published(pipe, self.job_id, seq)
            pipe.execute()
            unpublished = sorted((s, size) for s, size in self._sizes.items() if s not in published)
            count = sum(self._rows[s].size for s in published)
            dropped = ledger.abort(
                self.r,
                self.job_id,
                self.index,
                unpublished,
                reason,
                count,
                also=None
                if points.op == "upsert"
                else functools.partial(
                    marks.forget,
                    index=self.index,
                    seqs=[s for s, _ in unpublished],
                    unless_in_job=self.job_id,
                ),
            )
        except redis.RedisError:
            dropped = -1
            note = (
                "Redis could not be reached to update its ledger; once it is back, workers "
                "finish the job with these batches and write them (client.job(job_id) waits)"
            )
        else:
            note = "its ledger lists exactly those batches"
            if dropped < 0:
                note = "workers had already finished the job's enqueue with these batches"
        kept = published if dropped >= 0 else sorted(self._confirmed)
        uncertain = [] if dropped >= 0 else sorted(set(self._sizes) - self._confirmed)
        enqueued, unsure = self._ids(points, kept), self._ids(points, uncertain)
        maybe = f"; {len(unsure)} more, of a batch Redis did not confirm, may be" if unsure else ""
        what = "vectors" if points.op == "upsert" else "ids"
        call = {"upsert": "upsert", "delete": "delete", "update": "update_metadata"}[points.op]
        return kind(
            f"{reason}. Job {self.job_id}: {len(enqueued)} of {len(points)} {what} were "
            f"enqueued before this{maybe} ({note}); calling {call} again with the same data "
            "is safe",
            job_id=self.job_id,
            enqueued_ids=enqueued,
            uncertain_ids=unsure,
        )

    def _ids(self, points: Points, seqs: list[int]) -> list[idrules.Id]:
        if not seqs:
            return []
        return points.caller_ids(np.sort(np.concatenate([self._rows[s] for s in seqs])))
