"""Qdrant's gRPC ``Upsert`` request, encoded straight from NumPy.

qdrant-client turns each vector into a Python list and each float into a protobuf field
(about 100 µs a 768-d vector, most of a worker's CPU). Protobuf lays a packed ``repeated
float`` out as the very float32 bytes a batch blob already holds, so this module frames
each point by hand around a slice of the vectors' buffer: one ``bytes`` join per point,
no float ever becomes a Python object. Everything small (ids, payloads, the update filter,
the request's own fields) is still built by the protobuf classes qdrant-client ships, and
the field numbers are read from their descriptors, so the frame follows the schema.

Protobuf lets a message's fields come in any order and concatenates repeated fields, so
``UpsertPoints`` is its small fields serialised by protobuf, followed by one
length-delimited ``points`` field per point. Tests parse the bytes back with protobuf and
compare them with what qdrant-client itself would send.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

_LEN = 2  # protobuf wire type of a length-delimited field


def varint(value: int) -> bytes:
    """``value`` (>= 0) as a protobuf varint."""
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def field(number: int, body: bytes) -> bytes:
    """A length-delimited field: tag, length, body."""
    return varint(number << 3 | _LEN) + varint(len(body)) + body


@functools.cache
def _numbers() -> dict[str, int]:
    """The field numbers the frame needs, read from qdrant-client's generated classes."""
    from qdrant_client import grpc as pb

    def number(message: Any, name: str) -> int:
        descriptor = getattr(message, "DESCRIPTOR", message)
        return int(descriptor.fields_by_name[name].number)

    entry = pb.NamedVectors.DESCRIPTOR.fields_by_name["vectors"].message_type  # map<string, Vector>
    return {
        "points": number(pb.UpsertPoints, "points"),
        "vectors": number(pb.PointStruct, "vectors"),
        "vector": number(pb.Vectors, "vector"),
        "dense": number(pb.Vector, "dense"),
        "data": number(pb.DenseVector, "data"),
        "named": number(pb.Vectors, "vectors"),
        "map": number(pb.NamedVectors, "vectors"),
        "key": number(entry, "key"),
        "value": number(entry, "value"),
        "sparse": number(pb.Vector, "sparse"),
        "multi": number(pb.Vector, "multi_dense"),
        "rows": number(pb.MultiDenseVector, "vectors"),
    }


@functools.cache
def dense_prefix(dimension: int) -> bytes:
    """Everything of ``PointStruct.vectors`` before the floats of one dense vector."""
    n = _numbers()
    size = 4 * dimension
    # Nested lengths, innermost first: DenseVector.data, Vector.dense, Vectors.vector.
    data = varint(n["data"] << 3 | _LEN) + varint(size)
    dense = varint(n["dense"] << 3 | _LEN) + varint(len(data) + size)
    vector = varint(n["vector"] << 3 | _LEN) + varint(len(dense) + len(data) + size)
    total = len(vector) + len(dense) + len(data) + size
    return varint(n["vectors"] << 3 | _LEN) + varint(total) + vector + dense + data


def named_vector(kind: str, value: Any) -> bytes:
    """One named vector's ``Vector`` message body (dense and multivector rows framed around
    their float32 bytes; a sparse one through protobuf: its indices are varints)."""
    n = _numbers()
    if kind == "dense":
        return field(n["dense"], field(n["data"], _le32(value)))
    if kind == "multi":
        rows = b"".join(field(n["rows"], field(n["data"], _le32(row))) for row in value)
        return field(n["multi"], rows)
    from qdrant_client import grpc as pb

    indices, values = value  # Python lists
    sparse = pb.SparseVector(values=values, indices=indices)
    return field(n["sparse"], sparse.SerializeToString())


def named_vectors(vectors: dict[str, bytes]) -> bytes:
    """``PointStruct.vectors`` holding named vectors (each a :func:`named_vector` body)."""
    n = _numbers()
    entries = b"".join(
        field(n["map"], field(n["key"], name.encode()) + field(n["value"], body))
        for name, body in vectors.items()
    )
    return field(n["vectors"], field(n["named"], entries))


