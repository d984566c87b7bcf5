"""How vecq's errors become HTTP answers: one JSON shape, ``{"error", "detail"}``, and a status.

Routes raise :class:`Problem` for HTTP-level refusals (no token, a bad body) and let vecq's
own errors propagate; :func:`install` maps both, most specific class first (:data:`STATUS`).
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from shared.errors import (
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
