"""``Index``: ``upsert`` in all its forms, ``delete``, ``update_metadata``, ``get``,
``query`` and ``count``."""

from __future__ import annotations

import contextlib
import dataclasses
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, overload

import numpy as np
import redis

from vecq.api import producer, reader
from vecq.api.bulk import bulk_mode
from vecq.api.jobs import UpsertJob
from vecq.api.session import Session
from vecq.shared.crypto import ItemCipher
from vecq.shared.errors import BrokerUnavailable, IndexNotLoadedError
from vecq.shared.points import payload_indexes, validation
from vecq.shared.points import query as queries
from vecq.shared.points.validation import Points
from vecq.shared.state import pace, registry
from vecq.shared.state.pace import Pace
from vecq.shared.state.registry import IndexInfo

_UNSET: Any = object()


class Index:
    """A loaded index. Get one from ``Client.create_index`` or ``Client.load_index``."""

    def __init__(self, session: Session, info: IndexInfo, key: bytes) -> None:
        self._session = session
        self._info = info
        self._cipher = ItemCipher(key, info.name)

    def __repr__(self) -> str:
        i = self._info
        schema = i.schema
        if schema is not None:
            return f"<Index {i.name!r} vectors=({schema.describe()}) shards={i.shards}>"
        return f"<Index {i.name!r} dimension={i.dimension} shards={i.shards} metric={i.metric}>"

    @property
    def name(self) -> str:
        return self._info.name

    @property
    def session(self) -> Session:
        """The connections of the client this index was created or loaded through (its Redis,
        publisher, Qdrant engine and settings)."""
        return self._session

    @property
    def info(self) -> IndexInfo:
        """The index's registry entry (dimension, shards, metric, shard function, uid)."""
        return self._info

    @property
    def dimension(self) -> int:
        return self._info.dimension

    @property
    def vectors(self) -> dict[str, Any]:
        """The index's named vectors (name to :class:`VectorSpec` or :class:`SparseSpec`);
        empty for an index of one unnamed vector of :attr:`dimension`."""
        schema = self._info.schema
        return {} if schema is None else {**schema.dense, **schema.sparse}

    @property
    def shards(self) -> int:
        return self._info.shards

    @property
    def metric(self) -> str:
        return self._info.metric

    @overload
    def upsert(
        self, vectors: Sequence[Any], /, *, wait: bool = ..., timeout: float | None = ...
    ) -> UpsertJob: ...

    @overload
    def upsert(
        self,
        ids: Any,
        vectors: Any,
        /,
        *,
        items: Sequence[bytes | None] | None = ...,
        metadata: Sequence[dict[str, Any] | None] | None = ...,
        wait: bool = ...,
        timeout: float | None = ...,
    ) -> UpsertJob: ...

    @overload
    def upsert(
        self,
        *,
        vectors: Any,
        ids: Any = ...,
        items: Sequence[bytes | None] | None = ...,
        metadata: Sequence[dict[str, Any] | None] | None = ...,
        wait: bool = ...,
        timeout: float | None = ...,
    ) -> UpsertJob: ...

    def upsert(
        self,
        *args: Any,
        ids: Any = _UNSET,
        vectors: Any = _UNSET,
        items: Sequence[bytes | None] | None = None,
        metadata: Sequence[dict[str, Any] | None] | None = None,
        wait: bool = True,
        timeout: float | None = None,
        on_batch: Callable[[int], None] | None = None,
    ) -> UpsertJob:
        """Add or replace points. Validates the whole call before anything is enqueued.

        Forms: ``upsert([{"id", "vector", "item"?, "metadata"?}, ...])``,
        ``upsert([(id, vector[, item[, metadata]]), ...])``, ``upsert(ids, vectors)`` and
        ``upsert(vectors=vectors, ids=ids)`` with NumPy arrays, which also take ``items=``
        and ``metadata=`` (one entry or ``None`` per id). Ids are integers or strings.

        With ``wait=True`` returns once every vector is written to Qdrant, or raises
        ``UpsertError`` naming the failed ids; with ``wait=False`` returns as soon as every
        batch is enqueued. ``on_batch(n)`` is called after each batch of ``n`` is enqueued.
        """
        points = self._points(args, ids, vectors, items, metadata)
        return self._run(points, wait, timeout, on_batch)

    def delete(
        self,
        ids: Sequence[int | str] | Any,
        *,
        wait: bool = True,
        timeout: float | None = None,
        on_batch: Callable[[int], None] | None = None,
    ) -> UpsertJob:
        """Delete points by id (integers or strings); an id never stored is not an error.

        A job like ``upsert``, ordered with every other call: an older upsert of an id that
        arrives late never brings it back; a newer one stores it again.
        """
        return self._run(validation.deletions(ids), wait, timeout, on_batch)

    def update_metadata(
        self,
        updates: Sequence[dict[str, Any] | tuple[Any, dict[str, Any]]],
        *,
        wait: bool = True,
        timeout: float | None = None,
        on_batch: Callable[[int], None] | None = None,
    ) -> UpsertJob:
        """Merge keys into stored points' metadata without resending vectors.

        ``updates`` is ``[{"id": ..., "metadata": {...}}, ...]`` (or ``(id, metadata)``
        tuples). Top-level keys are set (a nested dict replaces the stored one); other keys
        stay. An id with no stored point is not created: it is reported in the job's
        failures (``UpsertError`` with ``wait=True``).
        """
        return self._run(validation.updates(updates), wait, timeout, on_batch)

    def _run(
        self,
        points: Points,
        wait: bool,
        timeout: float | None,
        on_batch: Callable[[int], None] | None,
    ) -> UpsertJob:
        job = self.enqueue(points, on_batch=on_batch)
        if wait:
            job.wait(timeout)
        return job

    def _points(
        self,
        args: tuple[Any, ...],
        ids: Any,
        vectors: Any,
        items: Sequence[Any] | None,
        metadata: Sequence[Any] | None,
    ) -> Points:
        dim = self._info.dimension
        max_item = self._session.settings.max_item_bytes
        if len(args) > 2:
            raise TypeError(f"upsert takes at most 2 positional arguments ({len(args)} given)")
        if len(args) == 2:
            if ids is not _UNSET or vectors is not _UNSET:
                raise TypeError("upsert got ids/vectors both by position and by keyword")
            ids, vectors = args
        elif len(args) == 1:
            if vectors is not _UNSET and ids is _UNSET:
                ids = args[0]
            elif ids is not _UNSET or vectors is not _UNSET:
                raise TypeError("upsert got ids/vectors both by position and by keyword")
            else:
                vectors = args[0]
        if vectors is _UNSET:
            raise TypeError("upsert needs vectors: a list of dicts or tuples, or ids and vectors")
        schema = self._info.schema
        if ids is not _UNSET:
            return validation.from_arrays(
                ids, vectors, dim, metadata, items, max_item, schema=schema
            )
        if items is not None or metadata is not None:
            raise TypeError(
                "items= and metadata= go with the NumPy form, upsert(ids, vectors, ...); in the "
                "list form each record carries its own"
            )
        if isinstance(vectors, np.ndarray) or (schema is not None and isinstance(vectors, Mapping)):
            raise TypeError(
                "columns of vectors need their ids: upsert(ids, vectors) or "
                "upsert(vectors=vectors, ids=ids)"
            )
        return validation.from_records(vectors, dim, max_item, schema=schema)

    def enqueue(
        self, points: Points, *, on_batch: Callable[[int], None] | None = None
    ) -> UpsertJob:
        """Enqueue points already validated for this index, as one job; return it at once.

        The seam under ``upsert`` for callers that validate in their own way (files, HTTP
        bodies): build ``points`` with :func:`~vecq.shared.points.validation.from_records`
        or :func:`~vecq.shared.points.validation.from_arrays`, then wait on the returned job if
        need be.
        Items are encrypted here.
        """
        session = self._session
        try:
            self._check_live()
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            raise BrokerUnavailable(f"Redis failed before anything was enqueued: {exc}") from exc
        if points.items is not None:
            encrypted = self._cipher.encrypt_all(points.caller_ids(), points.items)
            points = dataclasses.replace(points, items=encrypted)
        job_id = producer.enqueue(
            session.redis,
            session.publisher,
            self._info,
            points,
            session.settings,
            on_batch,
            encode_ahead=session.encode_ahead,
        )
        return UpsertJob(
            session.redis,
            job_id,
            self.name,
            len(points),
            session.settings.stall_timeout,
            op=points.op,
            service_stopped=session.service_stopped,
        )

    def bulk(self, timeout: float | None = None) -> contextlib.AbstractContextManager[Index]:
        """Load faster: ``with index.bulk(): ...`` turns HNSW indexing off until the block ends.

        On leaving the block, waits until every batch in flight is written, restores each
        shard collection's indexing threshold and waits until Qdrant has indexed it (raises
        ``VecqError`` if ``timeout`` seconds pass first). Local mode has no index to turn off.
        """
        return bulk_mode(self, timeout)

    def get(self, ids: Sequence[int | str] | Any, *, missing: str = "skip") -> list[dict[str, Any]]:
        """The stored points with these ids (integers or strings), in request order.

        Ids not stored are left out (as CyborgDB's ``get`` does); with ``missing="raise"`` they
        raise :class:`~vecq.shared.errors.PointsNotFoundError` (a ``KeyError``) naming them.
        Each point is ``{"id", "vector", "item", "metadata"}``; items come back decrypted.
        With metric ``cosine`` Qdrant stores vectors normalised, so they come back unit length.
        """
        self._check_live()
        return reader.get_points(self._session.engine, self._info, self._cipher, ids, missing)

    def query(
        self,
        vector: Any = None,
        *,
        limit: int = 10,
        filter: Any = None,
        using: str | None = None,
        prefetch: Sequence[Any] | None = None,
        fusion: str | None = None,
        score_threshold: float | None = None,
        with_items: bool = False,
        with_vectors: bool = False,
    ) -> list[dict[str, Any]]:
        """The ``limit`` points nearest ``vector``, best first, as ``{"id", "score",
        "metadata"}`` (``"item"``, decrypted, with ``with_items``; ``"vector"`` with
        ``with_vectors``). Answered by the embedded service, local mode or the server.

        ``filter`` is Qdrant's filter (a dict or ``models.Filter``) or ``{field: value}``
        (see ``shared/points/query.py``); ``using`` names the vector of an index with named
        vectors. Hybrid: ``prefetch=[{"vector", "using", "limit", "filter"}, ...]`` fused by
        ``fusion="rrf"`` (the default) or ``"dbsf"``, or rescored by ``vector``. Raises
        :class:`~vecq.shared.errors.InvalidQueryError` saying what is wrong.
        """
        info = self._info
        search = queries.build(
            info.schema,
            info.dimension,
            vector,
            limit=limit,
            filter=filter,
            using=using,
            prefetch=prefetch,
            fusion=fusion,
            score_threshold=score_threshold,
            with_vectors=with_vectors,
        )
        self._check_live()
        engine = self._session.engine
        return reader.search_points(engine, info, self._cipher, search, with_items=with_items)

    def count(self) -> int:
        """Points stored in the index."""
        self._check_live()
        return reader.count_points(self._session.engine, self._info)

    def create_payload_index(self, field: str, spec: str | Mapping[str, Any] = "keyword") -> None:
        """Index the metadata ``field`` in Qdrant: ``spec`` is a type name or a dict with
        ``type`` and ``is_tenant`` or ``is_principal`` (see :meth:`Client.create_index`).
        Qdrant builds it over the points already stored. Local mode has no payload indexes:
        there it does nothing."""
        (index,) = payload_indexes.parse({field: spec})
        self._check_live()
        self._session.engine.create_payload_index(self._info, index)

    def payload_indexes(self) -> dict[str, dict[str, Any]]:
        """The collection's payload indexes on metadata fields, as Qdrant reports them:
        ``{field: {"type": ..., "is_tenant": ..., "is_principal": ...}}``."""
        self._check_live()
        return {p.field: p.spec() for p in self._session.engine.payload_indexes(self._info)}

    def set_max_write_rate(self, points_per_second: float | None) -> None:
        """Cap the writes into this index at ``points_per_second``, shared by every worker on
        every host (a token bucket in Redis), so a backfill leaves a server room for
        searches; ``None`` or 0 removes the cap. Takes effect at the workers' next request.
        Only writes to a Qdrant server are paced; Edge and local mode run in-process."""
        self._check_live()
        pace.set_max_write_rate(self._session.redis, self.name, points_per_second)

    def pace(self) -> Pace | None:
        """The fleet's pace of writes into this index on a Qdrant server: its limit of
        requests in flight, the write-rate cap, latency, throttles, the optimizers' backlog
        (``None`` before the first write to a server)."""
        return pace.read(self._session.redis, self.name, time.time())

    def _check_live(self) -> None:
        current = registry.get(self._session.redis, self.name)
        if current.uid != self._info.uid:
            raise IndexNotLoadedError(
                f"index {self.name!r} was deleted (and maybe re-created); load_index it again"
            )
