"""Named dense, sparse and multi-vectors: the schema, every upsert form, the rules, read-back.

Each test writes through a real worker into a real engine (Edge, and local mode for a
server's client calls) and reads back with the engine library's own API.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from tests.support.engines import held_points
from tests.support.named import SCHEMA, SPARSE
from vecq import Client, Index, SparseSpec, VectorSpec
from vecq.shared import keys

pytestmark = pytest.mark.engines("edge", "local")


def held(index: Index) -> dict[Any, Any]:
    """caller id -> the point's vectors, as the engine library itself returns them."""
    out = {}
    for point_id, vector, payload in held_points(index.session.engine, index.info):
        out[payload.get(keys.PAYLOAD_ID, point_id)] = vector
    return out


def test_every_shape_is_written_and_read_back_exactly(hybrid: Callable[..., Index]) -> None:
    index = hybrid()
    index.upsert(
        [
            {
                "id": 1,
                "vector": {
                    "text": [1, 2, 3, 4],
                    "image": [0.5, 0.25, 0.125],
                    "colbert": [[1, 2], [3, 4], [5, 6]],
                    "bm25": {"indices": [7, 3], "values": [0.5, 1.5]},
                },
                "metadata": {"lang": "en"},
            },
            ("doc-a", {"splade": ([2**32 - 1, 0], [1.0, 2.0])}),
        ]
    )
    stored = held(index)
    assert stored[1] == {
        "text": [1, 2, 3, 4],
        "image": [0.5, 0.25, 0.125],
        "colbert": [[1, 2], [3, 4], [5, 6]],
        "bm25": ([3, 7], [1.5, 0.5]),
    }
    assert stored["doc-a"] == {"splade": ([0, 2**32 - 1], [2.0, 1.0])}
    got = {p["id"]: p for p in index.get([1, "doc-a"])}
    assert got[1]["vector"]["bm25"] == {"indices": [3, 7], "values": [1.5, 0.5]}
    assert got[1]["vector"]["colbert"] == [[1, 2], [3, 4], [5, 6]]
    assert got[1]["metadata"] == {"lang": "en"}
    assert got["doc-a"]["vector"] == {"splade": {"indices": [0, 2**32 - 1], "values": [2, 1]}}


def test_the_numpy_form_takes_a_column_per_name(hybrid: Callable[..., Index]) -> None:
    index = hybrid()
    n = 50
    rng = np.random.default_rng(1)
    text = rng.standard_normal((n, 4)).astype(np.float32)
    colbert = [rng.standard_normal((i % 4 + 1, 2)).astype(np.float32) for i in range(n)]
    bm25 = [(np.array([i, i + 10]), np.array([1.0, float(i)])) if i % 2 else None for i in range(n)]
    index.upsert(
        np.arange(n),
        {"text": text, "colbert": colbert, "bm25": bm25},
        metadata=[{"i": i} for i in range(n)],
    )
    stored = held(index)
    assert len(stored) == n
    for i in range(n):
        assert np.allclose(stored[i]["text"], text[i])
        assert np.allclose(stored[i]["colbert"], colbert[i])
        if i % 2:
            assert stored[i]["bm25"] == ([i, i + 10], [1.0, float(i)])
        else:
            assert "bm25" not in stored[i]  # left out, as Qdrant allows
        assert "image" not in stored[i]


def test_a_scipy_csr_matrix_is_a_sparse_column(hybrid: Callable[..., Index]) -> None:
    sparse = pytest.importorskip("scipy.sparse")
    index = hybrid()
    matrix = sparse.csr_matrix(np.array([[0, 2.0, 0, 1.0], [0, 0, 0, 0], [3.0, 0, 0, 0]]))
    index.upsert(["a", "b", "c"], {"splade": matrix, "text": np.ones((3, 4))})
    stored = held(index)
    assert stored["a"]["splade"] == ([1, 3], [2.0, 1.0])
    assert stored["b"]["splade"] == ([], [])  # an empty sparse vector is still a vector
    assert stored["c"]["splade"] == ([0], [3.0])


def test_a_newer_call_replaces_every_vector_of_a_point(hybrid: Callable[..., Index]) -> None:
    index = hybrid()
    index.upsert([{"id": 5, "vector": {"text": [1, 1, 1, 1], "bm25": ([1], [1.0])}}])
    index.upsert([{"id": 5, "vector": {"image": [2, 2, 2]}}])
    assert held(index)[5] == {"image": [2, 2, 2]}  # an upsert replaces the whole point
    index.delete([5])
    assert index.count() == 0


def test_an_index_describes_its_vectors(
    hybrid: Callable[..., Index], client: Client, key: bytes
) -> None:
    index = hybrid()
    loaded = client.load_index(index.name, key)
    assert loaded.vectors == {**SCHEMA, **SPARSE}
    assert loaded.vectors["colbert"] == VectorSpec(2, "dot", multivector=True)
    assert loaded.dimension == 0
    assert "colbert: 2-d dot multivector" in repr(loaded)


def test_search_by_name_with_the_engines_own_client(hybrid: Callable[..., Index]) -> None:
    """What vecq wrote is searchable by vector name with Edge's or qdrant-client's own API."""
    index = hybrid()
    index.upsert(
        [
            {
                "id": i,
                "vector": {
                    "text": [float(i == j) for j in range(4)],
                    "bm25": {"indices": [i], "values": [1.0]},
                },
            }
            for i in range(4)
        ]
    )
    engine = index.session.engine
    if engine.kind == "edge":
        from qdrant_edge import Query, QueryRequest, SparseVector

        shard = engine.shard(index.info)  # type: ignore[attr-defined]  # Edge's own object
        dense = shard.query(
            QueryRequest(query=Query.Nearest([0, 0, 1.0, 0], using="text"), limit=1)
        )
        sparse = shard.query(
            QueryRequest(query=Query.Nearest(SparseVector([3], [1.0]), using="bm25"), limit=1)
        )
    else:
        from qdrant_client import models

        qdrant = engine.client  # type: ignore[attr-defined]
        dense = qdrant.query_points(index.name, query=[0, 0, 1.0, 0], using="text", limit=1).points
        sparse = qdrant.query_points(
            index.name, query=models.SparseVector(indices=[3], values=[1]), using="bm25", limit=1
        ).points
    assert [p.id for p in dense] == [2]
    assert [p.id for p in sparse] == [3]


def test_spec_dicts_and_a_sparse_only_index(client: Client, key: bytes) -> None:
    index = client.create_index(
        f"s-{uuid.uuid4().hex[:8]}", key, sparse_vectors={"words": {"modifier": "idf"}}
    )
    index.upsert([("x", {"words": {"indices": [3], "values": [0.5]}})])
    assert held(index) == {"x": {"words": ([3], [0.5])}}
    loaded = client.load_index(index.name, key)
    assert loaded.vectors == {"words": SparseSpec("idf")}
