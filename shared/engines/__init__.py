"""The Qdrant engines vecq writes to and reads from, behind one small seam.

    Engine (protocol) ........... reads and administration: what every engine answers
     ├── Writer (protocol) ...... and writes: what a worker's sink calls
     │    ├── EdgeEngine ........ Qdrant Edge in this process: the embedded default (edge.py)
     │    └── ServerEngine ...... qdrant-client: a Qdrant server, or local mode (server.py)
     └── ServiceProxy ........... an attached process's calls to the embedded service
                                  (api/service_proxy.py)
    Attacher (protocol) ......... collections that exist before vecq: ServerEngine only

An index is one collection named after it (with Edge: one shard folder,
``{data_dir}/edge/{index}/``), so any Qdrant client can search it as one. Every point
carries its batch's sequence number in ``_vecq_seq``; a write replaces a stored point
only if the stored one is older (Qdrant's conditional update), and always inserts a point
that is not there. Deletes and payload merges are conditional the same way. The engine
modules import their Qdrant library inside functions, so importing ``shared`` stays light.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from vecq.shared.config.settings import Settings
from vecq.shared.points.named_vectors import VectorColumn
from vecq.shared.points.payload_indexes import PayloadIndex
from vecq.shared.points.query import Search
from vecq.shared.points.vector_schema import Schema
from vecq.shared.state.registry import IndexInfo

Kind = Literal["edge", "local", "server"]


@dataclass(frozen=True)
class CollectionShape:
    """What an existing collection holds, as ``Client.attach_index`` reads it."""

    dimension: int
    """The unnamed vector's size (0 if the collection has named vectors)."""
    metric: str
    schema: Schema | None
    shard_number: int
    has_seq_index: bool
    """True if ``_vecq_seq`` already has an integer payload index."""
    foreign_points: int
    """Points without ``_vecq_seq``: written by something other than vecq."""


class StoredPoint(NamedTuple):
    """A point as an engine holds it. ``vector`` is a list of floats for the unnamed vector;
    for named vectors a dict of name to a list of floats (dense), a list of such lists
    (multivector) or ``{"indices": [...], "values": [...]}`` (sparse)."""

    id: int | str
    vector: Any
    payload: dict[str, Any]


class Hit(NamedTuple):
    """One result of a search: a stored point and its score as Qdrant gives it (a similarity
    for cosine and dot, a distance for euclid and manhattan). ``vector`` is as in
    :class:`StoredPoint` if the search asked for vectors, else empty."""

    id: int | str
    score: float
    vector: Any
    payload: dict[str, Any]


def hits(found: Iterable[Any], with_vectors: bool) -> list[Hit]:
    r"""An engine library's scored points (Edge's or qdrant-client's: ``id``, ``score``,
    ``vector``, ``payload``) as :class:`Hit`\ s, vectors only if the search asked for them."""
    return [
        Hit(
            p.id if isinstance(p.id, int) else str(p.id),
            float(p.score),
            stored_vector(p.vector) if with_vectors else [],
            dict(p.payload or {}),
        )
        for p in found
    ]


@dataclass(frozen=True)
class Write:
    """One conditional upsert request: each point replaces a stored one only if that is older.

    ``seqs`` is each point's sequence number (one value for a plain batch; several for a
    coalesced write of several batches).
    """

    ids: list[int | str]
    vectors: npt.NDArray[np.float32]
    payloads: list[dict[str, Any]]
    seqs: npt.NDArray[np.int64]
    named: Mapping[str, VectorColumn] | None = None
    """The named vectors of an index that has them (then ``vectors`` has no columns)."""

    def __len__(self) -> int:
        return len(self.ids)

    def point_vectors(self, convert: Callable[[str, Any], Any]) -> list[dict[str, Any]]:
        """Each point's named vectors (those it carries), each as ``convert(kind, value)``
        makes it for the engine: ``value`` is a float32 row (dense), an array of rows
        (multi) or ``(indices, values)`` as Python lists (sparse). One pass per column: a
        sparse column becomes Python lists once, not once a point."""
        n = len(self.ids)
        points: list[dict[str, Any]] = [{} for _ in range(n)]
        for name, column in (self.named or {}).items():
            carried = (
                range(n) if column.present is None else np.flatnonzero(column.present).tolist()
            )
            kind = column.kind
            if kind == "dense":
                values = np.ascontiguousarray(column.values, dtype=np.float32)
                for i in carried:
                    points[i][name] = convert(kind, values[i])
                continue
            assert column.offsets is not None
            offsets = column.offsets.tolist()
            if kind == "multi":
                rows = np.ascontiguousarray(column.values, dtype=np.float32)
                for i in carried:
                    points[i][name] = convert(kind, rows[offsets[i] : offsets[i + 1]])
                continue
            assert column.indices is not None
            indices, weights = column.indices.tolist(), column.values.tolist()
            for i in carried:
                start, end = offsets[i], offsets[i + 1]
                points[i][name] = convert(kind, (indices[start:end], weights[start:end]))
        return points

    def guards(self) -> list[tuple[int, list[int | str]]]:
        """``(seq, ids)`` groups: the ids each sequence number guards, in first-seen order."""
        groups: dict[int, list[int | str]] = {}
        for point_id, seq in zip(self.ids, self.seqs.tolist(), strict=True):
            groups.setdefault(seq, []).append(point_id)
        return list(groups.items())


