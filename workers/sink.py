"""The Qdrant sink: makes shard collections exist and writes batches with conditional upserts."""

from __future__ import annotations

import base64
import functools
import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
from qdrant_client import models
from qdrant_client.http.exceptions import UnexpectedResponse

from shared import keys
from shared.codec import Batch, Metadata
from shared.qdrant import create_collection
from shared.registry import IndexInfo
from shared.validation import last_occurrences
from workers import retry
from workers.stage_clock import StageClock

log = logging.getLogger(__name__)

# Points per request in local mode: it upserts fastest at 16 to 64 points a request (about
# 6,000/s at 768-d, against 4,100/s for 2,048), and its lock is released between requests, so
# a live-lane write waits for at most one of them (about 5 ms at 768-d).
LOCAL_REQUEST_POINTS = 32
# Most bytes of one request to a Qdrant server, as encoded: a quarter of Qdrant's default
# max_request_size (32 MiB), so payloads larger than estimated still fit.
MAX_REQUEST_BYTES = 8 * 1024 * 1024
# Encoded bytes per vector component: JSON spells a float32 in up to 17 significant digits
# plus sign, point, exponent and comma; gRPC packs 4 bytes plus a little framing.
REST_BYTES_PER_FLOAT = 20
GRPC_BYTES_PER_FLOAT = 5
# JSON framing of one point beyond its vector: id, braces, the sequence number field.
_POINT_OVERHEAD = 64


def payloads(batch: Batch, seqs: Sequence[int] | None = None) -> list[dict[str, Any]]:
    """The Qdrant payload of every point: metadata, the sequence number, the encrypted item.

    ``seqs`` gives each point its own sequence number (a coalesced write); by default every
    point carries the batch's.
    """
    n = len(batch)
    metadata: Sequence[Metadata | None] = batch.metadata or [None] * n
    items: Sequence[bytes | None] = batch.items or [None] * n
    point_seqs: Sequence[int] = seqs if seqs is not None else [batch.seq] * n
    out = []
    for meta, item, seq in zip(metadata, items, point_seqs, strict=True):
        payload: dict[str, Any] = dict(meta) if meta else {}
        payload[keys.PAYLOAD_SEQ] = seq
        if item is not None:
            payload[keys.PAYLOAD_ITEM] = base64.b64encode(item).decode("ascii")
        out.append(payload)
    return out


def newer_only(seq: int) -> models.Filter:
    """Matches stored points older than ``seq``: the condition of a conditional upsert."""
    return models.Filter(must=[_older(seq)])


def _older(seq: int) -> models.FieldCondition:
    return models.FieldCondition(key=keys.PAYLOAD_SEQ, range=models.Range(lt=seq))


