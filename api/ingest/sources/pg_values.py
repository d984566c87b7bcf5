"""PostgreSQL values as vecq's arrays: vector columns (``real[]``, ``float8[]``, pgvector's
``vector``, ``bytea`` of float32, text) read from their binary form into NumPy rows without a
Python float per value, and other columns as JSON metadata."""

from __future__ import annotations

import struct
import uuid
from datetime import time as dt_time
from decimal import Decimal
from typing import Any

import numpy as np
import numpy.typing as npt

from vecq.shared.errors import SourceError

FLOAT4_ARRAY, FLOAT8_ARRAY = 1021, 1022  # the type oids of real[] and float8[]


def dense(values: list[Any], first: int, where: object, field: str) -> npt.NDArray[np.float32]:
    """One vector a row as a 2-D array; a null or a row of another length is named."""
    rows: list[npt.NDArray[Any]] = []
    for row, value in enumerate(values):
        if value is None:
            raise SourceError(f"{where}: row {first + row}: column {field!r} is null")
        try:
            vector = as_floats(value)
        except SourceError as exc:
            raise SourceError(f"{where}: row {first + row}: column {field!r}: {exc}") from None
        if rows and len(vector) != len(rows[0]):
            raise SourceError(
                f"{where}: row {first + row}: column {field!r} has "
                f"{len(vector)} values, row {first} has {len(rows[0])}"
            )
        rows.append(vector)
    if not rows:
        return np.empty((0, 0), np.float32)
    return np.stack(rows).astype(np.float32, copy=False)


def as_floats(value: Any) -> npt.NDArray[Any]:
    """A vector cell: an array (the binary loaders'), ``bytea`` of float32 little-endian
    values, pgvector's text form ``[1,2,3]``, or a list. ``SourceError`` if it is none."""
    if isinstance(value, WithNulls):
        raise SourceError("an array element is NULL")
    if isinstance(value, np.ndarray):
        return value
    if isinstance(value, bytes | memoryview | bytearray):
        if len(value) % 4:
            raise SourceError(f"a bytea vector of {len(value)} bytes is not float32 values")
        return np.frombuffer(value, "<f4")
    try:
        if isinstance(value, str):  # '[1,2]' (pgvector) or '{1,2}' (an array cast to text)
            text = value.strip().strip("[]{}")
            return np.asarray(text.split(",") if text else [], dtype=np.float64)
        return np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise SourceError(f"not a vector of numbers ({exc})") from None


def json_value(value: Any) -> Any:
    """A column value as JSON metadata can hold it."""
    if isinstance(value, WithNulls):
        raise SourceError("an array element is NULL")
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, uuid.UUID | dt_time):
        return str(value)
    if isinstance(value, list):
        return [json_value(v) for v in value]
    return value


def _array(data: Any, element: str) -> npt.NDArray[Any]:
    """PostgreSQL's binary array (header, dimensions, then a length before each element)
    as a NumPy array of its shape; a NULL element becomes NaN (rejected, by row, later)."""
    buf = bytes(data)
    ndim, has_null, _ = struct.unpack_from(">iii", buf)
    shape = [struct.unpack_from(">i", buf, 12 + 8 * d)[0] for d in range(ndim)]
    offset, size = 12 + 8 * ndim, np.dtype(element).itemsize
    if not has_null:
        cells = np.frombuffer(buf, [("n", ">i4"), ("v", element)], offset=offset)
        return cells["v"].reshape(shape)  # big-endian; converted once per chunk (dense)
    out = []
    while offset < len(buf):
        (length,) = struct.unpack_from(">i", buf, offset)
        offset += 4
        if length < 0:
            out.append(np.nan)
        else:
            out.append(float(np.frombuffer(buf, element, 1, offset)[0]))
            offset += size
    return np.asarray(out).reshape(shape).view(WithNulls)


class WithNulls(np.ndarray):
    """An array that held a NULL element (as NaN): refused by row, by :func:`as_floats`."""


def pgvector_values(data: Any) -> npt.NDArray[np.float32]:
    """pgvector's binary ``vector``: a 2-byte dimension, 2 unused bytes, big-endian float32s."""
    buf = bytes(data)
    (dim,) = struct.unpack_from(">H", buf)
    return np.frombuffer(buf, ">f4", dim, 4).astype(np.float32)


def register_loaders(conn: Any) -> None:
    """Binary loaders for vector columns on this connection: real[], float8[] and, where the
    database has pgvector, its ``vector`` type."""
    from psycopg.adapt import Loader
    from psycopg.pq import Format

    def loader(parse: Any) -> type[Loader]:
        class Vector(Loader):
            format = Format.BINARY

            def load(self, data: Any) -> Any:
                return parse(data)

        return Vector

    conn.adapters.register_loader(FLOAT4_ARRAY, loader(lambda d: _array(d, ">f4")))
    conn.adapters.register_loader(FLOAT8_ARRAY, loader(lambda d: _array(d, ">f8")))
    found = conn.execute("SELECT oid FROM pg_type WHERE typname = 'vector'").fetchone()
    if found is not None:
        conn.adapters.register_loader(int(found[0]), loader(pgvector_values))
