"""Qdrant Edge in this process: the embedded default engine.

Each index is one Edge shard, ``{root}/{index}/``, which any program can open with
``qdrant_edge.EdgeShard.load(path)`` once vecq has closed it (one process per folder).
Beside it, ``{index}.vecq-index`` records which index (by uid) the folder belongs to, so a
folder left behind by a deleted index is never mistaken for a new index of the same name.

Edge builds its HNSW graph only in ``optimize()``: bulk mode calls it at the end of a load.
An ``update`` holds the GIL for its whole run, so requests stay small
(:data:`REQUEST_FLOATS`): a live-lane write waits for at most one of them.
"""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from vecq.shared import keys
from vecq.shared.engines import Hit, Kind, StoredPoint, Write, edge_models, hits, stored_vector
from vecq.shared.errors import CollectionMissing, StorageLocked
from vecq.shared.points.payload_indexes import PayloadIndex
from vecq.shared.points.query import Search
from vecq.shared.state import registry
from vecq.shared.state.registry import IndexInfo

if TYPE_CHECKING:
    import qdrant_edge

# Vector components per write request: 64 points of 768-d. An update holds the GIL
# throughout, so this bounds how long a live-lane write waits behind a bulk one (p99 during
# a backfill: 2.8x idle at 64 points, 3.0x at 128, 4.3x at 256; bench.latency); Edge wrote
# 64 to 1,024 points a request at the same rate here (33,000-35,000 points/s at 768-d).
REQUEST_FLOATS = 64 * 768
# Bounds on points per request, for very small and very large vectors.
MIN_REQUEST_POINTS, MAX_REQUEST_POINTS = 16, 4096
# The file beside a shard folder naming the index (by uid) the folder belongs to.
MARKER_SUFFIX = ".vecq-index"


