"""The FastAPI application of ``vecq serve``, built around one :class:`~vecq.api.client.Client`."""

from __future__ import annotations

import threading
from typing import Any

from fastapi import FastAPI

from vecq.api import defaults
from vecq.api.client import Client
from vecq.api.http import auth, errors, request_metrics, search
from vecq.api.http.guard import RequestGuard
from vecq.api.http.models import ErrorView
from vecq.api.http.routes import API_VERSION, router
from vecq.api.publisher import CeleryPublisher

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
    max_body_bytes: int = defaults.MAX_BODY_MB * defaults.MIB,
    max_json_bytes: int = defaults.MAX_JSON_MB * defaults.MIB,
    max_waiting: int = defaults.MAX_WAITING,
) -> FastAPI:
    """The API over ``client``; ``tokens=None`` turns authentication off (every caller writes).

    Every request passes :class:`~vecq.api.http.guard.RequestGuard` first: no body is read
    before its token is known, nor past its size limit.
    """
    app = FastAPI(
        title="vecq",
        version=API_VERSION,
        description="Distributed ingestion of vector embeddings into Qdrant.",
        responses=_ERRORS,
    )
    app.state.client = client
    publisher = client.session.publisher
    if isinstance(publisher, CeleryPublisher):
        _ = publisher.app  # Celery imported now, not by requests racing to it
    app.state.tokens = tokens
    app.state.max_body_bytes = max_body_bytes
    app.state.waiting = threading.BoundedSemaphore(max(1, max_waiting))
    errors.install(app)
    request_metrics.install(app, client)
    app.include_router(router)
    app.include_router(search.router)
    app.add_middleware(
        RequestGuard, tokens=tokens, json_limit=max_json_bytes, binary_limit=max_body_bytes
    )
    return app
