"""Named vector columns: select, concat, the blob's version 4, gRPC framing, service replies."""

from __future__ import annotations

import struct
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from qdrant_client import grpc as pb
from qdrant_client import models
from qdrant_client.conversions.conversion import RestToGrpc

from vecq.shared.engines import StoredPoint, Write, grpc_wire
from vecq.shared.errors import CorruptBlobError
from vecq.shared.keys import BLOB_VERSION
from vecq.shared.points import named_input, named_vectors
from vecq.shared.points.columns import Columns
from vecq.shared.points.named_vectors import sparse_ok
from vecq.shared.points.vector_schema import Schema, SparseSpec, VectorSpec
from vecq.shared.wire import service_protocol
from vecq.shared.wire.codec import PLAIN_VERSION, Batch, decode, encode, pack

SCHEMA = Schema({"d": VectorSpec(3), "m": VectorSpec(2, multivector=True)}, {"s": SparseSpec()})
IDS = list(range(5))


def columns() -> dict[str, named_vectors.VectorColumn]:
    """Five points: dense on all but row 2, a multivector of 1-3 rows on even rows, sparse on
    rows 1, 3 (row 3 empty)."""
    dense = [None if i == 2 else [i, i + 0.5, -i] for i in range(5)]
    multi = [[[i, -i]] * (i % 3 + 1) if i % 2 == 0 else None for i in range(5)]
    sparse = [None, ([9, 2], [1.0, 2.0]), None, ([], []), None]
    return {
        "d": named_input.build("d", SCHEMA.dense["d"], dense, IDS),
        "m": named_input.build("m", SCHEMA.dense["m"], multi, IDS),
        "s": named_input.build("s", SCHEMA.sparse["s"], sparse, IDS),
    }


def rows(named: Any) -> list[dict[str, Any]]:
    """Each point's vectors as plain lists (what it carries only)."""
    out = []
    for i in range(len(next(iter(named.values())))):
        point = {}
        for name, column in named.items():
            if column.has(i):
                value = column.row(i)
                point[name] = (
                    [v.tolist() for v in value] if isinstance(value, tuple) else value.tolist()
                )
        out.append(point)
    return out


def test_select_and_concat_keep_each_points_vectors() -> None:
    named = columns()
    whole = rows(named)
    picked = named_vectors.select(named, np.array([4, 1, 3]))
    assert rows(picked) == [whole[4], whole[1], whole[3]]
    assert rows(named_vectors.select(named, slice(1, 3))) == whole[1:3]
    joined = named_vectors.concat([picked, None, {"d": named["d"].select(slice(0, 1))}], [3, 2, 1])
    assert rows(joined) == [whole[4], whole[1], whole[3], {}, {}, {"d": whole[0]["d"]}]


def test_columns_carry_named_vectors_through_select_and_concat() -> None:
    named = columns()
    cols = Columns(np.arange(5, dtype=np.int64), np.empty((5, 0), np.float32), named=named)
    picked = cols.select(np.array([3, 0]))
    assert rows(picked.named) == [rows(named)[3], rows(named)[0]]
    assert rows(Columns.concat([picked, cols.select(slice(1, 2))]).named) == [
        rows(named)[3],
        rows(named)[0],
        rows(named)[1],
    ]


def _batch(named: Any, n: int = 5) -> Batch:
    return Batch(
        np.arange(n, dtype=np.int64),
        np.empty((n, 0), np.float32),
        named=named,
        metadata=[{"k": i} for i in range(n)],
        index="ix",
        index_uid=b"u" * 16,
        shard=1,
        seq=9,
    )


def test_a_blob_of_named_vectors_round_trips_as_version_4() -> None:
    blob = encode(_batch(columns()))
    assert struct.unpack_from("<H", blob, 4)[0] == BLOB_VERSION == 4
    back = decode(blob)
    assert rows(back.named) == rows(columns())
    assert back.metadata == [{"k": i} for i in range(5)]
    named_vectors.check(back.named, SCHEMA, IDS, 5)


def test_pack_of_some_rows_carries_their_named_vectors() -> None:
    back = decode(bytes(pack("ix", b"u" * 16, 0, 1, _batch(columns()), np.array([3, 1]))))
    assert rows(back.named) == [rows(columns())[3], rows(columns())[1]]


