"""The sink: writes shard batches into the index's collection with conditional upserts.

It speaks to an engine (``shared/engines``: Qdrant Edge, or qdrant-client for a server or
local mode) through one seam, splits batches into requests of the size the engine wants,
and retries each request on transient errors within the task's budget.
"""

from __future__ import annotations

import base64
import contextvars
import dataclasses
import functools
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from typing import Any

import numpy as np
import numpy.typing as npt

from vecq.shared import keys
from vecq.shared.engines import Write, Writer
from vecq.shared.points.columns import Columns
from vecq.shared.points.metadata import Metadata
from vecq.shared.points.validation import last_rows
from vecq.shared.state.registry import IndexInfo
from vecq.shared.wire.codec import Batch
from vecq.workers import retry
from vecq.workers.pacer import Pacer
from vecq.workers.stage_clock import StageClock


def payloads(batch: Batch, seqs: Sequence[int] | None = None) -> list[dict[str, Any]]:
    """The Qdrant payload of every point: metadata, the sequence number, the encrypted item,
    and a string id's text.

    ``seqs`` gives each point its own sequence number (a coalesced write); by default every
    point carries the batch's.
    """
    n = len(batch)
    metadata: Sequence[Metadata | None] = batch.metadata or [None] * n
    items: Sequence[bytes | None] = batch.items or [None] * n
    point_seqs: Sequence[int] = seqs if seqs is not None else [batch.seq] * n
    names: Sequence[str | None] = batch.names or [None] * n
    out = []
    for meta, item, seq, name in zip(metadata, items, point_seqs, names, strict=True):
        payload: dict[str, Any] = dict(meta) if meta else {}
        payload[keys.PAYLOAD_SEQ] = seq
        if item is not None:
            payload[keys.PAYLOAD_ITEM] = base64.b64encode(item).decode("ascii")
        if name is not None:
            payload[keys.PAYLOAD_ID] = name
        out.append(payload)
    return out


# Most point ids in one delete or payload request (a filter on ids).
ID_REQUEST = 1024


