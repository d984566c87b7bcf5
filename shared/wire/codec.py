"""The claim-check blob: one shard batch, encoded once into compact, checksummed bytes.

Layout, little-endian, version ``vecq.shared.keys.BLOB_VERSION``::

    offset  size       field
    0       4          magic b"VQB\\x00"
    4       2          version (2 for a plain upsert, 4 with named vectors, else 3)
    6       2          flags (bit 0: items, bit 1: metadata, bit 2: string ids present,
                       bit 3: named vectors)
    8       4          CRC-32C of every byte from offset 12 to the end (version 1: zlib's CRC-32)
    12      4          header length H (bytes from 0 to the start of the ids, 8-aligned)
    16      4          n, number of points
    20      4          dim
    24      4          shard
    28      4          operation: 0 upsert, 1 delete, 2 metadata update (version 3; 0 before)
    32      8          sequence number
    40      16         index uid
    56      2          length L of the UTF-8 index name, then the name, then zero padding to H
    H       8n         ids, int64
    H+8n    4n*dim     vectors, float32, row-major (dim is 0 for a delete or an update, and
                       for an index of named vectors)
    then, if named:    4 bytes: length D of a JSON list describing each named column
                       ``{"name", "kind", "dim", "size", "present"}``, the list, zero padding
                       to 8; then per column: if ``present``, n bytes (0/1) padded to 8;
                       for multi and sparse, (n+1) int64 offsets; for sparse, ``size`` uint32
                       indices padded to 8; then ``size`` float32 values padded to 8
                       (``size`` counts values: n*dim, rows*dim or nonzeros)
    then, if items:    (n+1) uint64 offsets into the item bytes, then the item bytes
    then, if strings:  the same for the UTF-8 string ids (absent for an integer id)
    then, if metadata: the metadata as one UTF-8 JSON array (an object or null per point;
                       for an update, the keys to merge)

The ids section holds each id's 63-bit key (``shared/points/ids.py``): the integer id, or the
key of a string id, whose text follows in the strings section.

The producer gathers each shard's rows straight into the blob buffer (one copy of the
vectors, then one checksum pass); ids and vectors decode as zero-copy NumPy views of the
blob. Vectors never become JSON. CRC-32C is computed in hardware where the CPU has it
(about 7x faster than zlib's CRC-32 here), which is why version 2 switched to it. Version 3
added the operation and string ids; a plain upsert of integer ids is still written as
version 2, so workers of the previous release keep reading it during a rolling upgrade.
Version 4 added named vectors (``shared/points/named_vectors.py``): only an index of named
vectors writes it, so every other index's blobs stay readable by version-3 workers.
"""

from __future__ import annotations

import json
import struct
import zlib
from dataclasses import dataclass
from typing import Any

import crc32c
import numpy as np
import numpy.typing as npt

from vecq.shared.errors import CorruptBlobError
from vecq.shared.keys import BLOB_VERSION
from vecq.shared.points.columns import Columns
from vecq.shared.points.metadata import Metadata
from vecq.shared.wire import sections

MAGIC = b"VQB\x00"
_FIXED = struct.Struct("<4sHHIIIIIIQ16sH")
_FLAG_ITEMS = 1
_FLAG_METADATA = 2
_FLAG_NAMES = 4
_FLAG_NAMED = 8
# The version of a plain upsert of integer ids (the layout before operations and strings).
PLAIN_VERSION = 2
# The version that added operations and string ids.
OPS_VERSION = 3
# Versions this code decodes: 1 differs from 2 only in its checksum (zlib's CRC-32).
_READABLE = frozenset({1, PLAIN_VERSION, OPS_VERSION, BLOB_VERSION})
OPS = ("upsert", "delete", "update")


@dataclass(frozen=True, kw_only=True)
class Batch(Columns):
    """One shard batch: what the producer encodes and a worker decodes (its columns, and
    which index, shard and sequence number they belong to)."""

    index: str
    index_uid: bytes
    shard: int
    seq: int
    op: str = "upsert"
    """``upsert``, ``delete`` or ``update`` (merge ``metadata`` into stored points)."""


def encode(batch: Batch) -> bytes:
    """Encode ``batch`` into one blob."""
    return bytes(pack(batch.index, batch.index_uid, batch.shard, batch.seq, batch, op=batch.op))


