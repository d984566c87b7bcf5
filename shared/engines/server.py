"""qdrant-client as an engine: a Qdrant server (REST or gRPC), or local mode.

Both are driven through the very same client calls. An index is one collection named
after it, created with ``shard_number`` = the index's shards and an integer payload index
on ``_vecq_seq`` (a server's; local mode has no payload indexes). Local mode is not
thread-safe, so its client comes wrapped so that every call takes one lock; Qdrant calls
local mode unfit beyond 20,000 points: it is the stand-in for a server in tests.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Any

from vecq.shared import keys
from vecq.shared.config.settings import Settings
from vecq.shared.engines import (
    CollectionShape,
    Hit,
    Kind,
    StoredPoint,
    Write,
    connect,
    grpc_wire,
    hits,
    qdrant_models,
    stored_vector,
)
from vecq.shared.engines.grpc_channel import UpsertChannel
from vecq.shared.engines.priority_lock import Serialized
from vecq.shared.errors import (
    CollectionMissing,
    IndexExistsError,
    IndexNotLoadedError,
    StorageLocked,
)
from vecq.shared.points.payload_indexes import PayloadIndex
from vecq.shared.points.query import Search
from vecq.shared.state.registry import IndexInfo

log = logging.getLogger(__name__)

# Points per request in local mode: it upserts fastest at 16 to 64 points a request (about
# 6,000/s at 768-d, against 4,100/s for 2,048), and its lock is released between requests, so
# a live-lane write waits for at most one of them (about 5 ms at 768-d).
LOCAL_REQUEST_POINTS = 32
# Most bytes of one request to a Qdrant server, as encoded: a quarter of Qdrant's default
# max_request_size (32 MiB), so payloads larger than estimated still fit.
MAX_REQUEST_BYTES = 8 * 1024 * 1024
# Most points in one request to a server (Settings.request_points): small enough that a
# batch goes as several requests in flight at once, large enough to amortise each call.
SERVER_REQUEST_POINTS = 512
# Encoded bytes per vector component: JSON spells a float32 in up to 17 significant digits
# plus sign, point, exponent and comma; gRPC packs 4 bytes plus a little framing.
REST_BYTES_PER_FLOAT = 20
GRPC_BYTES_PER_FLOAT = 5
# JSON framing of one point beyond its vector and payload: id, braces, field names.
POINT_OVERHEAD = 64
# Qdrant's indexing_threshold (KB of vectors in a segment before it is indexed); 0 turns
# indexing off. A collection that reports none gets this back (Qdrant's default).
DEFAULT_INDEXING_THRESHOLD = 20_000
# Pause between two looks at a collection's status while waiting for it to be indexed.
_POLL_SECONDS = 0.2
# qdrant-client warns on every write once a local-mode collection passes 20,000 points.
# docs/operations.md says what local mode is for; repeating it per batch only fills logs (and under
# ``-W error`` it would turn every later write into a failure).
LOCAL_MODE_WARNINGS = ("Local mode is not recommended",)


class ServerEngine:
    """Indexes as collections of a Qdrant server, or of local mode, through qdrant-client."""

    def __init__(
        self, client: Any, kind: Kind, *, grpc: bool = False, upserts: UpsertChannel | None = None
    ) -> None:
        self.client = client
        self.kind = kind
        self.grpc = grpc
        # Upserts to a server over gRPC go pre-encoded through a channel of their own.
        self.upserts = upserts
        self.max_points = SERVER_REQUEST_POINTS

    @classmethod
    def open(cls, settings: Settings) -> ServerEngine:
        """A server's client (``qdrant_url``) or local mode at ``qdrant_path``."""
        if settings.qdrant_url is not None:
            client = connect.server_client(settings)
            grpc = connect.prefers_grpc(client)
            upserts = UpsertChannel(settings, channels=connect.channels(settings)) if grpc else None
            engine = cls(client, "server", grpc=grpc, upserts=upserts)
            engine.max_points = settings.request_points
            return engine
        from qdrant_client import QdrantClient

        path = settings.qdrant_path or ":memory:"
        try:
            local = (
                QdrantClient(location=":memory:") if path == ":memory:" else QdrantClient(path=path)
            )
        except RuntimeError as exc:  # the folder is locked by another process
            raise StorageLocked(
                f"Qdrant storage {path} is in use by another process ({exc}); read through "
                "that process, or set VECQ_QDRANT_URL"
            ) from exc
        return cls(Serialized(local, quiet=LOCAL_MODE_WARNINGS), "local")

    def __repr__(self) -> str:
        return f"<ServerEngine {self.kind}{' gRPC' if self.grpc else ''}>"

    def create(self, info: IndexInfo, *, indexing: bool = True) -> None:
        if self.client.collection_exists(info.collection):
            raise IndexExistsError(
                f"Qdrant already has a collection named {info.collection!r}; vecq writes only "
                "into collections it creates: delete that collection, or pick another name"
            )
        self._create(info, indexing_threshold=None if indexing else 0)

    def ensure(self, info: IndexInfo) -> None:
        if not self.client.collection_exists(info.collection):
            try:
                self._create(info)
            except Exception:
                # Another worker may have created it between our check and our create.
                if not self.client.collection_exists(info.collection):
                    raise

    def _create(self, info: IndexInfo, indexing_threshold: int | None = None) -> None:
        from qdrant_client import models

        optimizers = None
        if indexing_threshold is not None:
            optimizers = models.OptimizersConfigDiff(indexing_threshold=indexing_threshold)
        dense, sparse = qdrant_models.vectors_config(info)
        self.client.create_collection(
            info.collection,
            vectors_config=dense,
            sparse_vectors_config=sparse,
            shard_number=info.shards,
            optimizers_config=optimizers,
        )
        if self.kind == "server":  # local mode has no payload indexes (and warns)
            self.client.create_payload_index(
                info.collection, keys.PAYLOAD_SEQ, models.PayloadSchemaType.INTEGER, wait=True
            )
        schema = info.schema
        shape = f"dim {info.dimension}, {info.metric}" if schema is None else schema.describe()
        log.info("created collection %s (%s, %d shards)", info.collection, shape, info.shards)

    def write(self, info: IndexInfo, request: Write) -> None:
        if self.upserts is not None:
            from qdrant_client.conversions.conversion import RestToGrpc

            condition = RestToGrpc.convert_filter(qdrant_models.condition(request, info))
            named = None
            if request.named is not None:
                named = request.point_vectors(grpc_wire.named_vector).__getitem__
            body = grpc_wire.upsert_request(
                info.collection,
                request.ids,
                request.vectors,
                request.payloads,
                condition,
                named=named,
            )
            self.upserts.upsert(body)
            return
        self.client.upsert(
            info.collection,
            qdrant_models.rest_points(request),
            wait=True,
            update_filter=qdrant_models.condition(request, info),
        )

    def delete(self, info: IndexInfo, ids: Sequence[int | str], below: int) -> None:
        from qdrant_client import models

        if ids:
            selector = models.FilterSelector(filter=qdrant_models.older(ids, below, info))
            self.client.delete(info.collection, selector, wait=True)

    def set_payload(
        self, info: IndexInfo, ids: Sequence[int | str], payload: dict[str, Any], below: int
    ) -> None:
        if ids:
            self.client.set_payload(
                info.collection, payload, points=qdrant_models.older(ids, below, info), wait=True
            )

    def request_points(self, dimension: int, payload_bytes: int) -> int:
        if self.kind == "local":
            return LOCAL_REQUEST_POINTS
        per_float = GRPC_BYTES_PER_FLOAT if self.grpc else REST_BYTES_PER_FLOAT
        per_point = dimension * per_float + POINT_OVERHEAD + payload_bytes
        return max(1, min(self.max_points, MAX_REQUEST_BYTES // per_point))

    def is_missing(self, exc: BaseException) -> bool:
        from qdrant_client.http.exceptions import UnexpectedResponse

        if isinstance(exc, CollectionMissing):
            return True
        if isinstance(exc, UnexpectedResponse):
            return exc.status_code == 404
        code = getattr(exc, "code", None)
        if callable(code) and getattr(code(), "name", "") == "NOT_FOUND":  # gRPC
            return True
        return isinstance(exc, ValueError) and "not found" in str(exc).lower()  # local mode

    def retrieve(
        self, info: IndexInfo, ids: Sequence[int | str], *, vectors: bool = True
    ) -> list[StoredPoint]:
        if not ids:
            return []
        try:
            records = self.client.retrieve(
                info.collection, list(ids), with_payload=True, with_vectors=vectors
            )
        except Exception as exc:
            if self.is_missing(exc):
                return []  # nothing was ever written to it
            raise
        return [_stored(r) for r in records]

    def count(self, info: IndexInfo) -> int:
        try:
            return int(self.client.count(info.collection, exact=True).count)
        except Exception as exc:
            if self.is_missing(exc):
                return 0
            raise

    def query(self, info: IndexInfo, search: Search) -> list[Hit]:
        try:
            found = self.client.query_points(
                info.collection, **qdrant_models.query_args(search), with_payload=True
            ).points
        except Exception as exc:
            if self.is_missing(exc):
                return []
            raise
        return hits(found, search.with_vectors)

    def scroll_page(
        self, info: IndexInfo, offset: Any, page: int = 1000, *, vectors: bool = True
    ) -> tuple[list[StoredPoint], Any]:
        try:
            records, following = self.client.scroll(
                info.collection, limit=page, offset=offset, with_vectors=vectors, with_payload=True
            )
        except Exception as exc:
            if self.is_missing(exc):
                return [], None
            raise
        return [_stored(r) for r in records], following

    def create_payload_index(self, info: IndexInfo, index: PayloadIndex) -> None:
        if self.kind != "server":  # local mode has none ("no effect", qdrant-client warns)
            return
        schema = qdrant_models.field_schema(index)
        self.client.create_payload_index(info.collection, index.field, schema, wait=True)

    def payload_indexes(self, info: IndexInfo) -> list[PayloadIndex]:
        try:
            schema = self.client.get_collection(info.collection).payload_schema or {}
        except Exception as exc:
            if self.is_missing(exc):
                return []
            raise
        return qdrant_models.user_indexes(schema)

    def drop(self, info: IndexInfo) -> None:
        if self.client.collection_exists(info.collection):
            self.client.delete_collection(info.collection)

    def pause_indexing(self, info: IndexInfo) -> int:
        if not self.client.collection_exists(info.collection):
            try:
                self._create(info, indexing_threshold=0)
            except Exception:  # a worker may create it at the same moment
                if not self.client.collection_exists(info.collection):
                    raise
        config = self.client.get_collection(info.collection).config.optimizer_config
        threshold = getattr(config, "indexing_threshold", None)
        saved = int(threshold) if threshold else DEFAULT_INDEXING_THRESHOLD
        self._set_threshold(info, 0)
        return saved

    def resume_indexing(self, info: IndexInfo, saved: int, timeout: float | None) -> None:
        from qdrant_client import models

        deadline = None if timeout is None else time.monotonic() + timeout
        self._set_threshold(info, saved or DEFAULT_INDEXING_THRESHOLD)
        while self.client.get_collection(info.collection).status != models.CollectionStatus.GREEN:
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"collection {info.collection} is still being indexed")
            time.sleep(_POLL_SECONDS)

    def _set_threshold(self, info: IndexInfo, threshold: int) -> None:
        from qdrant_client import models

        self.client.update_collection(
            info.collection,
            optimizers_config=models.OptimizersConfigDiff(indexing_threshold=threshold),
        )

    def backlog(self, info: IndexInfo) -> tuple[int, str] | None:
        if self.kind != "server":
            return None
        collection = self.client.get_collection(info.collection)
        queued = collection.update_queue.length if collection.update_queue is not None else 0
        try:
            summary = self.client.get_optimizations(info.collection).summary
            queued += int(summary.queued_points)
        except Exception as exc:  # a server before v1.17 has no optimizations endpoint
            log.debug("no optimizations summary for %s: %r", info.collection, exc)
        return int(queued), str(collection.status.value)

    def describe_collection(self, collection: str) -> CollectionShape:
        from qdrant_client import models

        if not self.client.collection_exists(collection):
            raise IndexNotLoadedError(f"Qdrant has no collection {collection!r} to attach to")
        described = self.client.get_collection(collection)
        params = described.config.params
        dimension, metric, schema = qdrant_models.shape_of(
            collection, params.vectors, params.sparse_vectors
        )
        unset = models.IsEmptyCondition(is_empty=models.PayloadField(key=keys.PAYLOAD_SEQ))
        foreign = self.client.count(
            collection, count_filter=models.Filter(must=[unset]), exact=True
        ).count
        seq_index = (described.payload_schema or {}).get(keys.PAYLOAD_SEQ)
        return CollectionShape(
            dimension,
            metric,
            schema,
            int(params.shard_number or 1),
            has_seq_index=qdrant_models.is_integer_index(seq_index),
            foreign_points=int(foreign),
        )

    def prepare_attached(self, info: IndexInfo) -> None:
        from qdrant_client import models

        if self.kind == "server":  # local mode has no payload indexes
            self.client.create_payload_index(
                info.collection, keys.PAYLOAD_SEQ, models.PayloadSchemaType.INTEGER, wait=True
            )

    def ping(self) -> None:
        self.client.get_collections()

    def close(self) -> None:
        if self.upserts is not None:
            self.upserts.close()
        self.client.close()


def _stored(record: Any) -> StoredPoint:
    point_id = record.id if isinstance(record.id, int) else str(record.id)
    return StoredPoint(point_id, stored_vector(record.vector), dict(record.payload or {}))
