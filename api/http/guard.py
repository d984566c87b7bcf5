"""What a request must pass before any route sees it, and before its body is read or parsed.

A request to an API route without a known bearer token is answered 401 at once (its body
unread); a body larger than its limit is answered 413 as soon as that is known: from its
``Content-Length``, or while it streams in (chunked). JSON routes and the binary
``/vectors`` route have limits of their own; a JSON route's body of another content type is
answered 415. Health, metrics and the OpenAPI pages pass.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from vecq.api.http import auth

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]

# Paths anyone may reach: probes, metrics, and the API's own description.
OPEN_PATHS = frozenset({"/healthz", "/readyz", "/metrics", "/docs", "/openapi.json", "/redoc"})
# The route that takes binary bodies (.npy, .npz, Arrow), under its own larger limit.
BINARY_SUFFIX = "/vectors"


# Methods whose requests carry a body the routes read.
BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


def _is_json(headers: dict[str, str]) -> bool:
    """True if the request says its body is JSON (``application/json`` or ``*/*+json``), or
    sends no body at all."""
    kind = headers.get("content-type", "").split(";")[0].strip().lower()
    if not kind:
        return headers.get("content-length", "0") == "0" and "transfer-encoding" not in headers
    return kind == "application/json" or kind.endswith("+json")


class _TooLarge(Exception):
    """The body streamed past its limit."""


class RequestGuard:
    """ASGI middleware: authentication and body size, checked before the app runs."""

    def __init__(
        self, app: App, *, tokens: auth.Tokens | None, json_limit: int, binary_limit: int
    ) -> None:
        self.app = app
        self.tokens = tokens
        self.json_limit = json_limit
        self.binary_limit = binary_limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in OPEN_PATHS:
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        refusal = self._refusal(headers.get("authorization"))
        if refusal is not None:
            await _answer(send, 401, "Unauthorized", refusal, [(b"www-authenticate", b"Bearer")])
            return
        binary = scope["path"].endswith(BINARY_SUFFIX)
        if not binary and scope["method"] in BODY_METHODS and not _is_json(headers):
            await _answer(
                send,
                415,
                "UnsupportedMediaType",
                f"this route takes JSON: send Content-Type: application/json, not "
                f"{headers.get('content-type') or 'none'}",
            )
            return
        limit = self.binary_limit if binary else self.json_limit
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            await _too_large(send, int(declared), limit, binary)
            return
        started = refused = False
        seen = 0

        async def counted() -> Message:
            nonlocal seen, started, refused
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    # Answer now: whatever the app makes of the error (FastAPI turns a body
                    # that fails to arrive into a 400) is dropped by ``watched``.
                    if not started:
                        await _too_large(send, seen, limit, binary)
                        started = refused = True
                    raise _TooLarge
            return message

        async def watched(message: Message) -> None:
            nonlocal started
            if refused:
                return
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, watched)
        except* _TooLarge:  # grouped when it crosses a middleware's task group
            pass  # answered already (or the response was under way: nothing more to say)

    def _refusal(self, authorization: str | None) -> str | None:
        """Why the request is refused (as the routes' own check says it), or ``None``."""
        if self.tokens is None:
            return None
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return "send Authorization: Bearer <token>"
        return None if self.tokens.grant(token.strip()) is not None else "unknown token"


async def _too_large(send: Send, size: int, limit: int, binary: bool) -> None:
    flag = "--max-body-mb" if binary else "--max-json-mb"
    await _answer(
        send,
        413,
        "BodyTooLarge",
        f"the body has more than {limit:,} bytes (at least {size:,}); send it in parts, or "
        f"raise vecq serve's {flag}" + ("" if binary else " (or send .npy, .npz or Arrow)"),
    )


async def _answer(
    send: Send,
    status: int,
    error: str,
    detail: str,
    headers: list[tuple[bytes, bytes]] | None = None,
) -> None:
    body = json.dumps({"error": error, "detail": detail}).encode()
    start = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send(
        {"type": "http.response.start", "status": status, "headers": start + (headers or [])}
    )
    await send({"type": "http.response.body", "body": body})
