"""Structured logs: every line carries the job, index, shard and batch it is about.

Code binds ids once (``bind(index=..., shard=..., batch=...)`` inside a ``scope()``) and
logs as usual; :class:`ContextFilter` copies the bound ids onto each record, and the two
formatters write them as ``key=value`` pairs (``text``) or one JSON object a line
(``json``). Both pass the finished line through :func:`redact`, so a URL's password never
reaches a log even when an exception message quotes the URL.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import time
from collections.abc import Iterator
from typing import Any, Literal

from vecq.shared.redaction import redact

Format = Literal["text", "json"]

# The ids a line may carry, in the order text lines show them.
FIELDS = ("job", "index", "shard", "batch")

# Treated as immutable: every change sets a new dict, so scopes never leak into each other.
_EMPTY: dict[str, Any] = {}
_bound: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar(
    "vecq_log", default=None
)


@contextlib.contextmanager
def scope(**ids: Any) -> Iterator[None]:
    """Bind ``ids`` (and whatever :func:`bind` adds) for the duration of the block only."""
    token = _bound.set({**(_bound.get() or _EMPTY), **_clean(ids)})
    try:
        yield
    finally:
        _bound.reset(token)


def bind(**ids: Any) -> None:
    """Add ``ids`` to the current scope (use inside :func:`scope`, or they outlive the work)."""
    _bound.set({**(_bound.get() or _EMPTY), **_clean(ids)})


def bound() -> dict[str, Any]:
    """The ids bound right now."""
    return dict(_bound.get() or _EMPTY)


def _clean(ids: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in ids.items() if v is not None}


class ContextFilter(logging.Filter):
    """Copies the bound ids onto each record as ``record.vecq``."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "vecq"):
            record.vecq = _bound.get() or _EMPTY
        return True


class TextFormatter(logging.Formatter):
    """``2026-11-24T02:41:07.123Z INFO vecq.workers.pipeline message job=... index=...``."""

    def format(self, record: logging.LogRecord) -> str:
        ids: dict[str, Any] = getattr(record, "vecq", None) or {}
        pairs = " ".join(f"{k}={ids[k]}" for k in FIELDS if k in ids)
        extra = " ".join(f"{k}={v}" for k, v in ids.items() if k not in FIELDS)
        line = f"{_timestamp(record)} {record.levelname} {record.name} {record.getMessage()}"
        line = " ".join(part for part in (line, pairs, extra) if part)
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return redact(line)


class JsonFormatter(logging.Formatter):
    """One JSON object a line: ``ts``, ``level``, ``logger``, ``msg``, the ids, ``exc``."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": _timestamp(record),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        entry.update(getattr(record, "vecq", None) or {})
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return redact(json.dumps(entry, default=str))


def _timestamp(record: logging.LogRecord) -> str:
    seconds = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
    return f"{seconds}.{int(record.msecs):03d}Z"


def handler(fmt: Format | str = "text", stream: Any = None) -> logging.Handler:
    """A stream handler (stderr by default) writing vecq's structured lines (text or json)."""
    if fmt not in ("text", "json"):
        raise ValueError(f"log format {fmt!r}: use 'text' or 'json'")
    h = logging.StreamHandler(stream)
    h.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    h.addFilter(ContextFilter())
    return h


def configure(level: str | int = "INFO", fmt: Format | str = "text", stream: Any = None) -> None:
    """Make vecq's handler the root logger's only one (for ``vecq`` commands, not libraries)."""
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler(fmt, stream))
    root.setLevel(level.upper() if isinstance(level, str) else level)
