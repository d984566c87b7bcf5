"""Metadata rules: JSON values as Qdrant payloads hold them, checked and normalised once.

A point's metadata is a dict of ``str`` keys to ``str``, ``int`` (int64), finite ``float``,
``bool``, ``None``, lists and nested dicts of those, and ``datetime``/``date`` (stored as
RFC 3339 text in UTC, which Qdrant's datetime index filters; a naive ``datetime`` is taken as
UTC).
Nesting is bounded (:data:`MAX_DEPTH`) and so is the encoded size (:data:`MAX_BYTES`); no
key anywhere in the tree may start with ``_vecq``. NumPy scalars become Python numbers.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from vecq.shared.errors import InvalidVectorError
from vecq.shared.keys import RESERVED_PREFIX

Metadata = dict[str, Any]

# Most containers (dicts and lists) inside one another below the top-level dict.
MAX_DEPTH = 8
# Most bytes of one point's metadata as JSON (about): payloads are for filtering, not storage.
MAX_BYTES = 64 * 1024
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
# JSON framing per value (quotes, colon, comma), for the size estimate.
_FRAMING = 4


def check(meta: Any, row: int, point_id: Any, *, what: str = "metadata") -> Metadata | None:
    """Return ``meta`` normalised to plain JSON values (``None`` if absent), or raise.

    The error names the row, the id and the path inside the tree (``metadata['a'][2]``).
    """
    if meta is None:
        return None
    where = f"row {row} (id {point_id!r})"
    if not isinstance(meta, Mapping):
        raise InvalidVectorError(
            f"{where}: {what} must be a dict, got {type(meta).__name__}", row=row
        )
    walker = _Walker(where, row)
    out = walker.mapping(meta, what, 0)
    if walker.size > MAX_BYTES:
        raise InvalidVectorError(
            f"{where}: {what} is about {walker.size:,} bytes as JSON, above the limit of "
            f"{MAX_BYTES:,}; keep large data in the item",
            row=row,
        )
    return out


def size(meta: Metadata | None) -> int:
    """About how many bytes ``meta`` takes as JSON (0 for none)."""
    if not meta:
        return 0
    walker = _Walker("", 0)
    walker.mapping(meta, "metadata", 0)
    return walker.size


class _Walker:
    """One pass over a metadata tree: checks every value, builds the normalised copy, sizes it."""

    def __init__(self, where: str, row: int) -> None:
        self.where = where
        self.row = row
        self.size = 2

    def fail(self, message: str) -> InvalidVectorError:
        return InvalidVectorError(f"{self.where}: {message}", row=self.row)

    def mapping(self, value: Mapping[Any, Any], path: str, depth: int) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise self.fail(f"{path} key {key!r} is not a string")
            if key.startswith(RESERVED_PREFIX):
                raise self.fail(
                    f"{path} key {key!r} is reserved (no key may start with {RESERVED_PREFIX!r})"
                )
            self.size += len(key) + _FRAMING
            out[key] = self.value(item, f"{path}[{key!r}]", depth)
        return out

    def value(self, value: Any, path: str, depth: int) -> Any:
        if value is None or isinstance(value, bool):
            self.size += 5
            return value
        if isinstance(value, str):
            self.size += len(value) + 2
            return value
        if isinstance(value, int):
            if not _INT64_MIN <= value <= _INT64_MAX:
                raise self.fail(f"{path}={value} does not fit in int64")
            self.size += 20
            return value
        if isinstance(value, float):
            if not math.isfinite(value):
                raise self.fail(f"{path} is {value}; numbers must be finite")
            self.size += 24
            return value
        if isinstance(value, (Mapping, list, tuple)):
            if depth >= MAX_DEPTH:
                raise self.fail(f"{path} nests deeper than {MAX_DEPTH} levels")
            if isinstance(value, Mapping):
                return self.mapping(value, path, depth + 1)
            self.size += 2
            return [self.value(v, f"{path}[{i}]", depth + 1) for i, v in enumerate(value)]
        if isinstance(value, (dt.datetime, dt.date)):
            text = rfc3339(value)
            self.size += len(text) + 2
            return text
        if isinstance(value, np.generic) and value.dtype.kind in "biuf":
            return self.value(value.item(), path, depth)
        raise self.fail(
            f"{path} has a {type(value).__name__}; values must be str, int, float, bool, None, "
            "datetime, or lists and dicts of those"
        )


def rfc3339(value: dt.date) -> str:
    """A ``datetime`` as RFC 3339 text in UTC, ending in ``Z`` (naive taken as UTC, aware
    converted: one form, whatever the source gave); a ``date`` as ``YYYY-MM-DD``."""
    if not isinstance(value, dt.datetime):
        return value.isoformat()
    if value.tzinfo is not None and value.utcoffset() is not None:
        value = value.astimezone(dt.UTC).replace(tzinfo=None)
    return value.isoformat() + "Z"
