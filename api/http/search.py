"""The search route of the HTTP API: ``POST /v1/indexes/{name}/query``, answered as
``Index.query`` answers the library (by the embedded service, local mode or the server)."""

from __future__ import annotations

import base64
from typing import Any

from fastapi import APIRouter

from vecq.api.http.deps import ClientDep, Grant, IndexName, KeyHeader, open_index
from vecq.api.http.models import QueryBody, QueryHit, QueryResults, SparseIn
from vecq.api.http.routes import API_VERSION

router = APIRouter()


@router.post(
    f"/{API_VERSION}/indexes/{{name}}/query",
    tags=["points"],
    summary="search: the points nearest a vector, filtered, or several searches fused",
)
def query_points(
    name: IndexName, body: QueryBody, client: ClientDep, who: Grant, key: KeyHeader = None
) -> QueryResults:
    index = open_index(client, name, key, who, "read")
    found = index.query(
        _vector(body.vector),
        limit=body.limit,
        filter=body.filter,
        using=body.using,
        prefetch=[{**s.model_dump(), "vector": _vector(s.vector)} for s in body.prefetch],
        fusion=body.fusion,
        score_threshold=body.score_threshold,
        with_items=body.with_items,
        with_vectors=body.with_vectors,
    )
    return QueryResults(results=[_hit(r) for r in found])


def _vector(value: Any) -> Any:
    return value.model_dump() if isinstance(value, SparseIn) else value


def _hit(result: dict[str, Any]) -> QueryHit:
    item = result.get("item")
    return QueryHit(
        id=result["id"],
        score=result["score"],
        metadata=result["metadata"],
        item=base64.b64encode(item).decode() if item is not None else None,
        vector=result.get("vector"),
    )
