"""``Index.query``: the same answers from every engine, best first, with the caller's ids."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from tests.support.engines import WITH_SERVER
from vecq import Client, Index, IndexNotLoadedError, InvalidQueryError

pytestmark = pytest.mark.engines(*WITH_SERVER)


def _loaded(
    make_index: Callable[..., Index], n: int = 200, dim: int = 8
) -> tuple[Index, np.ndarray]:
    index = make_index(dimension=dim, metric="dot")
    vectors = np.random.default_rng(3).standard_normal((n, dim), dtype=np.float32)
    metadata = [{"group": i % 4, "name": f"p{i}", "big": i >= n // 2} for i in range(n)]
    items = [f"item {i}".encode() for i in range(n)]
    index.upsert(np.arange(n), vectors, items=items, metadata=metadata)
    return index, vectors


def test_results_are_the_nearest_points_best_first(make_index: Callable[..., Index]) -> None:
    index, vectors = _loaded(make_index)
    probe = vectors[17] + 0.01
    got = index.query(probe, limit=5)
    expected = np.argsort(-(vectors @ probe))[:5]
    assert [r["id"] for r in got] == expected.tolist()
    assert [r["score"] for r in got] == pytest.approx(
        (vectors @ probe)[expected].tolist(), rel=1e-4
    )
    assert got[0] == {
        "id": 17,
        "score": pytest.approx(float(vectors[17] @ probe), rel=1e-4),
        "metadata": {"group": 1, "name": "p17", "big": False},
    }


def test_a_filter_keeps_only_matching_points(make_index: Callable[..., Index]) -> None:
    index, vectors = _loaded(make_index)
    probe = vectors[0]
    short = index.query(probe, limit=20, filter={"group": 2, "big": True})
    assert short and all(r["metadata"]["group"] == 2 and r["metadata"]["big"] for r in short)
    ranked = [i for i in np.argsort(-(vectors @ probe)).tolist() if i % 4 == 2 and i >= 100]
    assert [r["id"] for r in short] == ranked[:20]
    qdrant_form = index.query(
        probe,
        limit=20,
        filter={
            "must": [
                {"key": "group", "match": {"value": 2}},
                {"key": "big", "match": {"value": True}},
            ]
        },
    )
    assert qdrant_form == short
    listed = index.query(probe, limit=200, filter={"group": [0, 3]})
    assert {r["metadata"]["group"] for r in listed} == {0, 3} and len(listed) == 100
    ranged = index.query(probe, limit=200, filter={"must": [{"has_id": [1, 2, 3, 999]}]})
    assert sorted(r["id"] for r in ranged) == [1, 2, 3]


def test_items_only_when_asked_and_decrypted(make_index: Callable[..., Index]) -> None:
    index, vectors = _loaded(make_index, n=20)
    plain = index.query(vectors[4], limit=1)
    assert "item" not in plain[0] and "vector" not in plain[0]
    full = index.query(vectors[4], limit=1, with_items=True, with_vectors=True)
    assert full[0]["item"] == b"item 4"
    assert full[0]["vector"] == pytest.approx(vectors[4].tolist())


def test_string_ids_come_back_as_given(make_index: Callable[..., Index]) -> None:
    index = make_index(dimension=3)
    index.upsert(
        [
            {"id": "doc-a", "vector": [1, 0, 0], "metadata": {"k": "a"}},
            {"id": "doc-b", "vector": [0, 1, 0]},
            (7, [0.5, 0.5, 0]),
        ]
    )
    got = index.query([1, 0.1, 0], limit=3)
    assert [r["id"] for r in got] == ["doc-a", 7, "doc-b"]
    assert got[0]["metadata"] == {"k": "a"}
    assert [r["id"] for r in index.query([1, 0, 0], filter={"must": [{"has_id": ["doc-b"]}]})] == [
        "doc-b"
    ]


def test_deleted_points_are_not_found_and_updates_are(make_index: Callable[..., Index]) -> None:
    index, vectors = _loaded(make_index, n=50)
    index.delete([17])
    index.update_metadata([{"id": 18, "metadata": {"group": 9}}])
    got = index.query(vectors[17], limit=50)
    assert 17 not in [r["id"] for r in got] and len(got) == 49
    assert [r["id"] for r in index.query(vectors[0], filter={"group": 9})] == [18]


def test_score_threshold_and_limit(make_index: Callable[..., Index]) -> None:
    index, vectors = _loaded(make_index, n=100)
    probe = vectors[5]
    scores = np.sort(vectors @ probe)[::-1]
    cut = float((scores[9] + scores[10]) / 2)
    assert len(index.query(probe, limit=100, score_threshold=cut)) == 10
    assert len(index.query(probe, limit=3)) == 3


def test_an_empty_index_answers_nothing(make_index: Callable[..., Index]) -> None:
    assert make_index(dimension=3).query([1, 0, 0]) == []


def test_a_bad_query_is_a_typed_error(make_index: Callable[..., Index]) -> None:
    index = make_index(dimension=3)
    with pytest.raises(InvalidQueryError, match="has 2 values; the index's has 3"):
        index.query([1, 0])
    with pytest.raises(InvalidQueryError, match="filter"):
        index.query([1, 0, 0], filter={"must": "x"})


def test_a_deleted_index_cannot_be_queried(
    client: Client, key: bytes, make_index: Callable[..., Index]
) -> None:
    index = make_index(dimension=3)
    client.delete_index(index.name, index_key=key)
    with pytest.raises(IndexNotLoadedError):
        index.query([1, 0, 0])


def test_hybrid_search_fuses_dense_and_sparse(hybrid: Callable[..., Index]) -> None:
    index = hybrid()
    index.upsert(
        [
            {"id": 1, "vector": {"text": [1, 0, 0, 0], "bm25": {"indices": [5], "values": [1.0]}}},
            {
                "id": 2,
                "vector": {"text": [0.9, 0.1, 0, 0], "bm25": {"indices": [7], "values": [1.0]}},
            },
            {"id": 3, "vector": {"text": [0, 0, 1, 0], "bm25": {"indices": [7], "values": [3.0]}}},
            {"id": 4, "vector": {"colbert": [[1, 0], [0, 1]]}},
        ]
    )
    dense = index.query([1, 0, 0, 0], using="text", limit=2)
    assert [r["id"] for r in dense] == [1, 2]
    sparse = index.query({"indices": [7], "values": [1.0]}, using="bm25", limit=5)
    assert [r["id"] for r in sparse] == [3, 2]
    stages = [
        {"vector": [1, 0, 0, 0], "using": "text", "limit": 2},
        {"vector": ([7], [1.0]), "using": "bm25", "limit": 2},
    ]
    fused = index.query(prefetch=stages, limit=3)
    assert fused[0]["id"] == 2  # second in both lists: first once fused (RRF)
    assert {r["id"] for r in fused} == {1, 2, 3}
    assert {r["id"] for r in index.query(prefetch=stages, fusion="dbsf", limit=3)} == {1, 2, 3}
    late = index.query([[1, 0], [0, 1]], using="colbert")
    assert [r["id"] for r in late] == [4]
    rescored = index.query([0, 0, 1, 0], using="text", prefetch=stages, limit=3)
    assert rescored[0]["id"] == 3
