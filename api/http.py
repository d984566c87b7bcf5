"""The HTTP API (``vecq serve``): indexes, upserts as JSON or binary, jobs, health, metrics.

Routes are thin: they authorise, parse, call the same :class:`~api.client.Client` and
:class:`~api.index.Index` methods as the library, and map vecq's errors to status codes
(:data:`STATUS`). The index key travels in the ``X-Index-Key`` header (hex) and is never
logged. Routes are plain functions, so FastAPI runs each in its thread pool.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import logging
from collections.abc import Callable
from functools import partial
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, FastAPI, Header, Path, Query, Request, Response
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from api import auth, bodies, httpmetrics
from api.client import Client
from api.index import Index
from api.jobs import UpsertJob
from api.sources import SourceError
from shared import ledger, logs, validation
from shared.errors import (
    BackpressureTimeout,
    BrokerUnavailable,
    IndexExistsError,
    IndexNotLoadedError,
    InvalidInputError,
    InvalidKeyError,
    StorageLocked,
    UpsertError,
    VecqError,
    WaitTimeout,
)
from shared.ledger import JobState

log = logging.getLogger(__name__)

API_VERSION = "v1"
# Most failures a job view lists; the rest are in the dead-letter queue.
MAX_FAILURES_SHOWN = 100
# Longest ``?timeout=`` an upsert may wait before answering 202.
MAX_WAIT_SECONDS = 600.0

# vecq's errors, most specific first, and the status each maps to.
STATUS: tuple[tuple[type[VecqError], int], ...] = (
    (InvalidInputError, 422),
    (InvalidKeyError, 403),
    (IndexNotLoadedError, 404),
    (IndexExistsError, 409),
    (BackpressureTimeout, 503),
    (BrokerUnavailable, 503),
    (StorageLocked, 503),
)


class Problem(Exception):
    """An HTTP error with a JSON body ``{"error", "detail"}``."""

    def __init__(self, status: int, error: str, detail: str, headers: dict[str, str] | None = None):
        super().__init__(detail)
        self.status, self.error, self.detail, self.headers = status, error, detail, headers


# ---- request and response bodies -------------------------------------------------------

PointId = Annotated[int, Field(strict=True, ge=0, lt=2**63, description="0 <= id < 2**63")]
MetaValue = Annotated[str | bool | int | float, Field(union_mode="left_to_right")]


class PointIn(BaseModel):
    """One point in the seed's dict format; ``item`` is base64."""

    id: PointId
    vector: list[float]
    item: str | None = Field(None, description="bytes, base64-encoded; encrypted before storage")
    metadata: dict[str, MetaValue] | None = None


class UpsertBody(BaseModel):
    items: list[PointIn] = Field(description="the points to add or update")


class IndexCreate(BaseModel):
    name: str = Field(description="1-63 letters, digits, '-' or '_'")
    dimension: int = Field(ge=1, le=65536)
    shards: int = Field(4, ge=1, le=1024)
    metric: Literal["cosine", "dot", "euclid", "manhattan"] = "cosine"
    index_key: str | None = Field(
        None, description="the index key as 64 hex digits; omitted: the server makes one"
    )


class IndexView(BaseModel):
    name: str
    dimension: int
    shards: int
    metric: str
    count: int | None = Field(default=None, description="points stored across all shards")
    index_key: str | None = Field(default=None, description="only when the server made the key")


class IndexList(BaseModel):
    indexes: list[str]


class GetBody(BaseModel):
    ids: list[PointId] = Field(max_length=10_000)


class PointOut(BaseModel):
    id: int
    vector: list[float]
    item: str | None
    metadata: dict[str, Any]


class PointList(BaseModel):
    points: list[PointOut]


class FailureView(BaseModel):
    ids: list[int]
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


# ---- the app --------------------------------------------------------------------------

_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorView, "description": text}
    for code, text in [
        (400, "malformed request"),
        (401, "missing or unknown bearer token"),
        (403, "the token does not grant this, or the index key is wrong"),
        (404, "no such index or job"),
        (413, "body too large"),
        (422, "invalid points (nothing was enqueued)"),
        (503, "Redis or the broker is unavailable, or backpressure timed out"),
    ]
}


