"""Named dense, sparse and multi-vectors: the schema, every upsert form, the rules, read-back.

Each test writes through a real worker into a real engine (Edge, and local mode for a
server's client calls) and reads back with the engine library's own API.
"""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import redis
from qdrant_edge import EdgeShard

from tests.support.engines import held_points
from vecq import (
    Client,
    DimensionMismatchError,
    Index,
    InvalidIndexError,
    InvalidVectorError,
    SparseSpec,
    VectorSpec,
)
from vecq.api import launcher
from vecq.shared import keys
from vecq.shared.points import ids as idrules

pytestmark = pytest.mark.engines("edge", "local")

SCHEMA = {"text": VectorSpec(4, "dot"), "image": VectorSpec(3, "dot"),
          "colbert": VectorSpec(2, "dot", multivector=True)}  # fmt: skip
SPARSE = {"bm25": SparseSpec(modifier="idf"), "splade": SparseSpec()}


@pytest.fixture
def hybrid(client: Client, key: bytes) -> Callable[..., Index]:
    def make(**options: Any) -> Index:
        spec = {"vectors": SCHEMA, "sparse_vectors": SPARSE, **options}
        return client.create_index(f"h-{uuid.uuid4().hex[:10]}", key, shards=2, **spec)

    return make


def held(index: Index) -> dict[Any, Any]:
    """caller id -> the point's vectors, as the engine library itself returns them."""
    out = {}
    for point_id, vector, payload in held_points(index.session.engine, index.info):
        out[payload.get(keys.PAYLOAD_ID, point_id)] = vector
    return out


def test_every_shape_is_written_and_read_back_exactly(hybrid: Callable[..., Index]) -> None:
    index = hybrid()
    index.upsert([
        {"id": 1, "vector": {"text": [1, 2, 3, 4], "image": [0.5, 0.25, 0.125],
                             "colbert": [[1, 2], [3, 4], [5, 6]],
                             "bm25": {"indices": [7, 3], "values": [0.5, 1.5]}},
         "metadata": {"lang": "en"}},
        ("doc-a", {"splade": ([2**32 - 1, 0], [1.0, 2.0])}),
    ])  # fmt: skip
    stored = held(index)
    assert stored[1] == {"text": [1, 2, 3, 4], "image": [0.5, 0.25, 0.125],
                         "colbert": [[1, 2], [3, 4], [5, 6]],
                         "bm25": ([3, 7], [1.5, 0.5])}  # fmt: skip
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
    bm25 = [(np.array([i, i + 10]), np.array([1.0, float(i)])) if i % 2 else None
            for i in range(n)]  # fmt: skip
    index.upsert(np.arange(n), {"text": text, "colbert": colbert, "bm25": bm25},
                 metadata=[{"i": i} for i in range(n)])  # fmt: skip
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


