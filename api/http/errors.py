"""How every error becomes an HTTP answer: one JSON shape, ``{"error", "detail"}``, and a status.

Routes raise :class:`Problem` for HTTP-level refusals (no token, a bad body) and let vecq's
own errors propagate; :func:`install` maps both, most specific class first (:data:`STATUS`),
and FastAPI's own: a request that fails its schema (422) and Starlette's 404/405.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from vecq.shared.errors import (
    BackpressureTimeout,
    BrokerUnavailable,
    IndexExistsError,
    IndexNotLoadedError,
    InvalidInputError,
    InvalidKeyError,
    StorageLocked,
    VecqError,
)

log = logging.getLogger(__name__)

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


def install(app: FastAPI) -> None:
    """Answer :class:`Problem` and :class:`VecqError` with their status and JSON body."""
    app.add_exception_handler(Problem, _problem)  # type: ignore[arg-type]  # Starlette types handlers loosely
    app.add_exception_handler(VecqError, _vecq_error)  # type: ignore[arg-type]  # as above
    app.add_exception_handler(RequestValidationError, _invalid_request)  # type: ignore[arg-type]  # as above
    app.add_exception_handler(HTTPException, _http_error)  # type: ignore[arg-type]  # as above


# Most schema errors one answer spells out (the rest are counted).
MAX_SCHEMA_ERRORS = 5


def _invalid_request(_: Request, exc: RequestValidationError) -> JSONResponse:
    problems = [
        f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg', 'invalid')}"
        for e in exc.errors()
    ]
    more = len(problems) - MAX_SCHEMA_ERRORS
    detail = "; ".join(problems[:MAX_SCHEMA_ERRORS]) + (f"; and {more} more" if more > 0 else "")
    return JSONResponse({"error": "InvalidRequest", "detail": detail}, 422)


def _http_error(_: Request, exc: HTTPException) -> JSONResponse:
    names = {404: "NotFound", 405: "MethodNotAllowed"}
    error = names.get(exc.status_code, f"HTTP{exc.status_code}")
    return JSONResponse({"error": error, "detail": str(exc.detail)}, exc.status_code, exc.headers)


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