def _le32(row: Any) -> bytes:
    return np.ascontiguousarray(row, dtype="<f4").tobytes()


class PayloadCache:
    """Serialised ``PointStruct`` id and payload fields, reused for the common shapes.

    Most points of a batch carry the same payload (only their sequence number), so its
    bytes are built once per request.
    """

    def __init__(self) -> None:
        from qdrant_client import grpc as pb
        from qdrant_client.conversions.conversion import RestToGrpc

        self._pb = pb
        self._convert = RestToGrpc.convert_payload
        self._last: tuple[tuple[str, type, Any], ...] | None = None
        self._last_bytes = b""

    def head(self, point_id: int | str, payload: dict[str, Any]) -> bytes:
        """The point's ``id`` and ``payload`` fields, serialised."""
        pb = self._pb
        pid = pb.PointId(num=point_id) if isinstance(point_id, int) else pb.PointId(uuid=point_id)
        id_bytes: bytes = pb.PointStruct(id=pid).SerializeToString()
        flat = _flat(payload)
        if flat is None or flat != self._last:
            body: bytes = pb.PointStruct(payload=self._convert(payload)).SerializeToString()
            if flat is None:
                return id_bytes + body
            self._last, self._last_bytes = flat, body
        return id_bytes + self._last_bytes


def _flat(payload: dict[str, Any]) -> tuple[tuple[str, type, Any], ...] | None:
    """A hashable key for a small payload of scalar values (None if any value is nested).

    The type is part of the key: ``True == 1``, but a bool and an integer are different
    payload values.
    """
    if len(payload) > 4:
        return None
    items = []
    for key, value in payload.items():
        if isinstance(value, (dict, list)):
            return None
        items.append((key, type(value), value))
    return tuple(items)


def upsert_request(
    collection: str,
    ids: Sequence[int | str],
    vectors: npt.NDArray[np.float32],
    payloads: Sequence[dict[str, Any]],
    update_filter: Any = None,
    *,
    wait: bool = True,
    named: Callable[[int], dict[str, bytes]] | None = None,
) -> bytes:
    """The serialised ``UpsertPoints`` request: ``ids[i]`` gets ``vectors[i]`` and ``payloads[i]``.

    ``update_filter`` is a ``qdrant_client.grpc.Filter`` (or None). The vectors' rows are
    written as little-endian float32, whatever the array's order. For an index of named
    vectors, ``vectors`` has no columns and ``named(i)`` gives point ``i``'s
    :func:`named_vector` bodies by name.
    """
    from qdrant_client import grpc as pb

    rows = np.ascontiguousarray(vectors, dtype="<f4")
    n, dimension = rows.shape
    if not (len(ids) == len(payloads) == n):
        raise ValueError(f"{len(ids)} ids, {n} vectors and {len(payloads)} payloads")
    head = pb.UpsertPoints(collection_name=collection, wait=wait)
    if update_filter is not None:
        head.update_filter.CopyFrom(update_filter)
    if n == 0:
        return bytes(head.SerializeToString())
    if named is not None:
        return _named_request(head, ids, payloads, named)
    raw = rows.data.cast("B")
    prefix = dense_prefix(dimension)
    tag = varint(_numbers()["points"] << 3 | _LEN)
    cache = PayloadCache()
    size = 4 * dimension
    parts = [head.SerializeToString()]
    for i, (point_id, payload) in enumerate(zip(ids, payloads, strict=True)):
        point = cache.head(point_id, payload)
        length = len(point) + len(prefix) + size
        parts += (tag, varint(length), point, prefix, raw[i * size : (i + 1) * size])
    return b"".join(parts)


def _named_request(
    head: Any,
    ids: Sequence[int | str],
    payloads: Sequence[dict[str, Any]],
    named: Callable[[int], dict[str, bytes]],
) -> bytes:
    tag = varint(_numbers()["points"] << 3 | _LEN)
    cache = PayloadCache()
    parts = [head.SerializeToString()]
    for i, (point_id, payload) in enumerate(zip(ids, payloads, strict=True)):
        point = cache.head(point_id, payload) + named_vectors(named(i))
        parts += (tag, varint(len(point)), point)
    return b"".join(parts)
