"""What routes receive from FastAPI: the client, the caller's grant, typed path and query values.

Also the one way a route opens an index: authorise the grant, then load it with the key
from the ``X-Index-Key`` header (never logged).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Header, Path, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from vecq.api.client import Client
from vecq.api.http import auth
from vecq.api.http.errors import Problem
from vecq.api.index import Index
from vecq.shared import logs
from vecq.shared.crypto import key_from_hex
from vecq.shared.errors import InvalidKeyError

# Longest ``?timeout=`` an upsert may wait before answering 202.
MAX_WAIT_SECONDS = 600.0

_bearer = HTTPBearer(auto_error=False, description="a token from the tokens file")


def _client(request: Request) -> Client:
    client: Client = request.app.state.client
    return client


def _grant(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
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


def _wait_slot(request: Request, wait: Wait = False) -> Iterator[None]:
    """One of the server's waiting slots for a ``?wait=true`` request, held until it answers;
    503 (with ``Retry-After``) when every slot is taken, before anything is enqueued."""
    if not wait:
        yield
        return
    slots = request.app.state.waiting
    if not slots.acquire(blocking=False):
        raise Problem(
            503,
            "TooManyWaiting",
            "too many requests are waiting for their writes; retry later, or send without "
            "?wait=true and follow the job at its Location",
            {"Retry-After": "5"},
        )
    try:
        yield
    finally:
        slots.release()


WaitSlot = Annotated[None, Depends(_wait_slot)]


def authorise(who: auth.Grant, index: str, need: auth.Access) -> None:
    """Raise 403 unless ``who`` has ``need`` access to ``index``."""
    if not who.allows(index, need):
        raise Problem(403, "Forbidden", f"token {who.name!r} has no {need} access to {index!r}")


def index_key(key_hex: str | None) -> bytes:
    """The index key of the ``X-Index-Key`` header; 400 if it is missing or malformed."""
    if not key_hex:
        raise Problem(400, "MissingIndexKey", "send the index key as X-Index-Key: <64 hex digits>")
    try:
        return key_from_hex(key_hex, "X-Index-Key")
    except InvalidKeyError as exc:
        raise Problem(400, "BadIndexKey", str(exc)) from None


def open_index(
    client: Client, name: str, key_hex: str | None, who: auth.Grant, need: auth.Access
) -> Index:
    """Authorise, then load the index with the header's key (a wrong key is 403)."""
    authorise(who, name, need)
    logs.bind(index=name)
    return client.load_index(name, index_key(key_hex))
