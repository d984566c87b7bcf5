"""Request and response bodies of the HTTP API (what ``/openapi.json`` describes)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

# Most failures a job view lists; the rest are in the dead-letter queue.
MAX_FAILURES_SHOWN = 100
# Most points (or ids) one JSON body may carry: bodies are bounded in bytes before they are
# parsed (vecq serve --max-json-mb); lists are bounded too, so no field grows without end.
MAX_POINTS = 100_000
# Most values in one vector (an index's largest dimension) or rows in one multivector.
MAX_VALUES = 65_536
# Numbers as the library takes them: an int or a float, never true/false nor a string.
Number = Annotated[float, Field(strict=True)]
Floats = Annotated[list[Number], Field(max_length=MAX_VALUES)]

IntId = Annotated[int, Field(strict=True, ge=0, lt=2**63, description="0 <= id < 2**63")]
StrId = Annotated[
    str, Field(strict=True, min_length=1, description="a string id (stored under its UUID)")
]
PointId = IntId | StrId
Metadata = Annotated[
    dict[str, Any],
    Field(description="JSON values: str, number, bool, null, lists and nested objects"),
]


class Body(BaseModel):
    """A request body: a key it does not define is an error (422), never silently dropped."""

    model_config = ConfigDict(extra="forbid")


class SparseIn(Body):
    """A sparse vector: unique indices (0..2**32-1) and as many values."""

    indices: list[Annotated[int, Field(strict=True)]] = Field(max_length=MAX_VALUES)
    values: Floats


# A named vector: dense (a list of floats), a multivector (a list of rows) or sparse.
NamedVector = Floats | Annotated[list[Floats], Field(max_length=MAX_VALUES)] | SparseIn


class PointIn(Body):
    """One point in the library's dict form (``id``, ``vector``, ``item``, ``metadata``);
    ``item`` is base64. ``vector`` is a list of floats, or for an index of named vectors a
    dict of name to vector."""

    id: PointId
    vector: Floats | dict[str, NamedVector]
    item: str | None = Field(None, description="bytes, base64-encoded; encrypted before storage")
    metadata: Metadata | None = None


class UpsertBody(Body):
    items: list[PointIn] = Field(max_length=MAX_POINTS, description="the points to add or update")


class DeleteBody(Body):
    ids: list[PointId] = Field(
        max_length=MAX_POINTS, description="the ids to delete; ids never stored are no error"
    )


class MetadataIn(Body):
    """Keys to merge into one stored point's metadata (a key set to null is removed)."""

    id: PointId
    metadata: Metadata


class MetadataBody(Body):
    items: list[MetadataIn] = Field(max_length=MAX_POINTS, description="the updates, in order")


class VectorSpecIn(Body):
    size: int = Field(ge=1, le=65536)
    distance: Literal["cosine", "dot", "euclid", "manhattan"] = "cosine"
    multivector: bool = False


class SparseSpecIn(Body):
    modifier: Literal["idf"] | None = None


class IndexCreate(Body):
    name: str = Field(description="1-63 letters, digits, '-' or '_'")
    dimension: int | None = Field(
        None, ge=1, le=65536, description="one unnamed vector; or give vectors/sparse_vectors"
    )
    vectors: dict[str, VectorSpecIn] | None = Field(None, description="named dense vectors")
    sparse_vectors: dict[str, SparseSpecIn | None] | None = Field(
        None, description="named sparse vectors"
    )
    shards: int = Field(4, ge=1, le=1024)
    metric: Literal["cosine", "dot", "euclid", "manhattan"] = "cosine"
    index_key: str | None = Field(
        None, description="the index key as 64 hex digits; omitted: the server makes one"
    )
    payload_indexes: dict[str, str | dict[str, Any]] | None = Field(
        None,
        description="metadata fields to index in Qdrant: a type (keyword, integer, float, "
        "bool, geo, text, datetime, uuid) or {type, is_tenant | is_principal}",
    )


class IndexView(BaseModel):
    name: str
    dimension: int
    vectors: dict[str, dict[str, Any]] | None = None
    sparse_vectors: dict[str, dict[str, Any]] | None = None
    shards: int
    metric: str
    count: int | None = Field(default=None, description="points stored across all shards")
    index_key: str | None = Field(default=None, description="only when the server made the key")


class IndexList(BaseModel):
    indexes: list[str]


class GetBody(Body):
    ids: list[PointId] = Field(max_length=10_000)


class StageIn(Body):
    """One prefetch of a hybrid search: its own vector, named vector, limit and filter."""

    vector: NamedVector
    using: str | None = Field(None, max_length=64)
    limit: int = Field(100, strict=True, ge=1, le=10_000)
    filter: dict[str, Any] | None = None


class QueryBody(Body):
    """A search: the points nearest ``vector`` (or the fused ``prefetch`` searches)."""

    vector: NamedVector | None = Field(
        None, description="a list of floats, a list of rows (multivector) or sparse"
    )
    using: str | None = Field(None, max_length=64, description="the named vector to search")
    limit: int = Field(10, strict=True, ge=1, le=10_000)
    filter: dict[str, Any] | None = Field(
        None, description="{field: value} or Qdrant's filter form ({'must': [...]})"
    )
    prefetch: list[StageIn] = Field(default_factory=list, max_length=16)
    fusion: Literal["rrf", "dbsf"] | None = None
    score_threshold: Number | None = None
    with_items: bool = Field(False, strict=True, description="items too (base64, decrypted)")
    with_vectors: bool = Field(False, strict=True)


class QueryHit(BaseModel):
    id: int | str
    score: float
    metadata: dict[str, Any]
    item: str | None = None
    vector: list[float] | dict[str, Any] | list[list[float]] | None = None


class QueryResults(BaseModel):
    results: list[QueryHit] = Field(description="best first")


class PointOut(BaseModel):
    id: int | str
    vector: list[float] | dict[str, list[float] | list[list[float]] | dict[str, list[Any]]]
    item: str | None
    metadata: dict[str, Any]


class PointList(BaseModel):
    points: list[PointOut]


class FailureView(BaseModel):
    ids: list[int | str]
    reason: str
    shard: int
    seq: int


class JobView(BaseModel):
    job_id: str
    index: str
    status: str = Field(description="enqueuing, queued, running, done or failed")
    total: int
    written: int
    failed: int
    retries: int
    created_at: float
    updated_at: float
    failures: list[FailureView] = Field(
        default_factory=list, description=f"the first {MAX_FAILURES_SHOWN} failed batches"
    )


class ErrorView(BaseModel):
    error: str
    detail: str