def create_app(
    client: Client,
    tokens: auth.Tokens | None,
    *,
    max_body_bytes: int = 256 * 1024 * 1024,
) -> FastAPI:
    """The API over ``client``; ``tokens=None`` turns authentication off (every caller writes)."""
    app = FastAPI(
        title="vecq",
        version=API_VERSION,
        description="Distributed ingestion of vector embeddings into Qdrant.",
        responses=_ERRORS,
    )
    app.state.client = client
    app.state.tokens = tokens
    app.state.max_body_bytes = max_body_bytes
    app.add_exception_handler(Problem, _problem)  # type: ignore[arg-type]  # Starlette types handlers loosely
    app.add_exception_handler(VecqError, _vecq_error)  # type: ignore[arg-type]  # as above
    httpmetrics.install(app, client)
    app.include_router(router)
    return app


def _problem(_: Request, exc: Problem) -> JSONResponse:
    return JSONResponse({"error": exc.error, "detail": exc.detail}, exc.status, exc.headers)


def _vecq_error(_: Request, exc: VecqError) -> JSONResponse:
    status = next((code for kind, code in STATUS if isinstance(exc, kind)), 500)
    body: dict[str, Any] = {"error": type(exc).__name__, "detail": str(exc)}
    if isinstance(exc, InvalidInputError) and exc.row is not None:
        body["row"] = exc.row
    if status == 500:
        log.error("unexpected vecq error: %s", exc)
    return JSONResponse(body, status, {"Retry-After": "5"} if status == 503 else None)


# ---- dependencies ----------------------------------------------------------------------

_bearer = HTTPBearer(auto_error=False, description="a token from the tokens file")


def _client(request: Request) -> Client:
    client: Client = request.app.state.client
    return client


def _grant(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> auth.Grant:
    tokens: auth.Tokens | None = request.app.state.tokens
    if tokens is None:
        return auth.OPEN
    challenge = {"WWW-Authenticate": "Bearer"}
    if credentials is None:
        raise Problem(401, "Unauthorized", "send Authorization: Bearer <token>", challenge)
    found = tokens.grant(credentials.credentials)
    if found is None:
        raise Problem(401, "Unauthorized", "unknown token", challenge)
    return found


ClientDep = Annotated[Client, Depends(_client)]
Grant = Annotated[auth.Grant, Depends(_grant)]
IndexName = Annotated[str, Path(description="the index name", max_length=63)]
KeyHeader = Annotated[str | None, Header(alias="X-Index-Key", description="hex index key")]
Wait = Annotated[bool, Query(description="answer once written (200), or at once (202)")]
Timeout = Annotated[float, Query(gt=0, le=MAX_WAIT_SECONDS, description="most seconds to wait")]
IdStart = Annotated[
    int | None, Query(ge=0, lt=2**63, description="first id when the body carries none")
]
_WRITTEN: dict[int | str, dict[str, Any]] = {
    200: {"model": JobView, "description": "written (wait=true)"}
}


def _open(
    client: Client, name: str, key_hex: str | None, who: auth.Grant, need: auth.Access
) -> Index:
    _authorise(who, name, need)
    logs.bind(index=name)
    return client.load_index(name, _key(key_hex))


def _binary_body() -> dict[str, Any]:
    schema = {"type": "string", "format": "binary"}
    return {
        "required": True,
        "description": ".npy: a 2-D array of vectors (ids from ?id_start); .npz: arrays "
        "'vectors' and optionally 'ids'; Arrow IPC stream: columns 'id', 'vector' (list of "
        "floats) and any others as metadata",
        "content": {kind: {"schema": schema} for kind in bodies.TYPES},
    }


# ---- routes -----------------------------------------------------------------------------

router = APIRouter()
V = f"/{API_VERSION}"


@router.get("/healthz", tags=["health"], summary="liveness: the process answers")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/readyz",
    tags=["health"],
    summary="readiness: Redis and Qdrant answer",
    responses={503: {"description": "a dependency is down"}},
)
def readyz(client: ClientDep) -> JSONResponse:
    checks = {"redis": _probe(client.redis.ping), "qdrant": _probe(client.qdrant.get_collections)}
    ready = all(v == "ok" for v in checks.values())
    body = {"status": "ready" if ready else "unavailable", "checks": checks}
    return JSONResponse(body, 200 if ready else 503)