@pytest.mark.parametrize(
    ("record", "error", "message"),
    [
        ({"id": 9, "vector": {"text": [1, 2, 3]}}, DimensionMismatchError,
         r"row 1 \(id 9\): vector 'text' has 3 dimensions, the index expects 4"),
        ({"id": 9, "vector": {"photo": [1, 2, 3]}}, InvalidVectorError,
         r"row 1 \(id 9\): unknown vector 'photo'; this index has text, image, colbert"),
        ({"id": 9, "vector": [1, 2, 3, 4]}, InvalidVectorError,
         r"row 1 \(id 9\): this index has named vectors .*must be a dict"),
        ({"id": 9, "vector": {}}, InvalidVectorError, r"row 1 \(id 9\): the point carries no"),
        ({"id": 9, "vector": {"text": [1, 2, float("nan"), 4]}}, InvalidVectorError,
         r"row 1 \(id 9\): vector 'text' holds NaN"),
        ({"id": 9, "vector": {"colbert": []}}, InvalidVectorError,
         r"vector 'colbert' is an empty multivector"),
        ({"id": 9, "vector": {"colbert": [[1, 2, 3]]}}, DimensionMismatchError,
         r"vector 'colbert' has rows of 3 dimensions, the index expects 2"),
        ({"id": 9, "vector": {"colbert": [1, 2]}}, InvalidVectorError,
         r"vector 'colbert' must be a list of rows"),
        ({"id": 9, "vector": {"bm25": {"indices": [1, 1], "values": [1, 2]}}},
         InvalidVectorError, r"row 1 \(id 9\): vector 'bm25' repeats an index"),
        ({"id": 9, "vector": {"bm25": {"indices": [-1], "values": [1]}}}, InvalidVectorError,
         r"vector 'bm25' has an index outside 0..4294967295"),
        ({"id": 9, "vector": {"bm25": {"indices": [2**32], "values": [1]}}}, InvalidVectorError,
         r"vector 'bm25' has an index outside"),
        ({"id": 9, "vector": {"bm25": {"indices": [1, 2], "values": [1]}}}, InvalidVectorError,
         r"vector 'bm25' has 2 indices but 1 values"),
        ({"id": 9, "vector": {"bm25": {"indices": [1.5], "values": [1]}}}, InvalidVectorError,
         r"vector 'bm25' indices must be integers"),
        ({"id": 9, "vector": {"bm25": {"indices": [1], "values": [float("inf")]}}},
         InvalidVectorError, r"vector 'bm25' holds NaN or infinity"),
        ({"id": 9, "vector": {"bm25": [1, 2, 3]}}, InvalidVectorError,
         r"vector 'bm25' is sparse: give"),
        ({"id": 9, "vector": {"bm25": {"idx": [1], "values": [1]}}}, InvalidVectorError,
         r"vector 'bm25' must be \{'indices'"),
    ],
)  # fmt: skip
def test_one_bad_vector_rejects_the_whole_call_and_names_it(
    hybrid: Callable[..., Index], r: redis.Redis, record: dict[str, Any], error: type,
    message: str,
) -> None:  # fmt: skip
    index = hybrid()
    good = {"id": 1, "vector": {"text": [1, 2, 3, 4]}}
    with pytest.raises(error, match=message):
        index.upsert([good, record])
    assert index.count() == 0
    assert r.get(keys.sequence(index.name)) is None  # nothing was enqueued


