"""The hand-framed gRPC upsert parses, with protobuf itself, as what qdrant-client would send."""

from __future__ import annotations

import base64
from typing import Any

import numpy as np
import pytest
from qdrant_client import grpc as pb
from qdrant_client import models
from qdrant_client.conversions.conversion import RestToGrpc

from vecq.shared import keys
from vecq.shared.engines import grpc_wire


def _reference(
    collection: str,
    ids: list[Any],
    vectors: np.ndarray,
    payloads: list[dict[str, Any]],
    update_filter: Any,
) -> Any:
    """The request qdrant-client's own gRPC path builds from the same points."""
    batch = models.Batch(
        ids=ids, vectors=np.asarray(vectors, np.float32).tolist(), payloads=payloads
    )
    dense = RestToGrpc.convert_batch_vector_struct(batch.vectors, len(ids))
    points = [
        pb.PointStruct(
            id=RestToGrpc.convert_extended_point_id(i),
            vectors=v,
            payload=RestToGrpc.convert_payload(p),
        )
        for i, v, p in zip(batch.ids, dense, payloads, strict=True)
    ]
    return pb.UpsertPoints(
        collection_name=collection, wait=True, points=points, update_filter=update_filter
    )


def _older(seq: int) -> Any:
    return RestToGrpc.convert_filter(
        models.Filter(
            must=[models.FieldCondition(key=keys.PAYLOAD_SEQ, range=models.Range(lt=seq))]
        )
    )


def test_a_plain_batch_parses_as_qdrant_clients_own_request(make_vectors: Any) -> None:
    """Integer ids, one sequence number, a conditional filter: equal message for message."""
    vectors = make_vectors(300, 768)
    ids = list(range(10, 310))
    payloads = [{keys.PAYLOAD_SEQ: 7} for _ in ids]
    raw = grpc_wire.upsert_request("c", ids, vectors, payloads, _older(7))
    parsed = pb.UpsertPoints.FromString(raw)
    assert parsed == _reference("c", ids, vectors, payloads, _older(7))
    assert list(parsed.points[5].vectors.vector.dense.data) == pytest.approx(vectors[5].tolist())


def test_mixed_ids_and_payloads_parse_as_qdrant_clients_own_request(make_vectors: Any) -> None:
    """UUID ids, metadata of every JSON shape, items, several sequence numbers, bools vs ints."""
    vectors = make_vectors(6, 5)
    ids: list[Any] = [1, "6f1c5f8e-8f0a-5b9e-9a55-0e0b3f0c2d11", 2**63 - 1, 0, 5, 6]
    item = base64.b64encode(b"\x00secret").decode()
    payloads: list[dict[str, Any]] = [
        {keys.PAYLOAD_SEQ: 3},
        {keys.PAYLOAD_SEQ: 3, keys.PAYLOAD_ID: "doc-1", "lang": "en"},
        {keys.PAYLOAD_SEQ: 4, "nested": {"a": [1, 2.5, None, {"b": True}]}, "empty": []},
        {keys.PAYLOAD_SEQ: 4, "flag": True, keys.PAYLOAD_ITEM: item},
        {keys.PAYLOAD_SEQ: 4, "flag": 1},  # equal to True in Python, not in Qdrant
        {keys.PAYLOAD_SEQ: 4, "x": None, "when": "2026-12-03T10:00:00Z", "f": -0.0},
    ]
    raw = grpc_wire.upsert_request("c", ids, vectors, payloads, None)
    parsed = pb.UpsertPoints.FromString(raw)
    assert parsed == _reference("c", ids, vectors, payloads, None)
    assert parsed.points[4].payload["flag"].integer_value == 1
    assert parsed.points[3].payload["flag"].bool_value is True


def test_any_array_layout_is_sent_as_its_float32_rows(make_vectors: Any) -> None:
    """Fortran order, a strided view and big-endian floats all become little-endian rows."""
    base = make_vectors(8, 12)
    for vectors in (np.asfortranarray(base), base[::2], base.astype(">f4")):
        ids = list(range(len(vectors)))
        payloads = [{keys.PAYLOAD_SEQ: 1}] * len(ids)
        parsed = pb.UpsertPoints.FromString(grpc_wire.upsert_request("c", ids, vectors, payloads))
        got = np.array([p.vectors.vector.dense.data for p in parsed.points], dtype=np.float32)
        assert np.array_equal(got, np.asarray(vectors, dtype=np.float32))


def test_lengths_that_do_not_match_are_refused(make_vectors: Any) -> None:
    """Ids, vectors and payloads of different lengths are a ValueError, not a skewed request."""
    with pytest.raises(ValueError, match="2 ids, 3 vectors"):
        grpc_wire.upsert_request("c", [1, 2], make_vectors(3, 4), [{}, {}, {}])


def test_an_empty_request_is_only_its_header() -> None:
    """No points: the collection name and wait flag, nothing else."""
    raw = grpc_wire.upsert_request("c", [], np.zeros((0, 4), np.float32), [])
    assert pb.UpsertPoints.FromString(raw) == pb.UpsertPoints(collection_name="c", wait=True)


@pytest.mark.parametrize("value", [0, 1, 127, 128, 300, 2**32, 2**63 - 1])
def test_varints_decode_as_protobuf_reads_them(value: int) -> None:
    """The frame's varints are protobuf's: a PointId with ``num`` round-trips each value."""
    raw = grpc_wire.varint(1 << 3) + grpc_wire.varint(value)  # field 1 (num), wire type 0
    assert pb.PointId.FromString(raw).num == value
