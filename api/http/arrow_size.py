"""How many bytes an Arrow IPC stream unpacks to, read from its messages before pyarrow
decodes any: a stream's buffers may be compressed (LZ4, ZSTD), and a few KiB of them may
claim a GiB. Each record batch message's metadata (a flatbuffer) lists its buffers; a
compressed buffer starts with its uncompressed length (``-1``: stored as it is). Only the
fields needed are read, as the Arrow format (Message.fbs, Schema.fbs) lays them out.
"""

from __future__ import annotations

import struct

# Message.header_type values that carry buffers: DictionaryBatch and RecordBatch.
_DICTIONARY_BATCH, _RECORD_BATCH = 2, 3


def unpacked_size(body: bytes) -> int:
    """The bytes the record batches of the IPC stream ``body`` hold once decompressed.

    Raises ``ValueError`` for a stream whose messages cannot be walked.
    """
    import pyarrow as pa

    total = 0
    for message in pa.ipc.MessageReader.open_stream(body):
        meta = message.metadata.to_pybytes()
        batch = _batch_table(meta)
        if batch is None:
            continue
        data = message.body.to_pybytes() if message.body is not None else b""
        total += _batch_bytes(meta, batch, data)
    return total


def _u32(buf: bytes, at: int) -> int:
    return int(struct.unpack_from("<I", buf, at)[0])


def _table(buf: bytes, at: int) -> tuple[int, list[int]]:
    """A flatbuffer table at ``at``: its position and its fields' offsets (0: absent)."""
    vtable = at - int(struct.unpack_from("<i", buf, at)[0])
    size = int(struct.unpack_from("<H", buf, vtable)[0])
    return at, [
        int(struct.unpack_from("<H", buf, vtable + 4 + 2 * i)[0]) for i in range((size - 4) // 2)
    ]


def _field(table: tuple[int, list[int]], index: int) -> int | None:
    at, fields = table
    return at + fields[index] if index < len(fields) and fields[index] else None


def _child(buf: bytes, table: tuple[int, list[int]], index: int) -> tuple[int, list[int]] | None:
    where = _field(table, index)
    return None if where is None else _table(buf, where + _u32(buf, where))


def _batch_table(meta: bytes) -> tuple[int, list[int]] | None:
    """The RecordBatch table of a message (a dictionary batch's data), or ``None``."""
    message = _table(meta, _u32(meta, 0))
    kind_at = _field(message, 1)  # header_type
    kind = meta[kind_at] if kind_at is not None else 0
    header = _child(meta, message, 2)
    if header is None or kind not in (_DICTIONARY_BATCH, _RECORD_BATCH):
        return None
    return header if kind == _RECORD_BATCH else _child(meta, header, 1)


def _batch_bytes(meta: bytes, batch: tuple[int, list[int]], data: bytes) -> int:
    """The sum of a record batch's buffers, each at its uncompressed length if compressed."""
    buffers_at = _field(batch, 2)
    if buffers_at is None:
        return 0
    vector = buffers_at + _u32(meta, buffers_at)
    count = _u32(meta, vector)
    compressed = _field(batch, 3) is not None
    total = 0
    for i in range(count):
        offset, length = struct.unpack_from("<qq", meta, vector + 4 + 16 * i)
        if compressed and length >= 8:
            (unpacked,) = struct.unpack_from("<q", data, offset)
            total += length - 8 if unpacked < 0 else unpacked
        else:
            total += length
    return int(total)