@pytest.mark.parametrize(
    ("vectors", "message"),
    [
        ({"text": np.ones((2, 5))}, r"vector 'text' has 5 dimensions, the index expects 4"),
        ({"text": np.ones((3, 4))}, r"vector 'text': expected an array of shape \(2, 4\)"),
        ({"photo": np.ones((2, 4))}, r"unknown vector 'photo'"),
        ({"bm25": [([1], [1.0])]}, r"vector 'bm25': 1 entries for 2 ids"),
        ({"bm25": [([1], [1.0]), None]}, r"row 1 \(id 8\): the point carries no vector"),
        (
            {"bm25": [([3, 1], [1.0, 2.0]), ([9, 2, 9], [1.0, 1.0, 1.0])]},
            r"row 1 \(id 8\): vector 'bm25' repeats an index",
        ),
        (
            {"bm25": [([3, 1], [1.0, 2.0]), (np.array([2.5]), [1.0])]},
            r"row 1 \(id 8\): vector 'bm25' indices must be integers",
        ),
        (  # the pairs' joined fast path falls back to the point-by-point one to name rows
            {"bm25": [([1, 2], [1.0]), ([1], [1.0])]},
            r"row 0 \(id 7\): vector 'bm25' has 2 indices but 1 values",
        ),
        (
            {"bm25": [([1], [1.0]), (np.array([[1, 2]]), np.array([[1.0, 2.0]]))]},
            r"row 1 \(id 8\): vector 'bm25' indices must be integers",
        ),
        ({"bm25": [([1], [1.0]), (5, 1.0)]}, r"row 1 \(id 8\): vector 'bm25' indices must be"),
        ({"bm25": [([1], [1.0]), ([-1], [1.0])]}, r"row 1 \(id 8\): vector 'bm25' has an index"),
        ({"bm25": [([1], [np.nan]), ([2], [1.0])]}, r"row 0 \(id 7\): vector 'bm25'"),
        (np.ones((2, 4)), r"this index has named vectors .*vectors must be a dict"),
        ({}, r"vectors is empty"),
        ({"text": np.array([[1, 2, 3, np.inf], [1, 2, 3, 4]])}, r"row 0 \(id 7\): vector 'text'"),
    ],
)
def test_the_numpy_form_is_checked_whole_too(
    hybrid: Callable[..., Index], vectors: Any, message: str
) -> None:
    index = hybrid()
    with pytest.raises((InvalidVectorError, DimensionMismatchError), match=message):
        index.upsert(np.array([7, 8]), vectors)
    assert index.count() == 0


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"vectors": {"a": VectorSpec(0)}}, r"vector 'a': size must be an int in 1..65536"),
        ({"vectors": {"a": VectorSpec(4, "cos")}}, r"vector 'a': distance must be one of"),
        ({"vectors": {"a": VectorSpec(4)}, "sparse_vectors": {"a": None}},
         r"vector 'a' is both dense and sparse"),
        ({"sparse_vectors": {"s": SparseSpec("bm25")}}, r"modifier must be None or one of idf"),
        ({"vectors": {"bad name": VectorSpec(4)}}, r"vector name 'bad name' is invalid"),
        ({"vectors": {}}, r"an index needs at least one vector"),
        ({"vectors": {"a": {"size": 4, "metric": "dot"}}}, r"a spec dict has 'size'"),
        ({"vectors": [VectorSpec(4)]}, r"vectors must be a dict of vector name to spec"),
    ],
)  # fmt: skip
def test_a_bad_schema_creates_nothing(
    client: Client, key: bytes, options: dict[str, Any], message: str
) -> None:
    name = f"bad-{uuid.uuid4().hex[:8]}"
    with pytest.raises(InvalidIndexError, match=message):
        client.create_index(name, key, **options)
    assert name not in client.list_indexes()


def test_dimension_and_named_vectors_exclude_each_other(client: Client, key: bytes) -> None:
    with pytest.raises(TypeError, match=r"dimension= .* or vectors="):
        client.create_index("both", key, dimension=4, vectors={"a": VectorSpec(4)})


def test_spec_dicts_and_a_sparse_only_index(client: Client, key: bytes) -> None:
    index = client.create_index(f"s-{uuid.uuid4().hex[:8]}", key,
                                sparse_vectors={"words": {"modifier": "idf"}})  # fmt: skip
    index.upsert([("x", {"words": {"indices": [3], "values": [0.5]}})])
    assert held(index) == {"x": {"words": ([3], [0.5])}}
    loaded = client.load_index(index.name, key)
    assert loaded.vectors == {"words": SparseSpec("idf")}


def test_search_by_name_with_the_engines_own_client(hybrid: Callable[..., Index]) -> None:
    """What vecq wrote is searchable by vector name with Edge's or qdrant-client's own API."""
    index = hybrid()
    index.upsert([{"id": i, "vector": {"text": [float(i == j) for j in range(4)],
                                       "bm25": {"indices": [i], "values": [1.0]}}}
                  for i in range(4)])  # fmt: skip
    engine = index.session.engine
    if engine.kind == "edge":
        from qdrant_edge import Query, QueryRequest, SparseVector

        shard = engine.shard(index.info)  # type: ignore[attr-defined]  # Edge's own object
        dense = shard.query(QueryRequest(query=Query.Nearest([0, 0, 1.0, 0], using="text"),
                                         limit=1))  # fmt: skip
        sparse = shard.query(QueryRequest(query=Query.Nearest(SparseVector([3], [1.0]),
                                                              using="bm25"), limit=1))  # fmt: skip
    else:
        from qdrant_client import models

        qdrant = engine.client  # type: ignore[attr-defined]
        dense = qdrant.query_points(index.name, query=[0, 0, 1.0, 0], using="text", limit=1).points
        sparse = qdrant.query_points(index.name, query=models.SparseVector(indices=[3], values=[1]),
                                     using="bm25", limit=1).points  # fmt: skip
    assert [p.id for p in dense] == [2]
    assert [p.id for p in sparse] == [3]


