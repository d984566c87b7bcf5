"""The blob's sections after the vectors (see ``codec.py`` for the layout): named-vector
columns, items and string ids, each 8-aligned where the next one needs it."""

from __future__ import annotations

import json
import struct
from collections.abc import Mapping, Sequence

import numpy as np

from vecq.shared.errors import CorruptBlobError
from vecq.shared.points.named_vectors import VectorColumn


def align8(size: int) -> int:
    return (size + 7) & ~7


def padded(data: bytes) -> bytes:
    return data + bytes(align8(len(data)) - len(data))


def encode_named(named: Mapping[str, VectorColumn], n: int) -> list[bytes]:
    described = []
    arrays: list[bytes] = []
    for name, column in named.items():
        if len(column) != n:
            raise ValueError(f"vector {name!r} has {len(column)} rows for {n} points")
        described.append(
            {
                "name": name,
                "kind": column.kind,
                "dim": column.dim,
                "size": int(column.values.size),
                "present": column.present is not None,
            }
        )
        if column.present is not None:
            arrays.append(padded(column.present.astype(np.uint8).tobytes()))
        if column.offsets is not None:
            arrays.append(column.offsets.astype("<i8").tobytes())
        if column.indices is not None:
            arrays.append(padded(column.indices.astype("<u4").tobytes()))
        arrays.append(padded(np.ascontiguousarray(column.values, dtype="<f4").tobytes()))
    head = json.dumps(described, separators=(",", ":")).encode()
    return [padded(struct.pack("<I", len(head)) + head), *arrays]


def decode_named(view: memoryview, pos: int, n: int) -> tuple[dict[str, VectorColumn], int]:
    try:
        (size,) = struct.unpack_from("<I", view, pos)
        described = json.loads(bytes(view[pos + 4 : pos + 4 + size]))
        pos = align8(pos + 4 + size)
        named = {}
        for d in described:
            kind, dim, count = d["kind"], int(d["dim"]), int(d["size"])
            present = offsets = indices = None
            if d["present"]:
                present = np.frombuffer(view, np.uint8, n, pos).astype(bool)
                pos = align8(pos + n)
            if kind != "dense":
                offsets = np.frombuffer(view, "<i8", n + 1, pos)
                pos += 8 * (n + 1)
            if kind == "sparse":
                indices = np.frombuffer(view, "<u4", count, pos)
                pos = align8(pos + 4 * count)
            values = np.frombuffer(view, "<f4", count, pos)
            pos = align8(pos + 4 * count)
            if kind != "sparse":
                values = values.reshape(-1, dim) if dim else values.reshape(-1, 0)
            column = VectorColumn(kind, dim, values, offsets, indices, present)
            if (
                kind not in ("dense", "multi", "sparse")
                or len(column) != n
                or (offsets is not None and (int(offsets[-1]) * max(dim, 1) != count))
            ):
                raise CorruptBlobError(f"blob vector {d['name']!r} does not fit its points")
            named[str(d["name"])] = column
    except (ValueError, KeyError, TypeError, struct.error) as exc:
        raise CorruptBlobError(f"blob named-vector section is damaged: {exc}") from None
    return named, pos


# An item offset with this bit set marks "no item" (distinct from an empty item).
_NO_ITEM = 1 << 63


def encode_items(items: Sequence[bytes | None], n: int) -> list[bytes]:
    if len(items) != n:
        raise ValueError(f"{len(items)} items for {n} points")
    offsets = np.zeros(n + 1, dtype="<u8")
    total = 0
    for i, item in enumerate(items):
        total += len(item) if item is not None else 0
        offsets[i + 1] = total
    missing = np.fromiter((item is None for item in items), dtype=bool, count=n)
    offsets[1:][missing] |= np.uint64(_NO_ITEM)
    return [offsets.tobytes(), b"".join(item for item in items if item is not None)]


def decode_items(view: memoryview, pos: int, n: int) -> tuple[list[bytes | None], int]:
    raw = np.frombuffer(view, dtype="<u8", count=n + 1, offset=pos)
    pos += 8 * (n + 1)
    missing = (raw & np.uint64(_NO_ITEM)) != 0
    ends = (raw & np.uint64(_NO_ITEM - 1)).astype(np.int64)
    data_len = int(ends[-1]) if n else 0
    if pos + data_len > len(view):
        raise CorruptBlobError("blob item section is truncated")
    items: list[bytes | None] = [
        None if missing[i + 1] else bytes(view[pos + ends[i] : pos + ends[i + 1]]) for i in range(n)
    ]
    return items, pos + data_len


def decode_names(view: memoryview, pos: int, n: int) -> tuple[list[str | None], int]:
    raw_names, pos = decode_items(view, pos, n)
    try:
        return [None if s is None else s.decode() for s in raw_names], pos
    except UnicodeDecodeError:
        raise CorruptBlobError("blob string ids are not UTF-8") from None
