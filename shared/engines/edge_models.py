"""Qdrant Edge's objects for vecq's shards: their config, field indexes, vectors and the
write conditions (a stored point is replaced, deleted or merged only if older).

Used by the Edge engine (``shared/engines/edge.py``); ``qdrant_edge`` is imported inside
each function, so importing this module stays light.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from vecq.shared import keys
from vecq.shared.engines import Write
from vecq.shared.points.payload_indexes import PayloadIndex
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