class EdgeEngine:
    """Every index as an Edge shard under ``root``; shards stay open until :meth:`close`."""

    kind: Kind = "edge"

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self._open: dict[str, tuple[str, qdrant_edge.EdgeShard]] = {}  # name -> (uid, shard)
        self._lock = threading.RLock()

    def __repr__(self) -> str:
        return f"<EdgeEngine {self.root}>"

    def path(self, info: IndexInfo) -> Path:
        """The index's shard folder (a name that is no index's, such as ``../x``, is refused
        before it reaches the file system)."""
        return self.root / registry.check_name(info.name)

    def create(self, info: IndexInfo, *, indexing: bool = True) -> None:
        # vecq owns the root folder: a folder without a registry entry is a deleted index's.
        with self._lock:
            self._forget(info.name)
            self._remove(info.name)
            self._new(info)

    def ensure(self, info: IndexInfo) -> None:
        with self._lock:
            if self._shard(info) is None:
                self._remove(info.name)
                self._new(info)

    def write(self, info: IndexInfo, request: Write) -> None:
        from qdrant_edge import Point, UpdateOperation

        shard = self._shard(info)
        if shard is None:
            raise CollectionMissing(f"index {info.name!r} has no Edge shard in {self.root}")
        if request.named is not None:
            named = request.point_vectors(edge_models.edge_vector)
            points = [
                Point(point_id, vector, payload)
                for point_id, vector, payload in zip(
                    request.ids, named, request.payloads, strict=True
                )
            ]
        else:
            vectors = np.ascontiguousarray(request.vectors, dtype=np.float32)
            # A memoryview row converts to Edge's vector about 3x faster than a NumPy row.
            rows = zip(request.ids, vectors, request.payloads, strict=True)
            points = [
                Point(point_id, memoryview(row), payload)  # type: ignore[arg-type]  # any sequence
                for point_id, row, payload in rows
            ]
        shard.update(
            UpdateOperation.upsert_points(points, condition=edge_models.condition(request))
        )

    def delete(self, info: IndexInfo, ids: Sequence[int | str], below: int) -> None:
        from qdrant_edge import UpdateOperation

        shard = self._shard(info)
        if shard is not None and ids:
            shard.update(UpdateOperation.delete_points_by_filter(edge_models.older(ids, below)))

    def set_payload(
        self, info: IndexInfo, ids: Sequence[int | str], payload: dict[str, Any], below: int
    ) -> None:
        from qdrant_edge import UpdateOperation

        shard = self._shard(info)
        if shard is not None and ids:
            shard.update(
                UpdateOperation.set_payload_by_filter(edge_models.older(ids, below), payload)
            )

    def shard(self, info: IndexInfo) -> qdrant_edge.EdgeShard | None:
        """The index's open Edge shard (None if it has none): search it in this process.

        One process at a time may open a shard folder, so while vecq runs embedded, query the
        index through this object (``shard.query(...)``); vecq closes it on ``close()``.
        """
        return self._shard(info)

    def request_points(self, dimension: int, payload_bytes: int) -> int:
        per_point = max(1, dimension)
        return max(MIN_REQUEST_POINTS, min(MAX_REQUEST_POINTS, REQUEST_FLOATS // per_point))

    def is_missing(self, exc: BaseException) -> bool:
        return isinstance(exc, CollectionMissing)

    def retrieve(
        self, info: IndexInfo, ids: Sequence[int | str], *, vectors: bool = True
    ) -> list[StoredPoint]:
        shard = self._shard(info)
        if shard is None or not ids:
            return []
        records = shard.retrieve(list(ids), with_payload=True, with_vector=vectors)
        return [_stored(r) for r in records]

    def count(self, info: IndexInfo) -> int:
        from qdrant_edge import CountRequest

        shard = self._shard(info)
        return 0 if shard is None else int(shard.count(CountRequest(exact=True)))

    def query(self, info: IndexInfo, search: Search) -> list[Hit]:
        shard = self._shard(info)
        if shard is None:
            return []
        found = shard.query(edge_models.query_request(search))
        return hits(found, search.with_vectors)

    def scroll_page(
        self, info: IndexInfo, offset: Any, page: int = 1000, *, vectors: bool = True
    ) -> tuple[list[StoredPoint], Any]:
        from qdrant_edge import ScrollRequest

        shard = self._shard(info)
        if shard is None:
            return [], None
        request = ScrollRequest(offset=offset, limit=page, with_payload=True, with_vector=vectors)
        records, following = shard.scroll(request)
        return [_stored(r) for r in records], following

    def create_payload_index(self, info: IndexInfo, index: PayloadIndex) -> None:
        from qdrant_edge import UpdateOperation

        shard = self._shard(info)
        if shard is None:
            raise CollectionMissing(f"index {info.name!r} has no Edge shard in {self.root}")
        shard.update(
            UpdateOperation.create_field_index(index.field, edge_models.field_schema(index))
        )

    def payload_indexes(self, info: IndexInfo) -> list[PayloadIndex]:
        shard = self._shard(info)
        if shard is None:
            return []
        found = []
        for field, held in shard.info().payload_schema.items():
            if field.startswith(keys.RESERVED_PREFIX):
                continue
            kind = str(held.data_type).rsplit(".", 1)[-1].lower()
            params = held.params
            found.append(
                PayloadIndex(
                    field,
                    kind,
                    bool(getattr(params, "is_tenant", None)),
                    bool(getattr(params, "is_principal", None)),
                )
            )
        return sorted(found, key=lambda p: p.field)

    def drop(self, info: IndexInfo) -> None:
        with self._lock:
            if info.name not in self._open and self.path(info).exists():
                self._load(info).close()  # StorageLocked if another process holds it
            self._forget(info.name)
            self._remove(info.name)

    def pause_indexing(self, info: IndexInfo) -> int:
        # Edge indexes only when told to (optimize): a load is never slowed by it.
        self.ensure(info)
        return 0

    def resume_indexing(self, info: IndexInfo, saved: int, timeout: float | None) -> None:
        deadline = None if timeout is None else time.monotonic() + timeout
        shard = self._shard(info)
        if shard is not None:
            shard.optimize()  # builds the HNSW graph; runs to the end once started
        if deadline is not None and time.monotonic() > deadline:
            raise TimeoutError(f"Edge shard of {info.name!r} took past the deadline to optimize")

    def backlog(self, info: IndexInfo) -> tuple[int, str] | None:
        return None  # in this process: nothing to pace

    def ping(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)

    def close(self) -> None:
        with self._lock:
            for name in list(self._open):
                self._forget(name)

    def _shard(self, info: IndexInfo) -> qdrant_edge.EdgeShard | None:
        """The index's open shard, loading it if its folder is this index's; else None."""
        with self._lock:
            held = self._open.get(info.name)
            if held is not None and held[0] == info.uid:
                return held[1]
            if held is not None:  # the index was deleted and re-created meanwhile
                self._forget(info.name)
            if not self.path(info).exists() or self._owner(info.name) != info.uid:
                return None
            shard = self._load(info)
            self._open[info.name] = (info.uid, shard)
            return shard

    def _new(self, info: IndexInfo) -> None:
        from qdrant_edge import EdgeShard, PayloadSchemaType, UpdateOperation

        self.root.mkdir(parents=True, exist_ok=True)
        shard = EdgeShard.create(str(self.path(info)), edge_models.config(info))
        shard.update(
            UpdateOperation.create_field_index(keys.PAYLOAD_SEQ, PayloadSchemaType.Integer)
        )
        self._marker(info.name).write_text(info.uid)
        self._open[info.name] = (info.uid, shard)

    def _load(self, info: IndexInfo) -> qdrant_edge.EdgeShard:
        from qdrant_edge import EdgeShard

        try:
            return EdgeShard.load(str(self.path(info)))
        except Exception as exc:  # Edge raises plain Exceptions; a held WAL says WouldBlock
            if "WouldBlock" in str(exc):
                raise StorageLocked(
                    f"the Edge shard {self.path(info)} is open in another process (one process "
                    "per folder): read and write through that process"
                ) from exc
            raise

    def _forget(self, name: str) -> None:
        held = self._open.pop(name, None)
        if held is not None:
            held[1].flush()
            held[1].close()

    def _remove(self, name: str) -> None:
        shutil.rmtree(self.root / registry.check_name(name), ignore_errors=True)
        self._marker(name).unlink(missing_ok=True)

    def _marker(self, name: str) -> Path:
        return self.root / f"{registry.check_name(name)}{MARKER_SUFFIX}"

    def _owner(self, name: str) -> str | None:
        try:
            return self._marker(name).read_text().strip()
        except OSError:
            return None


def _stored(record: Any) -> StoredPoint:
    point_id = record.id if isinstance(record.id, int) else str(record.id)
    return StoredPoint(point_id, stored_vector(record.vector), dict(record.payload or {}))
