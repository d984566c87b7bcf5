"""The blob codec: exact round trips, zero-copy decode, and every kind of damage detected."""

from __future__ import annotations

import struct
import zlib

import numpy as np
import pytest

from vecq.shared.errors import CorruptBlobError
from vecq.shared.points.columns import Columns
from vecq.shared.wire.codec import Batch, decode, encode, pack

UID = bytes(range(16))


def batch(n: int = 5, dim: int = 4, **extra: object) -> Batch:
    rng = np.random.default_rng(0)
    return Batch(
        np.arange(n, dtype=np.int64) * 7,
        rng.standard_normal((n, dim), dtype=np.float32),
        index="idx-a",
        index_uid=UID,
        shard=2,
        seq=99,
        **extra,
    )  # type: ignore[arg-type]


def test_round_trip_ids_and_vectors_exactly() -> None:
    """Header fields, ids and float32 vectors come back bit for bit."""
    b = batch()
    d = decode(encode(b))
    assert (d.index, d.index_uid, d.shard, d.seq) == ("idx-a", UID, 2, 99)
    np.testing.assert_array_equal(d.ids, b.ids)
    np.testing.assert_array_equal(d.vectors, b.vectors)
    assert d.items is None and d.metadata is None


def test_round_trip_items_and_metadata() -> None:
    """Items (including empty and absent ones) and metadata survive; None and b'' differ."""
    items = [b"abc", None, b"", b"\x00\xff" * 100, None]
    metadata = [{"a": 1, "b": "x", "c": 0.5, "d": True}, None, {}, None, {"z": -3}]
    d = decode(encode(batch(items=items, metadata=metadata)))
    assert d.items == items
    assert d.metadata == metadata


def test_decode_is_zero_copy() -> None:
    """Decoded ids and vectors are views into the blob, not copies."""
    blob = encode(batch(n=100, dim=16))
    d = decode(blob)
    assert not d.vectors.flags.owndata and not d.ids.flags.owndata
    assert np.shares_memory(d.vectors, np.frombuffer(blob, dtype=np.uint8))


def test_empty_batch_round_trips() -> None:
    """A zero-point batch encodes and decodes."""
    d = decode(encode(batch(n=0)))
    assert len(d) == 0 and d.vectors.shape == (0, 4)


@pytest.mark.parametrize("position", [0.1, 0.5, 0.99])
def test_flipped_byte_fails_checksum(position: float) -> None:
    """A single flipped bit anywhere after the checksum field is detected."""
    blob = bytearray(encode(batch(items=[b"x"] * 5)))
    at = 12 + int((len(blob) - 13) * position)
    blob[at] ^= 0x01
    with pytest.raises(CorruptBlobError, match="checksum"):
        decode(bytes(blob))


def test_truncated_blob_is_rejected() -> None:
    """A blob cut short is rejected, never read out of bounds."""
    blob = encode(batch())
    for cut in (10, 40, len(blob) - 1):
        with pytest.raises(CorruptBlobError):
            decode(blob[:cut])


def test_unknown_version_and_magic_are_rejected() -> None:
    """Another format version, or not a blob at all, is refused with a clear reason."""
    blob = bytearray(encode(batch()))
    struct.pack_into("<H", blob, 4, 99)
    with pytest.raises(CorruptBlobError, match="version 99"):
        decode(bytes(blob))
    with pytest.raises(CorruptBlobError, match="not a vecq blob"):
        decode(b"{" + bytes(80))


def test_version_1_blobs_with_zlib_crc_still_decode() -> None:
    """A blob a previous release queued (version 1, zlib CRC-32) is still read after an upgrade."""

    original = batch(n=8, dim=4)
    blob = bytearray(encode(original))
    struct.pack_into("<H", blob, 4, 1)
    struct.pack_into("<I", blob, 8, zlib.crc32(blob[12:]))
    d = decode(bytes(blob))
    np.testing.assert_array_equal(d.vectors, original.vectors)
    struct.pack_into("<I", blob, 8, zlib.crc32(blob[12:]) ^ 1)
    with pytest.raises(CorruptBlobError, match="checksum"):
        decode(bytes(blob))


@pytest.mark.parametrize("order", ["C", "F"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.float16, np.int32])
def test_pack_gathers_rows_of_any_dtype_and_order(dtype: type, order: str) -> None:
    """pack() encodes exactly the chosen rows, converted to float32, from any real array."""
    rng = np.random.default_rng(3)
    source = np.asarray(rng.standard_normal((50, 6)) * 100, dtype=dtype, order=order)
    ids = np.arange(1000, 1050, dtype=np.int64)
    rows = np.array([7, 3, 49, 0, 3], dtype=np.intp)
    d = decode(bytes(pack("idx", b"u" * 16, 2, 9, Columns(ids, source), rows)))
    np.testing.assert_array_equal(d.ids, ids[rows])
    np.testing.assert_array_equal(d.vectors, source[rows].astype(np.float32))
    assert (d.index, d.shard, d.seq) == ("idx", 2, 9)


def test_deletes_updates_and_string_ids_round_trip() -> None:
    """Version 3 carries the operation and string ids; a plain upsert stays version 2."""
    plain = encode(batch())
    assert struct.unpack_from("<H", plain, 4)[0] == 2
    names = ["doc-1", None, "ünï", None, "x" * 300]
    for op in ("upsert", "delete", "update"):
        dim = 4 if op == "upsert" else 0
        meta = [{"k": [1, {"n": None}]}] * 5 if op == "update" else None
        b = batch(dim=dim, names=names, op=op, metadata=meta)
        blob = encode(b)
        assert struct.unpack_from("<H", blob, 4)[0] == 3
        d = decode(blob)
        assert (d.op, d.names, d.metadata, d.vectors.shape) == (op, names, meta, (5, dim))
        np.testing.assert_array_equal(d.ids, b.ids)
    assert decode(encode(batch(op="delete", dim=0))).names is None


def test_an_unknown_operation_is_corrupt() -> None:
    """An operation code this version does not know is refused, not guessed."""
    blob = bytearray(encode(batch(op="delete", dim=0)))
    struct.pack_into("<I", blob, 28, 7)
    struct.pack_into("<I", blob, 8, _crc(blob))
    with pytest.raises(CorruptBlobError, match="unknown operation"):
        decode(bytes(blob))


def _crc(blob: bytearray) -> int:
    import crc32c

    return int(crc32c.crc32c(bytes(blob[12:])))