def test_named_vectors_through_the_command_line_and_the_service(
    data_dir: Path, tmp_path: Path
) -> None:
    """`vecq index create --vector --sparse`, list and describe; an embedded client writes
    and reads through the service; once it is down, Edge itself holds every vector."""

    def vecq(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "vecq.api.cli", *args], capture_output=True,
                              text=True, timeout=120)  # fmt: skip

    key_file = tmp_path / "docs.key"
    for bad, message in ((["--vector", "text:768:cos"], "distance must be one of"),
                         (["--vector", "text"], "use NAME:SIZE[:DISTANCE][:multi]"),
                         (["--sparse", "bm25:bm25"], "modifier must be None or one of idf"),
                         (["--dimension", "3", "--sparse", "s"], "give --dimension"),
                         ([], "give --dimension")):  # fmt: skip
        failed = vecq("index", "create", "docs", "--key-file", str(key_file), *bad)
        assert failed.returncode == 2 and message in failed.stderr, failed.stderr
    made = vecq("index", "create", "docs", "--key-file", str(key_file), "--vector", "text:3:dot",
                "--vector", "rows:2:dot:multi", "--sparse", "bm25:idf")  # fmt: skip
    assert made.returncode == 0, made.stderr
    assert "vectors text: 3-d dot; rows: 2-d dot multivector; bm25: sparse (idf)" in made.stdout
    described = json.loads(vecq("index", "describe", "docs", "--json").stdout)
    assert described["sparse_vectors"] == {"bm25": {"modifier": "idf"}}
    assert described["vectors"]["rows"] == {"size": 2, "distance": "dot", "multivector": True}
    assert "vectors text, rows, bm25" in vecq("index", "list").stdout
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"k": [10, 11], "t": [[1.0, 1.0, 1.0], [2.0, 2.0, 2.0]],
                             "r": [[[1.0, 0.0]], None], "bi": [[1], [2, 3]],
                             "bv": [[1.0], [2.0, 3.0]]}), tmp_path / "d.parquet")  # fmt: skip
    loaded = vecq("ingest", str(tmp_path / "d.parquet"), "--index", "docs", "--key-file",
                  str(key_file), "--id-column", "k", "--vector", "text=t", "--vector", "rows=r",
                  "--sparse", "bm25=bi,bv")  # fmt: skip
    assert loaded.returncode == 0, loaded.stderr
    with Client() as client:
        index = client.load_index("docs", key_file=key_file)
        index.upsert([{"id": "a", "vector": {"text": [1, 2, 3], "rows": [[1, 2]],
                                             "bm25": ([5], [0.5])}}])  # fmt: skip
        assert index.get([11])[0]["vector"] == {
            "text": [2, 2, 2],
            "bm25": {"indices": [2, 3], "values": [2, 3]},
        }
        (got,) = index.get(["a"])
        assert got["vector"] == {"text": [1, 2, 3], "rows": [[1, 2]],
                                 "bm25": {"indices": [5], "values": [0.5]}}  # fmt: skip
    launcher.stop(data_dir)
    shard = EdgeShard.load(str(data_dir / "edge" / "docs"))
    try:
        (record,) = shard.retrieve([str(uuid.uuid5(idrules.NAMESPACE, "a"))], with_vector=True,
                                   with_payload=True)  # fmt: skip
        assert record.vector["text"] == [1, 2, 3] and record.vector["rows"] == [[1, 2]]
        assert list(record.vector["bm25"].indices) == [5]
    finally:
        shard.close()
