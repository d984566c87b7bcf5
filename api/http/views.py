"""How the HTTP API turns its bodies into calls, and vecq's objects into its answers."""

from __future__ import annotations

import base64
import binascii
from typing import Any

from vecq.api.http.errors import Problem
from vecq.api.http.models import (
    MAX_FAILURES_SHOWN,
    FailureView,
    IndexView,
    JobView,
    PointIn,
    PointOut,
    SparseIn,
)
from vecq.api.index import Index
from vecq.shared.state.job_state import JobState


def record(i: int, p: PointIn) -> dict[str, Any]:
    vector: Any = p.vector
    if isinstance(vector, dict):
        vector = {n: v.model_dump() if isinstance(v, SparseIn) else v for n, v in vector.items()}
    record: dict[str, Any] = {"id": p.id, "vector": vector}
    if p.item is not None:
        try:
            record["item"] = base64.b64decode(p.item, validate=True)
        except (binascii.Error, ValueError):
            raise Problem(
                422, "InvalidVectorError", f"items[{i}] (id {p.id!r}): item is not valid base64"
            ) from None
    if p.metadata is not None:
        record["metadata"] = p.metadata
    return record


def job_view(state: JobState, failures: list[Any]) -> JobView:
    return JobView(
        job_id=state.job_id,
        index=state.index,
        status=state.status,
        total=state.total,
        written=state.written,
        failed=state.failed,
        retries=state.retries,
        created_at=state.created_at,
        updated_at=state.updated_at,
        failures=[
            FailureView(ids=list(f.ids), reason=f.reason, shard=f.shard, seq=f.seq)
            for f in failures[:MAX_FAILURES_SHOWN]
        ],
    )


def index_view(index: Index, key_hex: str | None) -> IndexView:
    return IndexView(
        name=index.name,
        dimension=index.dimension,
        shards=index.shards,
        metric=index.metric,
        index_key=key_hex,
        vectors=index.info.vectors,
        sparse_vectors=index.info.sparse_vectors,
    )


def point_out(p: dict[str, Any]) -> PointOut:
    item = base64.b64encode(p["item"]).decode() if p["item"] is not None else None
    return PointOut(id=p["id"], vector=p["vector"], item=item, metadata=p["metadata"])
