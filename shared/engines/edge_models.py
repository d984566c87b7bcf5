"""Qdrant Edge's objects for vecq's shards: their config, field indexes, vectors, the write
conditions (a stored point is replaced, deleted or merged only if older) and searches (a
filter in Qdrant's JSON form becomes Edge's objects).

Used by the Edge engine (``shared/engines/edge.py``); ``qdrant_edge`` is imported inside
each function, so importing this module stays light.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from vecq.shared import keys
from vecq.shared.engines import Write
from vecq.shared.errors import InvalidQueryError
from vecq.shared.points.payload_indexes import PayloadIndex
from vecq.shared.points.query import RRF_K, Search
from vecq.shared.state.registry import IndexInfo


def field_schema(index: PayloadIndex) -> Any:
    """Edge's schema for a payload index: a plain type, or its params with the option set."""
    import qdrant_edge

    if index.is_tenant or index.is_principal:
        params = getattr(qdrant_edge, f"{index.type.capitalize()}IndexParams")
        option = "is_tenant" if index.is_tenant else "is_principal"
        return params(**{option: True})
    return getattr(qdrant_edge.PayloadSchemaType, index.type.capitalize())


def config(info: IndexInfo) -> Any:
    """Edge's config for the index: its unnamed vector, or its named and sparse vectors."""
    from qdrant_edge import (
        EdgeConfig,
        EdgeSparseVectorParams,
        EdgeVectorParams,
        Modifier,
        MultiVectorComparator,
        MultiVectorConfig,
    )

    schema = info.schema
    if schema is None:
        return EdgeConfig(
            vectors=EdgeVectorParams(size=info.dimension, distance=distance(info.metric))
        )
    maxsim = MultiVectorConfig(MultiVectorComparator.MaxSim)
    dense = {
        name: EdgeVectorParams(
            size=spec.size,
            distance=distance(spec.distance),
            multivector_config=maxsim if spec.multivector else None,
        )
        for name, spec in schema.dense.items()
    }
    sparse = {
        name: EdgeSparseVectorParams(modifier=Modifier.Idf if spec.modifier else None)
        for name, spec in schema.sparse.items()
    }
    return EdgeConfig(vectors=dense or None, sparse_vectors=sparse or None)


def distance(metric: str) -> Any:
    from qdrant_edge import Distance

    return {
        "cosine": Distance.Cosine,
        "dot": Distance.Dot,
        "euclid": Distance.Euclid,
        "manhattan": Distance.Manhattan,
    }[metric]


def edge_vector(kind: str, value: Any) -> Any:
    """One named vector as Edge takes it (rows as memoryviews: no Python floats)."""
    if kind == "dense":
        return memoryview(value)
    if kind == "multi":
        return [memoryview(row) for row in value]
    from qdrant_edge import SparseVector

    return SparseVector(*value)


def condition(request: Write) -> Any:
    """Stored points older than each point's own sequence number (or absent) may be replaced."""
    from qdrant_edge import FieldCondition, Filter, HasIdCondition, RangeFloat

    def older(seq: int) -> Any:
        # Sequence numbers stay far below 2**53, so a float bound is exact.
        return FieldCondition(key=keys.PAYLOAD_SEQ, range=RangeFloat(lt=float(seq)))

    groups = request.guards()
    if len(groups) == 1:
        return Filter(must=[older(groups[0][0])])
    return Filter(
        should=[Filter(must=[HasIdCondition(set(ids)), older(seq)]) for seq, ids in groups]
    )


def older(ids: Sequence[int | str], below: int) -> Any:
    """The points among ``ids`` whose sequence number is below ``below``."""
    from qdrant_edge import FieldCondition, Filter, HasIdCondition, RangeFloat

    older = FieldCondition(key=keys.PAYLOAD_SEQ, range=RangeFloat(lt=float(below)))
    return Filter(must=[HasIdCondition(set(ids)), older])


# --- searches ---------------------------------------------------------------------------


_CLAUSES = frozenset({"must", "should", "must_not", "min_should"})