def pack(
    index: str,
    index_uid: bytes,
    shard: int,
    seq: int,
    columns: Columns,
    rows: npt.NDArray[np.intp] | None = None,
    *,
    op: str = "upsert",
) -> bytearray:
    """Encode the given ``rows`` of ``columns`` (all rows if ``None``) into a blob.

    The vectors of those rows are gathered straight into the blob buffer, converted to
    float32 on the way (they may be any real dtype and memory order), so they are copied
    once. Returns the buffer; send it as ``memoryview(buffer)`` to avoid another copy.
    """
    chosen = columns if rows is None else columns.select(rows, arrays=("ids", "named"))
    ids, vectors = chosen.ids, columns.vectors
    items, metadata, names = chosen.items, chosen.metadata, chosen.names
    n = int(ids.shape[0])
    dim = int(vectors.shape[1])
    if (rows is None and vectors.shape[0] != n) or vectors.ndim != 2:
        raise ValueError(f"ids shape {ids.shape} does not match vectors shape {vectors.shape}")
    name = index.encode()
    uid = index_uid.ljust(16, b"\x00")[:16]
    header_len = sections.align8(_FIXED.size + len(name))
    flags = 0
    tail: list[bytes] = []
    if chosen.named is not None:
        flags |= _FLAG_NAMED
        tail.extend(sections.encode_named(chosen.named, n))
    if items is not None:
        flags |= _FLAG_ITEMS
        tail.extend(sections.encode_items(items, n))
    if names is not None:
        flags |= _FLAG_NAMES
        tail.extend(sections.encode_items([None if s is None else s.encode() for s in names], n))
    if metadata is not None:
        flags |= _FLAG_METADATA
        tail.append(json.dumps(list(metadata), separators=(",", ":")).encode())
    vectors_at = header_len + 8 * n
    tail_at = vectors_at + 4 * n * dim
    buf = bytearray(tail_at + sum(len(part) for part in tail))
    code = OPS.index(op)
    if chosen.named is not None:
        version = BLOB_VERSION
    else:
        version = PLAIN_VERSION if code == 0 and names is None else OPS_VERSION
    _FIXED.pack_into(
        buf, 0, MAGIC, version, flags, 0, header_len, n, dim, shard, code, seq, uid, len(name)
    )
    buf[_FIXED.size : _FIXED.size + len(name)] = name
    np.frombuffer(buf, dtype="<i8", count=n, offset=header_len)[:] = ids
    out = np.frombuffer(buf, dtype="<f4", count=n * dim, offset=vectors_at).reshape(n, dim)
    _gather(vectors, rows, out)
    pos = tail_at
    for part in tail:
        buf[pos : pos + len(part)] = part
        pos += len(part)
    struct.pack_into("<I", buf, 8, checksum(memoryview(buf)[12:]))
    return buf


def _gather(
    vectors: npt.NDArray[Any], rows: npt.NDArray[np.intp] | None, out: npt.NDArray[np.float32]
) -> None:
    """Copy ``vectors[rows]`` into ``out`` as float32 with a single pass where NumPy allows."""
    with np.errstate(over="ignore", invalid="ignore"):
        if rows is None:
            out[...] = vectors
        elif vectors.dtype == np.float32 and vectors.flags.c_contiguous:
            # mode="clip": with the default "raise", NumPy gathers into a temporary and copies
            # that into ``out`` (4x slower here); the planner's rows are always in range.
            np.take(vectors, rows, axis=0, out=out, mode="clip")
        else:
            out[...] = vectors[rows]


def checksum(data: memoryview, version: int = BLOB_VERSION) -> int:
    """The checksum a blob of ``version`` carries over ``data`` (its bytes from offset 12)."""
    if version == 1:
        return zlib.crc32(data)
    return int(crc32c.crc32c(data))


def decode(blob: bytes | memoryview) -> Batch:
    """Decode and verify a blob; raise :class:`CorruptBlobError` if it is not intact."""
    view = memoryview(blob)
    if len(view) < _FIXED.size:
        raise CorruptBlobError(f"blob is {len(view)} bytes, shorter than its header")
    (magic, version, flags, crc, header_len, n, dim, shard, code, seq, uid, name_len) = (
        _FIXED.unpack_from(view)
    )
    _check_head(view, magic, version, crc)
    if header_len < _FIXED.size + name_len or len(view) < header_len + 8 * n + 4 * n * dim:
        raise CorruptBlobError(f"blob of {len(view)} bytes is too short for {n}x{dim} vectors")
    if code >= len(OPS) or (version < OPS_VERSION and code):
        raise CorruptBlobError(f"blob names an unknown operation ({code})")
    name = bytes(view[_FIXED.size : _FIXED.size + name_len]).decode()
    pos = header_len
    ids = np.frombuffer(view, dtype="<i8", count=n, offset=pos)
    pos += 8 * n
    vectors = np.frombuffer(view, dtype="<f4", count=n * dim, offset=pos).reshape(n, dim)
    pos += 4 * n * dim
    named = None
    if flags & _FLAG_NAMED:
        if version < BLOB_VERSION:
            raise CorruptBlobError(f"a version {version} blob cannot carry named vectors")
        named, pos = sections.decode_named(view, pos, n)
    items: list[bytes | None] | None = None
    if flags & _FLAG_ITEMS:
        items, pos = sections.decode_items(view, pos, n)
    names: list[str | None] | None = None
    if flags & _FLAG_NAMES:
        names, pos = sections.decode_names(view, pos, n)
    metadata: list[Metadata | None] | None = None
    if flags & _FLAG_METADATA:
        metadata = json.loads(bytes(view[pos:]))
        if not isinstance(metadata, list) or len(metadata) != n:
            raise CorruptBlobError("blob metadata section does not hold one entry per point")
    return Batch(
        ids,
        vectors,
        items,
        metadata,
        names,
        named,
        index=name,
        index_uid=bytes(uid),
        shard=shard,
        seq=seq,
        op=OPS[code],
    )


def _check_head(view: memoryview, magic: bytes, version: int, crc: int) -> None:
    if magic != MAGIC:
        raise CorruptBlobError(f"not a vecq blob (magic {bytes(magic)!r})")
    if version not in _READABLE:
        raise CorruptBlobError(f"blob version {version}, this vecq reads {sorted(_READABLE)}")
    if checksum(view[12:], version) != crc:
        raise CorruptBlobError("blob checksum mismatch: the batch was corrupted in transit")


def operation(head: bytes) -> int:
    """The operation code in a blob's header (0 for a header too short or of an old version)."""
    if len(head) < _FIXED.size or head[:4] != MAGIC:
        return 0
    fields = _FIXED.unpack_from(head)
    code = int(fields[8]) if fields[1] >= OPS_VERSION else 0
    return code if code < len(OPS) else 0
