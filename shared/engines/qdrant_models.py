"""qdrant-client's model objects for vecq's collections: vector configs, points, payload
indexes, write conditions and searches.

The client engine (``shared/engines/server.py``) builds every request from these; the
conditions are vecq's ordering rule: a stored point may be replaced (or deleted, or have
its payload merged) only if its ``_vecq_seq`` is older than the write's.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from vecq.shared import keys
from vecq.shared.engines import Write
from vecq.shared.errors import InvalidIndexError
from vecq.shared.points.payload_indexes import PayloadIndex
from vecq.shared.points.query import Search
from vecq.shared.points.vector_schema import Schema, SparseSpec, VectorSpec
from vecq.shared.state.registry import IndexInfo


def condition(request: Write, info: IndexInfo) -> Any:
    """Stored points older than each point's own sequence number (or absent) may be replaced
    (with ``replace_foreign``, also points without a sequence number)."""
    from qdrant_client import models

    groups = request.guards()
    if len(groups) == 1:
        return models.Filter(must=[older_than(groups[0][0], info)])
    return models.Filter(
        should=[
            models.Filter(must=[models.HasIdCondition(has_id=list(ids)), older_than(seq, info)])
            for seq, ids in groups
        ]
    )


def older(ids: Sequence[int | str], below: int, info: IndexInfo) -> Any:
    """The points among ``ids`` whose sequence number is below ``below``."""
    from qdrant_client import models

    return models.Filter(must=[models.HasIdCondition(has_id=list(ids)), older_than(below, info)])


def older_than(seq: int, info: IndexInfo) -> Any:
    """A stored point's ``_vecq_seq`` is below ``seq`` (or, for an attached collection whose
    foreign points count as older, it has none)."""
    from qdrant_client import models

    older = models.FieldCondition(key=keys.PAYLOAD_SEQ, range=models.Range(lt=seq))
    if not info.replace_foreign:
        return older
    unset = models.IsEmptyCondition(is_empty=models.PayloadField(key=keys.PAYLOAD_SEQ))
    return models.Filter(should=[older, unset])


def shape_of(collection: str, dense: Any, sparse: Any) -> tuple[int, str, Schema | None]:
    """``(dimension, metric, schema)`` of a collection's vector config, as vecq records them."""
    from qdrant_client import models

    if isinstance(dense, models.VectorParams):
        if sparse:
            raise InvalidIndexError(
                f"collection {collection!r} mixes the unnamed dense vector with sparse vectors "
                f"({', '.join(sparse)}); vecq writes either one unnamed vector or named ones"
            )
        return dense.size, str(dense.distance.value).lower(), None
    named = {
        name: VectorSpec(
            params.size, str(params.distance.value).lower(), params.multivector_config is not None
        )
        for name, params in (dense or {}).items()
    }
    modifiers = {
        name: SparseSpec("idf" if params.modifier == models.Modifier.IDF else None)
        for name, params in (sparse or {}).items()
    }
    return 0, "cosine", Schema(named, modifiers)


def vectors_config(info: IndexInfo) -> tuple[Any, Any]:
    """``(vectors_config, sparse_vectors_config)`` of the index's collection."""
    from qdrant_client import models

    def distance(metric: str) -> models.Distance:
        return models.Distance[metric.upper()]

    schema = info.schema
    if schema is None:
        return models.VectorParams(size=info.dimension, distance=distance(info.metric)), None
    maxsim = models.MultiVectorConfig(comparator=models.MultiVectorComparator.MAX_SIM)
    dense = {
        name: models.VectorParams(
            size=spec.size,
            distance=distance(spec.distance),
            multivector_config=maxsim if spec.multivector else None,
        )
        for name, spec in schema.dense.items()
    }
    sparse = {
        name: models.SparseVectorParams(modifier=models.Modifier.IDF if spec.modifier else None)
        for name, spec in schema.sparse.items()
    }
    return dense, sparse or None


def rest_vector(kind: str, value: Any) -> Any:
    """One named vector as qdrant-client's models take it (REST and local mode)."""
    from qdrant_client import models

    if kind == "sparse":
        indices, values = value
        return models.SparseVector(indices=indices, values=values)
    return value.tolist()


def rest_points(request: Write) -> Any:
    """The points of a write as a REST upsert takes them (a ``Batch``, or ``PointStruct``s
    for an index of named vectors)."""
    from qdrant_client import models

    if request.named is None:
        vectors = request.vectors.tolist()
        return models.Batch(ids=list(request.ids), vectors=vectors, payloads=request.payloads)
    named = request.point_vectors(rest_vector)
    return [
        models.PointStruct(id=point_id, vector=vector, payload=payload)
        for point_id, vector, payload in zip(request.ids, named, request.payloads, strict=True)
    ]


def field_schema(index: PayloadIndex) -> Any:
    """The schema a payload index is created with (with its tenant or principal flag)."""
    from qdrant_client import models

    if index.is_tenant or index.is_principal:
        params = getattr(models, f"{index.type.capitalize()}IndexParams")
        option = "is_tenant" if index.is_tenant else "is_principal"
        return params(type=index.type, **{option: True})
    return models.PayloadSchemaType(index.type)


def user_indexes(schema: dict[str, Any]) -> list[PayloadIndex]:
    """A collection's payload indexes on user fields (vecq's own left out), by field."""
    found = []
    for field, held in schema.items():
        if field.startswith(keys.RESERVED_PREFIX) or held.data_type is None:
            continue
        kind = str(getattr(held.data_type, "value", held.data_type))
        tenant = bool(getattr(held.params, "is_tenant", None))
        found.append(
            PayloadIndex(field, kind, tenant, bool(getattr(held.params, "is_principal", None)))
        )
    return sorted(found, key=lambda p: p.field)


def is_integer_index(held: Any) -> bool:
    """True if ``held`` (a collection's payload schema entry, or ``None``) is an integer index."""
    return held is not None and str(getattr(held.data_type, "value", held.data_type)) == "integer"


def query_args(search: Search) -> dict[str, Any]:
    """``query_points``'s arguments for a checked search (``shared/points/query.py``)."""
    from qdrant_client import models

    def nearest(vector: Any) -> Any:
        return models.SparseVector(**vector) if isinstance(vector, dict) else vector

    def where(filter_json: dict[str, Any] | None) -> Any:
        return None if filter_json is None else models.Filter.model_validate(filter_json)

    prefetch = [
        models.Prefetch(
            query=nearest(s.vector), using=s.using, limit=s.limit, filter=where(s.filter)
        )
        for s in search.prefetch
    ]
    if search.fusion is not None:
        fusion = models.Fusion.RRF if search.fusion == "rrf" else models.Fusion.DBSF
        query: Any = models.FusionQuery(fusion=fusion)
    else:
        query = nearest(search.vector)
    return {
        "query": query,
        "using": None if search.fusion is not None else search.using,
        "prefetch": prefetch or None,
        "query_filter": where(search.filter),
        "limit": search.limit,
        "score_threshold": search.score_threshold,
        "with_vectors": search.with_vectors,
    }
