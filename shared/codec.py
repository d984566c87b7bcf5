"""The claim-check blob: one shard batch, encoded once into compact, checksummed bytes.

Layout, little-endian, version ``shared.keys.BLOB_VERSION``::

    offset  size       field
    0       4          magic b"VQB\\x00"
    4       2          version
    6       2          flags (bit 0: items present, bit 1: metadata present)
    8       4          CRC-32 of every byte from offset 12 to the end
    12      4          header length H (bytes from 0 to the start of the ids, 8-aligned)
    16      4          n, number of points
    20      4          dim
    24      4          shard
    28      4          reserved (0)
    32      8          sequence number
    40      16         index uid
    56      2          length L of the UTF-8 index name, then the name, then zero padding to H
    H       8n         ids, int64
    H+8n    4n*dim     vectors, float32, row-major
    then, if items:    (n+1) uint64 offsets into the item bytes, then the item bytes
    then, if metadata: the metadata as one UTF-8 JSON array (an object or null per point)

Ids and vectors decode as zero-copy NumPy views of the blob. Vectors never become JSON.
"""

from __future__ import annotations

import json
import struct
import zlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from shared.errors import CorruptBlobError
from shared.keys import BLOB_VERSION

MAGIC = b"VQB\x00"
_FIXED = struct.Struct("<4sHHIIIIIIQ16sH")
_FLAG_ITEMS = 1
_FLAG_METADATA = 2

Metadata = dict[str, str | int | float | bool]


@dataclass(frozen=True)
class Batch:
    """One shard batch: what the producer encodes and a worker decodes."""

    index: str
    index_uid: bytes
    shard: int
    seq: int
    ids: npt.NDArray[np.int64]
    vectors: npt.NDArray[np.float32]
    items: Sequence[bytes | None] | None = None
    """Encrypted item bytes per point (``None`` where a point has no item)."""
    metadata: Sequence[Metadata | None] | None = None

    def __len__(self) -> int:
        return int(self.ids.shape[0])


def encode(batch: Batch) -> bytes:
    """Encode ``batch`` into one blob; the only copy made is the final join."""
    ids = np.ascontiguousarray(batch.ids, dtype="<i8")
    vectors = np.ascontiguousarray(batch.vectors, dtype="<f4")
    n, dim = vectors.shape
    if ids.shape != (n,):
        raise ValueError(f"ids shape {ids.shape} does not match {n} vectors")
    name = batch.index.encode()
    uid = batch.index_uid.ljust(16, b"\x00")[:16]
    header_len = _align8(_FIXED.size + len(name))
    flags = 0
    body: list[bytes | memoryview] = [ids.data, vectors.data]
    if batch.items is not None:
        flags |= _FLAG_ITEMS
        body.extend(_encode_items(batch.items, n))
    if batch.metadata is not None:
        flags |= _FLAG_METADATA
        body.append(json.dumps(list(batch.metadata), separators=(",", ":")).encode())
    fixed = _FIXED.pack(
        MAGIC, BLOB_VERSION, flags, 0, header_len, n, dim, batch.shard, 0, batch.seq, uid, len(name)
    )
    head = fixed + name + b"\x00" * (header_len - len(fixed) - len(name))
    crc = zlib.crc32(head[12:])
    for part in body:
        crc = zlib.crc32(part, crc)
    return b"".join([head[:8], struct.pack("<I", crc), head[12:], *body])


def decode(blob: bytes | memoryview) -> Batch:
    """Decode and verify a blob; raise :class:`CorruptBlobError` if it is not intact."""
    view = memoryview(blob)
    if len(view) < _FIXED.size:
        raise CorruptBlobError(f"blob is {len(view)} bytes, shorter than its header")
    (magic, version, flags, crc, header_len, n, dim, shard, _r, seq, uid, name_len) = (
        _FIXED.unpack_from(view)
    )
    if magic != MAGIC:
        raise CorruptBlobError(f"not a vecq blob (magic {bytes(magic)!r})")
    if version != BLOB_VERSION:
        raise CorruptBlobError(f"blob version {version}, this vecq reads {BLOB_VERSION}")
    if zlib.crc32(view[12:]) != crc:
        raise CorruptBlobError("blob checksum mismatch: the batch was corrupted in transit")
    if header_len < _FIXED.size + name_len or len(view) < header_len + 8 * n + 4 * n * dim:
        raise CorruptBlobError(f"blob of {len(view)} bytes is too short for {n}x{dim} vectors")
    name = bytes(view[_FIXED.size : _FIXED.size + name_len]).decode()
    pos = header_len
    ids = np.frombuffer(view, dtype="<i8", count=n, offset=pos)
    pos += 8 * n
    vectors = np.frombuffer(view, dtype="<f4", count=n * dim, offset=pos).reshape(n, dim)
    pos += 4 * n * dim
    items: list[bytes | None] | None = None
    if flags & _FLAG_ITEMS:
        items, pos = _decode_items(view, pos, n)
    metadata: list[Metadata | None] | None = None
    if flags & _FLAG_METADATA:
        metadata = json.loads(bytes(view[pos:]))
        if not isinstance(metadata, list) or len(metadata) != n:
            raise CorruptBlobError("blob metadata section does not hold one entry per point")
    return Batch(name, bytes(uid), shard, seq, ids, vectors, items, metadata)


def _align8(size: int) -> int:
    return (size + 7) & ~7


# An item offset with this bit set marks "no item" (distinct from an empty item).
_NO_ITEM = 1 << 63


def _encode_items(items: Sequence[bytes | None], n: int) -> list[bytes]:
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


def _decode_items(view: memoryview, pos: int, n: int) -> tuple[list[bytes | None], int]:
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