@router.get(f"{V}/indexes", tags=["indexes"], summary="list the indexes you may read")
def list_indexes(client: ClientDep, who: Grant) -> IndexList:
    return IndexList(indexes=[n for n in client.list_indexes() if who.allows(n, "read")])


@router.post(f"{V}/indexes", tags=["indexes"], status_code=201, summary="create an index")
def create_index(body: IndexCreate, client: ClientDep, who: Grant) -> IndexView:
    _authorise(who, body.name, "write")
    made = body.index_key is None
    key = client.generate_key() if made else _key(body.index_key)
    try:
        index = client.create_index(body.name, key, body.dimension, body.shards, body.metric)
    except InvalidInputError:
        raise
    except ValueError as exc:  # the registry's checks: name, dimension, shards, metric
        raise Problem(422, "InvalidRequest", str(exc)) from None
    return _view(index, key.hex() if made else None)


@router.get(
    f"{V}/indexes/{{name}}",
    tags=["indexes"],
    summary="load an index: check the key, describe it and count its points",
)
def describe_index(
    name: IndexName, client: ClientDep, who: Grant, key: KeyHeader = None
) -> IndexView:
    index = _open(client, name, key, who, "read")
    view = _view(index, None)
    view.count = index.count()
    return view


@router.delete(
    f"{V}/indexes/{{name}}",
    tags=["indexes"],
    status_code=204,
    summary="delete an index and its collections",
)
def delete_index(name: IndexName, client: ClientDep, who: Grant, key: KeyHeader = None) -> Response:
    _authorise(who, name, "write")
    client.delete_index(name, _key(key))
    return Response(status_code=204)


@router.post(
    f"{V}/indexes/{{name}}/upsert",
    tags=["points"],
    status_code=202,
    summary="add or update points given as JSON (items base64)",
    responses=_WRITTEN,
)
def upsert_json(
    name: IndexName,
    body: UpsertBody,
    client: ClientDep,
    who: Grant,
    response: Response,
    key: KeyHeader = None,
    wait: Wait = False,
    timeout: Timeout = 60.0,
) -> JobView:
    index = _open(client, name, key, who, "write")
    records = [_record(i, p) for i, p in enumerate(body.items)]
    return _run(index, response, wait, timeout, lambda: index.upsert(records, wait=False))


@router.post(
    f"{V}/indexes/{{name}}/vectors",
    tags=["points"],
    status_code=202,
    summary="add or update points given as a .npy, .npz or Arrow IPC body",
    openapi_extra={"requestBody": _binary_body()},
    responses={**_WRITTEN, 415: {"model": ErrorView, "description": "unsupported content type"}},
)
async def upsert_binary(
    name: IndexName,
    request: Request,
    client: ClientDep,
    who: Grant,
    response: Response,
    key: KeyHeader = None,
    id_start: IdStart = None,
    wait: Wait = False,
    timeout: Timeout = 60.0,
) -> JobView:
    content_type = request.headers.get("content-type", "")
    if content_type.split(";")[0].strip().lower() not in bodies.TYPES:
        raise Problem(
            415, "UnsupportedMediaType", f"send Content-Type: one of {', '.join(bodies.TYPES)}"
        )
    raw = await _read_body(request, request.app.state.max_body_bytes)

    def work() -> JobView:
        with logs.scope():
            index = _open(client, name, key, who, "write")
            try:
                ids, vectors, metadata = bodies.decode(content_type, raw, id_start)
            except SourceError as exc:
                raise Problem(400, "BadBody", str(exc)) from None
            points = validation.from_arrays(ids, vectors, index.dimension, metadata)
            enqueue = partial(index._enqueue, points, wait=False, timeout=None, on_batch=None)
            return _run(index, response, wait, timeout, enqueue)

    return await run_in_threadpool(work)