def test_a_plain_upsert_is_still_version_2_for_older_workers() -> None:
    plain = Batch(
        np.arange(2, dtype=np.int64),
        np.ones((2, 3), np.float32),
        index="ix",
        index_uid=b"u" * 16,
        shard=0,
        seq=1,
    )
    assert struct.unpack_from("<H", encode(plain), 4)[0] == PLAIN_VERSION


def test_a_damaged_named_section_is_corrupt_not_a_crash() -> None:
    blob = bytearray(encode(_batch(columns())))
    start = blob.index(b'[{"name"')
    blob[start + 2 : start + 6] = b"nope"  # JSON no more
    from vecq.shared.wire import codec

    struct.pack_into("<I", blob, 8, codec.checksum(memoryview(blob)[12:]))
    with pytest.raises(CorruptBlobError, match="named-vector section"):
        decode(bytes(blob))


def test_the_worker_check_catches_a_column_the_schema_lacks() -> None:
    other = Schema({"d": VectorSpec(4)}, {})
    with pytest.raises(ValueError, match="has 3 dimensions, the index expects 4"):
        named_vectors.check({"d": columns()["d"]}, other, IDS, 5)
    with pytest.raises(ValueError, match="vector 's', which the index has not"):
        named_vectors.check({"s": columns()["s"]}, other, IDS, 5)


def test_grpc_frame_of_named_vectors_parses_as_qdrant_clients_own_request() -> None:
    named = columns()
    ids = [1, 2, 3, 4, 5]
    payloads = [{"_vecq_seq": 3}] * 5
    write = Write(ids, np.empty((5, 0), np.float32), payloads, np.full(5, 3), named)
    body = grpc_wire.upsert_request(
        "c",
        ids,
        write.vectors,
        payloads,
        named=write.point_vectors(grpc_wire.named_vector).__getitem__,
    )
    ours = pb.UpsertPoints.FromString(body)
    structs = []
    for i, point in enumerate(rows(named)):
        vector: dict[str, Any] = {}
        for name, value in point.items():
            kind = named[name].kind
            vector[name] = (
                models.SparseVector(indices=value[0], values=value[1])
                if kind == "sparse"
                else value
            )
        structs.append(models.PointStruct(id=ids[i], vector=vector, payload=payloads[i]))
    converted = [RestToGrpc.convert_point_struct(p) for p in structs]
    reference = pb.UpsertPoints(collection_name="c", wait=True, points=converted)
    assert ours == reference


def test_a_service_reply_carries_named_vectors_as_raw_floats() -> None:
    point = StoredPoint(
        7,
        {
            "d": [1.0, 2.0, 3.0],
            "m": [[1.0, 2.0], [3.0, 4.0]],
            "s": {"indices": [2, 2**32 - 1], "values": [0.5, 1.0]},
        },
        {"k": 1},
    )
    plain = StoredPoint("u", [0.25, 0.5], {})
    raw = service_protocol.reply(None, [point, plain])
    assert b"0.5" not in raw  # no vector value travels as JSON text
    _, points = service_protocol.parse_reply(raw)
    assert points == [(7, point.vector, {"k": 1}), ("u", [0.25, 0.5], {})]


def test_the_worker_check_names_the_row_of_a_repeated_sparse_index() -> None:
    column = named_vectors.VectorColumn(
        "sparse",
        0,
        np.ones(5, np.float32),
        np.array([0, 2, 2, 5]),
        np.array([4, 1, 7, 3, 7], np.uint32),
    )
    with pytest.raises(ValueError, match=r"row 2 \(id 2\): vector 's' repeats an index"):
        named_vectors.check({"s": column}, SCHEMA, IDS, 3)
    named_vectors.check(
        {"s": named_input.build("s", SparseSpec(), [([4, 1], [1, 2])], IDS)}, SCHEMA, IDS, 1
    )


@settings(max_examples=300, deadline=None)
@given(st.lists(st.lists(st.integers(0, 6), max_size=5), max_size=8), st.booleans())
def test_sparse_rows_are_accepted_exactly_when_no_row_repeats_an_index(
    rows: list[list[int]], sort: bool
) -> None:
    """The whole-column check agrees with a row-by-row one, sorted rows (its fast path:
    falls only at row boundaries) and unsorted ones alike."""
    rows = [sorted(r) for r in rows] if sort else rows
    indices = np.array([i for r in rows for i in r], dtype=np.uint32)
    sizes = np.array([len(r) for r in rows], dtype=np.int64)
    values = np.ones(indices.size, dtype=np.float32)
    expected = all(len(set(r)) == len(r) for r in rows)
    assert sparse_ok(indices, values, sizes) == expected