class QdrantSink:
    """Writes shard batches into ``vecq__{index}__{shard}`` collections."""

    def __init__(
        self,
        client: Any,
        *,
        local: bool,
        retry_seconds: float = retry.MAX_TOTAL_SECONDS,
        grpc: bool = False,
        clock: StageClock | None = None,
    ) -> None:
        self.client = client
        self.local = local
        self.grpc = grpc
        self.retry_seconds = retry_seconds
        self.clock = clock or StageClock()
        self._known: set[str] = set()
        self._lock = threading.Lock()

    def ensure_collection(self, info: IndexInfo, shard: int) -> str:
        """Create the shard's collection if it does not exist yet; return its name."""
        name = keys.collection(info.name, shard)
        if name in self._known:
            return name
        with self._lock:
            if not retry.call(lambda: self.client.collection_exists(name)):
                self._create(info, name)
            self._known.add(name)
        return name

    def _create(self, info: IndexInfo, name: str) -> None:
        try:
            retry.call(lambda: create_collection(self.client, info, name, local=self.local))
        except (UnexpectedResponse, ValueError):
            # Another worker may have created it between our check and our create.
            if not self.client.collection_exists(name):
                raise
        log.info("created collection %s (dim %d, %s)", name, info.dimension, info.metric)

    def forget(self, info: IndexInfo) -> None:
        """Drop cached knowledge of the index's collections (after a delete or a 404)."""
        with self._lock:
            self._known.difference_update(info.collections())

    def write(self, info: IndexInfo, batch: Batch) -> None:
        """Upsert the batch so that no point with a newer sequence number is overwritten.

        The condition ``_vecq_seq < seq`` makes a redelivered batch a no-op and makes an older
        batch that arrives late skip points a newer batch already wrote, while still inserting
        points that do not exist. ``wait=True``: when this returns, the write is applied. A
        large batch goes as several requests (see :meth:`request_points`); the in-task retry
        budget covers them all.
        """
        collection = self.ensure_collection(info, batch.shard)
        self._send(collection, batch, None, lambda rows: newer_only(batch.seq))

    def write_many(self, info: IndexInfo, batches: Sequence[Batch]) -> None:
        """Upsert several batches of one shard in as few requests as :meth:`write` takes for one.

        Coalescing for the live lane. An id in several batches is written once, from the
        newest; the condition is per batch (``has_id`` of its points and ``_vecq_seq`` below
        its own sequence number), so every point obeys exactly the rule :meth:`write` applies.
        """
        if len(batches) == 1:
            self.write(info, batches[0])
            return
        shard = batches[0].shard
        if any(b.shard != shard or b.index != info.name for b in batches):
            raise ValueError("write_many takes batches of one shard of one index")
        merged, seqs = _merge(batches)
        collection = self.ensure_collection(info, shard)

        def condition(rows: slice) -> models.Filter:
            ids = merged.ids[rows].tolist()
            part_seqs = seqs[rows].tolist()
            by_seq: dict[int, list[int]] = {}
            for point_id, seq in zip(ids, part_seqs, strict=True):
                by_seq.setdefault(seq, []).append(point_id)
            return models.Filter(
                should=[
                    models.Filter(must=[models.HasIdCondition(has_id=list(group)), _older(seq)])
                    for seq, group in by_seq.items()
                ]
            )

        self._send(collection, merged, seqs, condition)

    def request_points(self, batch: Batch) -> int:
        """Points per request: few in local mode (see LOCAL_REQUEST_POINTS); by size on a server."""
        if self.local:
            return LOCAL_REQUEST_POINTS
        per_float = GRPC_BYTES_PER_FLOAT if self.grpc else REST_BYTES_PER_FLOAT
        largest_item = max((len(i) for i in batch.items or () if i is not None), default=0)
        largest_meta = max((len(str(m)) for m in batch.metadata or () if m), default=0)
        per_point = batch.vectors.shape[1] * per_float + _POINT_OVERHEAD + largest_meta
        per_point += largest_item * 4 // 3 + 4  # base64
        return max(1, MAX_REQUEST_BYTES // int(per_point))

    def _send(
        self,
        collection: str,
        batch: Batch,
        seqs: npt.NDArray[np.int64] | None,
        condition: Callable[[slice], models.Filter],
    ) -> None:
        step = self.request_points(batch)
        deadline = time.monotonic() + self.retry_seconds
        for start in range(0, len(batch), step):
            rows = slice(start, start + step)
            with self.clock.stage("encode"):
                part = batch if step >= len(batch) else batch.select(rows)
                points = models.Batch(
                    ids=part.ids.tolist(),
                    vectors=part.vectors.tolist(),
                    payloads=payloads(part, None if seqs is None else seqs[rows].tolist()),
                )
                update_filter = condition(rows)

            with self.clock.stage("sink"):
                retry.call(
                    functools.partial(
                        self.client.upsert, collection, points, wait=True,
                        update_filter=update_filter,
                    ),
                    max_seconds=max(0.1, deadline - time.monotonic()),
                )  # fmt: skip


def _merge(batches: Sequence[Batch]) -> tuple[Batch, npt.NDArray[np.int64]]:
    """One batch of every point of ``batches``, each id once (from the newest), with its seq."""
    ordered = sorted(batches, key=lambda b: b.seq)
    ids = np.concatenate([b.ids for b in ordered])
    seqs = np.concatenate([np.full(len(b), b.seq, dtype=np.int64) for b in ordered])
    # Last occurrence wins: batches are in seq order, and within one batch ids are unique.
    last = last_occurrences(ids)
    keep = np.arange(ids.size) if last is None else last
    vectors = np.concatenate([b.vectors for b in ordered])[keep]
    items = None
    if any(b.items is not None for b in ordered):
        flat_items = [i for b in ordered for i in (b.items or [None] * len(b))]
        items = [flat_items[k] for k in keep.tolist()]
    metadata = None
    if any(b.metadata is not None for b in ordered):
        flat_meta = [m for b in ordered for m in (b.metadata or [None] * len(b))]
        metadata = [flat_meta[k] for k in keep.tolist()]
    first = ordered[0]
    merged = Batch(first.index, first.index_uid, first.shard, ordered[-1].seq, ids[keep],
                   vectors, items, metadata)  # fmt: skip
    return merged, seqs[keep]