class QdrantSink:
    """Writes shard batches into their index's collection, through ``engine``."""

    def __init__(
        self,
        engine: Writer,
        *,
        retry_seconds: float = retry.MAX_TOTAL_SECONDS,
        clock: StageClock | None = None,
        concurrency: int = 1,
        pacer: Pacer | None = None,
    ) -> None:
        self.engine = engine
        self.retry_seconds = retry_seconds
        self.clock = clock or StageClock()
        self.concurrency = max(1, concurrency)
        """Requests this sink keeps in flight at once (a batch's requests go in parallel)."""
        self.pacer = pacer
        """Paces requests with the rest of the fleet (a server's sink); None: unpaced."""
        self._known: set[str] = set()
        self._lock = threading.Lock()
        self._threads: ThreadPoolExecutor | None = None

    def ensure(self, info: IndexInfo) -> None:
        """Make the index's collection exist (checked once per index and process)."""
        if info.uid in self._known:
            return
        with self._lock:
            if info.uid not in self._known:
                retry.call(lambda: self.engine.ensure(info))
                self._known.add(info.uid)

    def forget(self, info: IndexInfo) -> None:
        """Check the index's collection again before the next write (after a delete or 404)."""
        with self._lock:
            self._known.discard(info.uid)

    def write(self, info: IndexInfo, batch: Batch) -> None:
        """Upsert the batch so that no point with a newer sequence number is overwritten.

        The condition ``_vecq_seq < seq`` makes a redelivered batch a no-op and makes an older
        batch that arrives late skip points a newer batch already wrote, while still inserting
        points that do not exist. When this returns, the write is applied. A large batch goes
        as several requests (the engine's size); the in-task retry budget covers them all.
        """
        self.ensure(info)
        self._send(info, batch, np.full(len(batch), batch.seq, dtype=np.int64))

    def write_many(self, info: IndexInfo, batches: Sequence[Batch]) -> None:
        """Upsert several batches of one shard in as few requests as :meth:`write` takes for one.

        Coalescing for the live lane. An id in several batches is written once, from the
        newest; each point is guarded by its own batch's sequence number, so every point obeys
        exactly the rule :meth:`write` applies.
        """
        if len(batches) == 1:
            self.write(info, batches[0])
            return
        if any(b.shard != batches[0].shard or b.index != info.name for b in batches):
            raise ValueError("write_many takes batches of one shard of one index")
        merged, seqs = _merge(batches)
        self.ensure(info)
        self._send(info, merged, seqs)

    def delete(self, info: IndexInfo, ids: Sequence[int | str], below: int) -> None:
        """Delete the points among ``ids`` older than ``below`` (a newer write stays)."""
        self.ensure(info)
        for start in range(0, len(ids), ID_REQUEST):
            part = ids[start : start + ID_REQUEST]
            with self.clock.stage("sink"):
                call = functools.partial(self.engine.delete, info, part, below)
                retry.call(self._paced(info, len(part), call), max_seconds=self.retry_seconds)

    def merge(
        self, info: IndexInfo, ids: Sequence[int | str], payload: dict[str, Any], below: int
    ) -> None:
        """Merge ``payload`` into the points among ``ids`` older than ``below``."""
        self.ensure(info)
        for start in range(0, len(ids), ID_REQUEST):
            part = ids[start : start + ID_REQUEST]
            with self.clock.stage("sink"):
                call = functools.partial(self.engine.set_payload, info, part, payload, below)
                retry.call(self._paced(info, len(part), call), max_seconds=self.retry_seconds)

    def request_points(self, batch: Batch) -> int:
        """Points per request, as the engine wants them for this batch's vectors and payloads."""
        largest_item = max((len(i) for i in batch.items or () if i is not None), default=0)
        largest_meta = max((len(str(m)) for m in batch.metadata or () if m), default=0)
        payload = largest_meta + largest_item * 4 // 3 + 4  # items travel as base64
        width = int(batch.vectors.shape[1])
        if batch.named:  # float32 values (and sparse indices) per point, on average
            width += -(-sum(c.floats() for c in batch.named.values()) // max(1, len(batch)))
        return self.engine.request_points(max(1, width), payload)

    def close(self) -> None:
        """Stop the threads that send requests in parallel (the engine stays open)."""
        if self._threads is not None:
            self._threads.shutdown(wait=True)
            self._threads = None

    def _send(self, info: IndexInfo, batch: Batch, seqs: npt.NDArray[np.int64]) -> None:
        step = self.request_points(batch)
        deadline = time.monotonic() + self.retry_seconds

        def send(rows: slice) -> None:
            with self.clock.stage("encode"):
                part = batch if step >= len(batch) else batch.select(rows)
                part_seqs = seqs[rows]
                request = Write(
                    part.point_ids(),
                    part.vectors,
                    payloads(part, part_seqs.tolist()),
                    part_seqs,
                    part.named,
                )
            with self.clock.stage("sink"):
                retry.call(
                    self._paced(
                        info, len(request), functools.partial(self.engine.write, info, request)
                    ),
                    max_seconds=max(0.1, deadline - time.monotonic()),
                )

        parts = [slice(start, start + step) for start in range(0, len(batch), step)]
        if self.concurrency == 1 or len(parts) == 1:
            for rows in parts:
                send(rows)
            return
        # The requests of one batch hold disjoint ids under one guard, so their order does not
        # matter; each keeps its own retries, and the first failure (in row order) is raised
        # once all have ended, so a retry of the batch never races a request still running.
        threads = self._pool()
        futures = [threads.submit(contextvars.copy_context().run, send, rows) for rows in parts]
        wait(futures)
        for future in futures:
            error = future.exception()
            if error is not None:
                raise error

    def _paced(self, info: IndexInfo, points: int, call: Callable[[], None]) -> Callable[[], None]:
        """``call`` as one attempt paced with the fleet (each retry asks again)."""
        pacer = self.pacer
        if pacer is None:
            return call

        def attempt() -> None:
            pacer.probe(info, self.engine)
            with pacer.request(info, points):
                call()

        return attempt

    def _pool(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._threads is None:
                self._threads = ThreadPoolExecutor(self.concurrency, "vecq-sink")
            return self._threads


def _merge(batches: Sequence[Batch]) -> tuple[Batch, npt.NDArray[np.int64]]:
    """One batch of every point of ``batches``, each id once (from the newest), with its seq."""
    ordered = sorted(batches, key=lambda b: b.seq)
    joined = Columns.concat(ordered)
    seqs = np.concatenate([np.full(len(b), b.seq, dtype=np.int64) for b in ordered])
    # Last occurrence wins: batches are in seq order, and within one batch ids are unique.
    last = last_rows(joined.ids, joined.names)
    if last is not None:
        joined, seqs = joined.select(last), seqs[last]
    merged = dataclasses.replace(ordered[0], seq=ordered[-1].seq, op="upsert")
    return merged.with_columns(joined), seqs
