"""The routes of the HTTP API: indexes, upserts as JSON or binary, deletes, metadata updates,
points, jobs, health.

Routes are thin: they authorise, parse, call the same :class:`~vecq.api.client.Client` and
:class:`~vecq.api.index.Index` methods as the library, and let vecq's errors propagate to
:mod:`vecq.api.http.errors`. Routes are plain functions, so FastAPI runs each in its thread pool.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request, Response
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from vecq.api.http import bodies, request_metrics, views
from vecq.api.http.deps import (
    ClientDep,
    Grant,
    IdStart,
    IndexName,
    KeyHeader,
    Timeout,
    Wait,
    WaitSlot,
    authorise,
    index_key,
    open_index,
)
from vecq.api.http.errors import Problem
from vecq.api.http.models import (
    DeleteBody,
    ErrorView,
    GetBody,
    IndexCreate,
    IndexList,
    IndexView,
    JobView,
    MetadataBody,
    PointList,
    UpsertBody,
)
from vecq.api.index import Index
from vecq.api.jobs import UpsertJob
from vecq.shared import logs
from vecq.shared.errors import SourceError, UpsertError, WaitTimeout
from vecq.shared.points import validation
from vecq.shared.redaction import redact
from vecq.shared.state import job_state

API_VERSION = "v1"

_WRITTEN: dict[int | str, dict[str, Any]] = {
    200: {"model": JobView, "description": "written (wait=true)"}
}


def _binary_body() -> dict[str, Any]:
    schema = {"type": "string", "format": "binary"}
    return {
        "required": True,
        "description": ".npy: a 2-D array of vectors (ids from ?id_start); .npz: arrays "
        "'vectors' and optionally 'ids'; Arrow IPC stream: columns 'id', 'vector' (list of "
        "floats) and any others as metadata",
        "content": {kind: {"schema": schema} for kind in bodies.TYPES},
    }


router = APIRouter()
V = f"/{API_VERSION}"


# Readiness probes run in threads of their own, so a probe never waits behind requests that
# hold the server's pool (a backlog of ?wait=true upserts); each answers within this.
_PROBES = concurrent.futures.ThreadPoolExecutor(2, thread_name_prefix="vecq-probe")
PROBE_SECONDS = 5.0


@router.get("/healthz", tags=["health"], summary="liveness: the process answers")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}  # on the event loop: never behind the thread pool


@router.get(
    "/readyz",
    tags=["health"],
    summary="readiness: Redis and Qdrant answer",
    responses={503: {"description": "a dependency is down"}},
)
async def readyz(client: ClientDep) -> JSONResponse:
    checks = {"redis": await _probe(client.redis.ping), "qdrant": await _probe(client.engine.ping)}
    ready = all(v == "ok" for v in checks.values())
    body = {"status": "ready" if ready else "unavailable", "checks": checks}
    return JSONResponse(body, 200 if ready else 503)


@router.get(f"{V}/indexes", tags=["indexes"], summary="list the indexes you may read")
def list_indexes(client: ClientDep, who: Grant) -> IndexList:
    return IndexList(indexes=[n for n in client.list_indexes() if who.allows(n, "read")])


@router.post(f"{V}/indexes", tags=["indexes"], status_code=201, summary="create an index")
def create_index(body: IndexCreate, client: ClientDep, who: Grant) -> IndexView:
    authorise(who, body.name, "write")
    made = body.index_key is None
    key = client.generate_key() if made else index_key(body.index_key)
    named = body.vectors is not None or body.sparse_vectors is not None
    if named == (body.dimension is not None):
        raise Problem(
            422,
            "InvalidIndexError",
            "give dimension (one unnamed vector) or "
            "vectors/sparse_vectors (named vectors), one of the two",
        )
    shape: dict[str, Any] = {"dimension": body.dimension}
    if named:
        dense = {n: v.model_dump() for n, v in (body.vectors or {}).items()}
        sparse = {n: v.model_dump() if v else None for n, v in (body.sparse_vectors or {}).items()}
        shape = {
            "vectors": dense if body.vectors is not None else None,
            "sparse_vectors": sparse if body.sparse_vectors is not None else None,
        }
    index = client.create_index(
        body.name,
        key,
        shards=body.shards,
        metric=body.metric,
        payload_indexes=body.payload_indexes,
        **shape,
    )
    return views.index_view(index, key.hex() if made else None)


@router.get(
    f"{V}/indexes/{{name}}",
    tags=["indexes"],
    summary="load an index: check the key, describe it and count its points",
)
def describe_index(
    name: IndexName, client: ClientDep, who: Grant, key: KeyHeader = None
) -> IndexView:
    index = open_index(client, name, key, who, "read")
    view = views.index_view(index, None)
    view.count = index.count()
    return view


@router.delete(
    f"{V}/indexes/{{name}}",
    tags=["indexes"],
    status_code=204,
    summary="delete an index and its collections",
)
def delete_index(name: IndexName, client: ClientDep, who: Grant, key: KeyHeader = None) -> Response:
    authorise(who, name, "write")
    client.delete_index(name, index_key(key))
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
    _slot: WaitSlot,
    key: KeyHeader = None,
    wait: Wait = False,
    timeout: Timeout = 60.0,
) -> JobView:
    index = open_index(client, name, key, who, "write")
    records = [views.record(i, p) for i, p in enumerate(body.items)]
    return _run(index, response, wait, timeout, lambda: index.upsert(records, wait=False))


@router.post(
    f"{V}/indexes/{{name}}/delete",
    tags=["points"],
    status_code=202,
    summary="delete points by id (ids never stored are no error)",
    responses=_WRITTEN,
)
def delete_points(
    name: IndexName,
    body: DeleteBody,
    client: ClientDep,
    who: Grant,
    response: Response,
    _slot: WaitSlot,
    key: KeyHeader = None,
    wait: Wait = False,
    timeout: Timeout = 60.0,
) -> JobView:
    index = open_index(client, name, key, who, "write")
    return _run(index, response, wait, timeout, lambda: index.delete(body.ids, wait=False))


@router.post(
    f"{V}/indexes/{{name}}/metadata",
    tags=["points"],
    status_code=202,
    summary="merge keys into stored points' metadata (ids not stored are reported)",
    responses=_WRITTEN,
)
def update_metadata(
    name: IndexName,
    body: MetadataBody,
    client: ClientDep,
    who: Grant,
    response: Response,
    _slot: WaitSlot,
    key: KeyHeader = None,
    wait: Wait = False,
    timeout: Timeout = 60.0,
) -> JobView:
    index = open_index(client, name, key, who, "write")
    updates = [{"id": u.id, "metadata": u.metadata} for u in body.items]
    return _run(index, response, wait, timeout, lambda: index.update_metadata(updates, wait=False))


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
    _slot: WaitSlot,
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
            index = open_index(client, name, key, who, "write")
            try:
                limit = request.app.state.max_body_bytes
                ids, vectors, metadata = bodies.decode(content_type, raw, id_start, limit)
            except SourceError as exc:
                raise Problem(400, "BadBody", str(exc)) from None
            points = validation.from_arrays(
                ids, vectors, index.dimension, metadata, schema=index.info.schema
            )
            return _run(index, response, wait, timeout, lambda: index.enqueue(points))

    return await run_in_threadpool(work)


@router.post(
    f"{V}/indexes/{{name}}/points",
    tags=["points"],
    summary="read points by id (missing ids are left out)",
)
def get_points(
    name: IndexName, body: GetBody, client: ClientDep, who: Grant, key: KeyHeader = None
) -> PointList:
    index = open_index(client, name, key, who, "read")
    points = index.get(body.ids) if body.ids else []
    return PointList(points=[views.point_out(p) for p in points])


@router.get(f"{V}/jobs/{{job_id}}", tags=["jobs"], summary="a job's progress")
def job_status(
    job_id: Annotated[str, Path(max_length=64, pattern=r"^[A-Za-z0-9_-]+$")],
    client: ClientDep,
    who: Grant,
) -> JobView:
    state = job_state.read(client.redis, job_id)
    if state is None or not who.allows(state.index, "read"):
        raise Problem(404, "JobNotFound", f"no job {job_id} (expired, or not yours)")
    return views.job_view(state, job_state.failures(client.redis, job_id))


def _run(
    index: Index, response: Response, wait: bool, timeout: float, enqueue: Callable[[], UpsertJob]
) -> JobView:
    """Enqueue; with ``wait``, answer 200 once settled, else 202 with the job's location."""
    job = enqueue()
    logs.bind(job=job.job_id)
    request_metrics.accepted(index.name, job.total)
    response.headers["Location"] = f"/{API_VERSION}/jobs/{job.job_id}"
    if wait:
        # A timeout answers 202 (still running); failed vectors are listed in the view.
        with contextlib.suppress(WaitTimeout, UpsertError):
            job.wait(timeout)
    state = job.state()
    if wait and state.finished:
        response.status_code = 200
        return views.job_view(state, job.failures)
    return views.job_view(state, [])


async def _probe(check: Callable[[], Any]) -> str:
    loop = asyncio.get_running_loop()
    try:
        await asyncio.wait_for(loop.run_in_executor(_PROBES, check), PROBE_SECONDS)
    except TimeoutError:
        return f"error: no answer within {PROBE_SECONDS:g} s"
    except Exception as exc:
        return f"error: {redact(str(exc))[:200]}"
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