class Engine(Protocol):
    """What every engine answers: reads and index administration, one collection an index.

    An attached process's proxy to the embedded service (``api/service_proxy.py``) is one
    too: the service host answers exactly these calls, found from this protocol.
    """

    kind: Kind

    def create(self, info: IndexInfo, *, indexing: bool = True) -> None:
        """Create the index's collection (sharded, with its ``_vecq_seq`` payload index).

        Raises :class:`~vecq.shared.errors.IndexExistsError` if a collection of that name
        already exists and is not this index's.
        """
        ...

    def drop(self, info: IndexInfo) -> None:
        """Delete the index's collection, if it exists."""
        ...

    def retrieve(
        self, info: IndexInfo, ids: Sequence[int | str], *, vectors: bool = True
    ) -> list[StoredPoint]:
        """The stored points among ``ids`` (any order; missing ids left out; a string id is
        its UUID's text). Without ``vectors``, each comes with an empty vector."""
        ...

    def count(self, info: IndexInfo) -> int:
        """Points stored in the index (0 if its collection does not exist)."""
        ...

    def query(self, info: IndexInfo, search: Search) -> list[Hit]:
        """The best points for a checked search, best first, with their payloads (none if
        the index's collection does not exist)."""
        ...

    def scroll_page(
        self, info: IndexInfo, offset: Any, page: int = 1000, *, vectors: bool = True
    ) -> tuple[list[StoredPoint], Any]:
        """One page of the index's points from ``offset`` (``None``: the start) and the offset
        of the next page (``None`` after the last); :func:`scroll_pages` reads them all."""
        ...

    def create_payload_index(self, info: IndexInfo, index: PayloadIndex) -> None:
        """Index a metadata field of the index's collection (local mode: nothing, as Qdrant's
        local mode has no payload indexes)."""
        ...

    def payload_indexes(self, info: IndexInfo) -> list[PayloadIndex]:
        """The collection's payload indexes on user fields (vecq's own left out)."""
        ...

    def pause_indexing(self, info: IndexInfo) -> int:
        """Stop building the index's HNSW graph while a backfill loads; return what to restore."""
        ...

    def resume_indexing(self, info: IndexInfo, saved: int, timeout: float | None) -> None:
        """Restore indexing (``saved`` from :meth:`pause_indexing`) and wait until it is built,
        at most ``timeout`` seconds (``None``: as long as it takes)."""
        ...

    def ping(self) -> None:
        """Raise if the engine cannot be used."""
        ...

    def close(self) -> None:
        """Release the engine's files or connections."""
        ...


class Writer(Engine, Protocol):
    """An engine a worker writes into: the engine in its own process (a server's client,
    local mode, Qdrant Edge), never a proxy (attached processes write through the queue)."""

    def ensure(self, info: IndexInfo) -> None:
        """Make the index's collection exist (a worker's first write; idempotent)."""
        ...

    def write(self, info: IndexInfo, request: Write) -> None:
        """Apply one conditional upsert and return once it is applied."""
        ...

    def delete(self, info: IndexInfo, ids: Sequence[int | str], below: int) -> None:
        """Delete the points among ``ids`` whose ``_vecq_seq`` is below ``below`` (conditional)."""
        ...

    def set_payload(
        self, info: IndexInfo, ids: Sequence[int | str], payload: dict[str, Any], below: int
    ) -> None:
        """Merge ``payload``'s keys into the points among ``ids`` older than ``below``."""
        ...

    def request_points(self, dimension: int, payload_bytes: int) -> int:
        """Points per :meth:`write` request for vectors of ``dimension`` with such payloads."""
        ...

    def is_missing(self, exc: BaseException) -> bool:
        """True if ``exc`` says the index's collection does not exist."""
        ...

    def backlog(self, info: IndexInfo) -> tuple[int, str] | None:
        """``(points waiting for the optimizers, collection status)`` of a server's collection,
        for pacing; ``None`` where there is nothing to pace (an engine in this process)."""
        ...


@runtime_checkable
class Attacher(Protocol):
    """An engine whose collections may exist before vecq (a server, or local mode), so that
    ``Client.attach_index`` can write into one; Edge shards are always vecq's own."""

    def describe_collection(self, collection: str) -> CollectionShape:
        """What an existing collection holds; raises
        :class:`~vecq.shared.errors.IndexNotLoadedError` if there is none of that name."""
        ...

    def prepare_attached(self, info: IndexInfo) -> None:
        """Give an attached collection vecq's ``_vecq_seq`` payload index (a server's)."""
        ...


def scroll_pages(
    engine: Engine, info: IndexInfo, page: int, *, vectors: bool
) -> Iterator[StoredPoint]:
    """Every point of the index, a page at a time (without ``vectors``: empty vectors)."""
    offset = None
    while True:
        points, offset = engine.scroll_page(info, offset, page, vectors=vectors)
        yield from points
        if offset is None:
            return


def open_engine(settings: Settings) -> Writer:
    """The engine ``settings`` select, in this process: a server (``qdrant_url``), local
    mode (``qdrant_path``), or else Qdrant Edge under the data directory."""
    if settings.engine == "edge":
        from vecq.shared.engines.edge import EdgeEngine

        return EdgeEngine(settings.edge_path)
    from vecq.shared.engines.server import ServerEngine

    return ServerEngine.open(settings)


def stored_vector(vector: Any) -> Any:
    """An engine's vector as :class:`StoredPoint` holds it (plain lists and dicts)."""
    if vector is None:
        return []
    if isinstance(vector, dict):
        return {name: _stored_named(value) for name, value in vector.items()}
    return list(vector)


def _stored_named(value: Any) -> Any:
    if hasattr(value, "indices") and hasattr(value, "values"):
        pairs = sorted(zip(value.indices, value.values, strict=True))
        return {"indices": [int(i) for i, _ in pairs], "values": [float(v) for _, v in pairs]}
    if value and isinstance(value[0], (list, tuple)):
        return [list(row) for row in value]
    return list(value)
