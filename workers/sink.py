"""The Qdrant sink: makes shard collections exist and writes batches with conditional upserts."""

from __future__ import annotations

import base64
import logging
import threading
from collections.abc import Sequence
from typing import Any

from qdrant_client import models
from qdrant_client.http.exceptions import UnexpectedResponse

from shared import keys
from shared.codec import Batch, Metadata
from shared.registry import IndexInfo
from workers import retry

log = logging.getLogger(__name__)

DISTANCES = {
    "cosine": models.Distance.COSINE,
    "dot": models.Distance.DOT,
    "euclid": models.Distance.EUCLID,
    "manhattan": models.Distance.MANHATTAN,
}


def payloads(batch: Batch) -> list[dict[str, Any]]:
    """The Qdrant payload of every point: metadata, the sequence number, the encrypted item."""
    n = len(batch)
    metadata: Sequence[Metadata | None] = batch.metadata or [None] * n
    items: Sequence[bytes | None] = batch.items or [None] * n
    out = []
    for meta, item in zip(metadata, items, strict=True):
        payload: dict[str, Any] = dict(meta) if meta else {}
        payload[keys.PAYLOAD_SEQ] = batch.seq
        if item is not None:
            payload[keys.PAYLOAD_ITEM] = base64.b64encode(item).decode("ascii")
        out.append(payload)
    return out


class QdrantSink:
    """Writes shard batches into ``vecq__{index}__{shard}`` collections."""

    def __init__(
        self, client: Any, *, local: bool, retry_seconds: float = retry.MAX_TOTAL_SECONDS
    ) -> None:
        self.client = client
        self.local = local
        self.retry_seconds = retry_seconds
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
        params = models.VectorParams(size=info.dimension, distance=DISTANCES[info.metric])
        try:
            retry.call(lambda: self.client.create_collection(name, vectors_config=params))
        except (UnexpectedResponse, ValueError):
            # Another worker may have created it between our check and our create.
            if not self.client.collection_exists(name):
                raise
        if not self.local:
            # Makes the conditional upsert's filter on the sequence number cheap on a server
            # (local mode has no payload indexes).
            retry.call(
                lambda: self.client.create_payload_index(
                    name, keys.PAYLOAD_SEQ, models.PayloadSchemaType.INTEGER
                )
            )
        log.info("created collection %s (dim %d, %s)", name, info.dimension, info.metric)

    def forget(self, info: IndexInfo) -> None:
        """Drop cached knowledge of the index's collections (after a delete or a 404)."""
        with self._lock:
            self._known.difference_update(info.collections())

    def write(self, info: IndexInfo, batch: Batch) -> None:
        """Upsert the batch so that no point with a newer sequence number is overwritten.

        The condition ``_vecq_seq < seq`` makes a redelivered batch a no-op and makes an older
        batch that arrives late skip points a newer batch already wrote, while still inserting
        points that do not exist. ``wait=True``: when this returns, the write is applied.
        """
        collection = self.ensure_collection(info, batch.shard)
        points = models.Batch(
            ids=batch.ids.tolist(),
            vectors=batch.vectors.tolist(),
            payloads=payloads(batch),
        )
        newer_only = models.Filter(
            must=[models.FieldCondition(key=keys.PAYLOAD_SEQ, range=models.Range(lt=batch.seq))]
        )

        def upsert() -> None:
            self.client.upsert(collection, points, wait=True, update_filter=newer_only)

        retry.call(upsert, max_seconds=self.retry_seconds)