def query_request(search: Search) -> Any:
    """Edge's request for a checked search (``shared/points/query.py``)."""
    from qdrant_edge import Fusion, Prefetch, QueryRequest

    stages = [
        Prefetch(
            stage.limit, query=_nearest(stage.vector, stage.using), filter=edge_filter(stage.filter)
        )
        for stage in search.prefetch
    ]
    if search.fusion == "rrf":
        scoring: Any = Fusion.Rrf(k=RRF_K)
    elif search.fusion == "dbsf":
        scoring = Fusion.Dbsf()
    else:
        scoring = _nearest(search.vector, search.using)
    return QueryRequest(
        search.limit,
        query=scoring,
        prefetches=stages or None,
        filter=edge_filter(search.filter),
        score_threshold=search.score_threshold,
        with_payload=True,
        with_vector=search.with_vectors,
    )


def _nearest(vector: Any, using: str | None) -> Any:
    from qdrant_edge import Query, SparseVector

    if isinstance(vector, dict):
        vector = SparseVector(vector["indices"], vector["values"])
    return Query.Nearest(vector, using=using)


def edge_filter(node: dict[str, Any] | None) -> Any:
    """Edge's filter from Qdrant's JSON form (as ``query.normalize_filter`` leaves it)."""
    from qdrant_edge import Filter, MinShould

    if node is None:
        return None
    clauses: dict[str, Any] = {}
    for clause in ("must", "should", "must_not"):
        held = node.get(clause)
        if held is not None:
            clauses[clause] = [_condition(c) for c in (held if isinstance(held, list) else [held])]
    if (least := node.get("min_should")) is not None:
        conditions = [_condition(c) for c in least["conditions"]]
        clauses["min_should"] = MinShould(conditions, int(least["min_count"]))
    return Filter(**clauses)


def _condition(node: dict[str, Any]) -> Any:
    import qdrant_edge as e

    if "key" in node:
        return _field(node)
    if "has_id" in node:
        return e.HasIdCondition(set(node["has_id"]))
    if "is_empty" in node:
        return e.IsEmptyCondition(node["is_empty"]["key"])
    if "is_null" in node:
        return e.IsNullCondition(node["is_null"]["key"])
    if "has_vector" in node:
        return e.HasVectorCondition(node["has_vector"])
    if "nested" in node:
        return e.NestedCondition(node["nested"]["key"], edge_filter(node["nested"]["filter"]))
    if _CLAUSES & set(node):
        return edge_filter(node)
    raise InvalidQueryError(f"the embedded engine cannot filter on {sorted(node)}")


def _field(node: dict[str, Any]) -> Any:
    import qdrant_edge as e

    parts: dict[str, Any] = {}
    if (match := node.get("match")) is not None:
        (kind, value), *_ = match.items()
        makers = {
            "value": e.MatchValue,
            "any": e.MatchAny,
            "except": e.MatchExcept,
            "text": e.MatchText,
            "phrase": e.MatchPhrase,
            "text_any": e.MatchTextAny,
        }
        if kind not in makers:
            raise InvalidQueryError(f"the embedded engine has no match of kind {kind!r}")
        if isinstance(value, bool):
            # Edge's binding reads a Python bool as the integer 0 or 1 (bool is an int), which
            # no stored true/false matches; NumPy's bool is no int, so it stays a bool.
            import numpy as np

            value = np.bool_(value)
        parts["match"] = makers[kind](value)
    if (bounds := node.get("range")) is not None:
        dated = any(isinstance(v, str) for v in bounds.values())
        parts["range"] = (e.RangeDateTime if dated else e.RangeFloat)(**bounds)
    if (counts := node.get("values_count")) is not None:
        parts["values_count"] = e.ValuesCount(**counts)
    if (radius := node.get("geo_radius")) is not None:
        parts["geo_radius"] = e.GeoRadius(_geo_point(radius["center"]), radius["radius"])
    if (box := node.get("geo_bounding_box")) is not None:
        corners = _geo_point(box["top_left"]), _geo_point(box["bottom_right"])
        parts["geo_bounding_box"] = e.GeoBoundingBox(*corners)
    for flag in ("is_empty", "is_null"):
        if node.get(flag) is not None:
            parts[flag] = node[flag]
    if not parts:
        raise InvalidQueryError(f"the embedded engine cannot filter field {node['key']!r} so")
    return e.FieldCondition(node["key"], **parts)


def _geo_point(point: dict[str, Any]) -> Any:
    from qdrant_edge import GeoPoint

    return GeoPoint(point["lon"], point["lat"])