@router.post(
    f"{V}/indexes/{{name}}/points",
    tags=["points"],
    summary="read points by id (missing ids are left out)",
)
def get_points(
    name: IndexName, body: GetBody, client: ClientDep, who: Grant, key: KeyHeader = None
) -> PointList:
    index = _open(client, name, key, who, "read")
    points = index.get(body.ids) if body.ids else []
    return PointList(points=[_point_out(p) for p in points])


@router.get(f"{V}/jobs/{{job_id}}", tags=["jobs"], summary="a job's progress")
def job_status(
    job_id: Annotated[str, Path(max_length=64, pattern=r"^[A-Za-z0-9_-]+$")],
    client: ClientDep,
    who: Grant,
) -> JobView:
    state = ledger.read(client.redis, job_id)
    if state is None or not who.allows(state.index, "read"):
        raise Problem(404, "JobNotFound", f"no job {job_id} (expired, or not yours)")
    return _job_view(state, ledger.failures(client.redis, job_id))


# ---- helpers ----------------------------------------------------------------------------


def _authorise(who: auth.Grant, index: str, need: auth.Access) -> None:
    if not who.allows(index, need):
        raise Problem(403, "Forbidden", f"token {who.name!r} has no {need} access to {index!r}")


def _key(key_hex: str | None) -> bytes:
    if not key_hex:
        raise Problem(400, "MissingIndexKey", "send the index key as X-Index-Key: <64 hex digits>")
    try:
        key = bytes.fromhex(key_hex.strip())
    except ValueError:
        raise Problem(400, "BadIndexKey", "X-Index-Key must be 64 hex digits") from None
    if len(key) != 32:
        raise Problem(400, "BadIndexKey", f"X-Index-Key must be 32 bytes, got {len(key)}")
    return key


def _record(i: int, p: PointIn) -> dict[str, Any]:
    record: dict[str, Any] = {"id": p.id, "vector": p.vector}
    if p.item is not None:
        try:
            record["item"] = base64.b64decode(p.item, validate=True)
        except (binascii.Error, ValueError):
            raise Problem(
                422, "InvalidVectorError", f"items[{i}] (id {p.id}): item is not valid base64"
            ) from None
    if p.metadata is not None:
        record["metadata"] = p.metadata
    return record


def _run(
    index: Index, response: Response, wait: bool, timeout: float, enqueue: Callable[[], UpsertJob]
) -> JobView:
    """Enqueue; with ``wait``, answer 200 once settled, else 202 with the job's location."""
    job = enqueue()
    logs.bind(job=job.job_id)
    httpmetrics.accepted(index.name, job.total)
    response.headers["Location"] = f"/{API_VERSION}/jobs/{job.job_id}"
    if wait:
        # A timeout answers 202 (still running); failed vectors are listed in the view.
        with contextlib.suppress(WaitTimeout, UpsertError):
            job.wait(timeout)
    state = job.state()
    if wait and state.finished:
        response.status_code = 200
        return _job_view(state, job.failures)
    return _job_view(state, [])


def _job_view(state: JobState, failures: list[Any]) -> JobView:
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


def _view(index: Index, key_hex: str | None) -> IndexView:
    return IndexView(
        name=index.name,
        dimension=index.dimension,
        shards=index.shards,
        metric=index.metric,
        index_key=key_hex,
    )


def _point_out(p: dict[str, Any]) -> PointOut:
    item = base64.b64encode(p["item"]).decode() if p["item"] is not None else None
    return PointOut(id=p["id"], vector=p["vector"], item=item, metadata=p["metadata"])


def _probe(check: Callable[[], Any]) -> str:
    try:
        check()
    except Exception as exc:
        return f"error: {logs.redact(str(exc))[:200]}"
    return "ok"


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise Problem(413, "BodyTooLarge", f"the body is {declared} bytes; the limit is {limit}")
    parts: list[bytes] = []
    size = 0
    async for part in request.stream():
        size += len(part)
        if size > limit:
            raise Problem(413, "BodyTooLarge", f"the body exceeds the limit of {limit} bytes")
        parts.append(part)
    return b"".join(parts)
