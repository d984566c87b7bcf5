"""A search is checked before any engine sees it: vectors, names, limits, filters, fusion."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from vecq import InvalidQueryError, SparseSpec, Stage, VectorSpec
from vecq.shared.points import ids as idrules
from vecq.shared.points import query
from vecq.shared.points.vector_schema import Schema

NAMED = Schema(
    {"text": VectorSpec(3, "cosine"), "late": VectorSpec(2, "dot", multivector=True)},
    {"bm25": SparseSpec("idf")},
)
ONE_DENSE = Schema({"text": VectorSpec(3, "cosine")}, {})


def test_an_unnamed_vector_is_checked_and_converted_to_floats() -> None:
    search = query.build(None, 3, np.array([1, 2, 3], dtype=np.int64), limit=5)
    assert search.vector == [1.0, 2.0, 3.0] and search.using is None and search.limit == 5
    assert search.filter is None and search.fusion is None and not search.prefetch


@pytest.mark.parametrize(
    ("vector", "message"),
    [
        ([1.0, 2.0], "has 2 values; the index's has 3"),
        ([True, False, True], "not booleans or strings"),
        (["1", "2", "3"], "not booleans or strings"),
        ([1.0, float("nan"), 3.0], "NaN or infinity"),
        ([1.0, 1e39, 3.0], "NaN or infinity"),
        ([[1.0, 2.0, 3.0]], "must be a list of numbers"),
        ([1, [2], 3], "holds non-numbers"),
    ],
)
def test_a_bad_query_vector_is_refused_saying_what(vector: object, message: str) -> None:
    with pytest.raises(InvalidQueryError, match=message.replace("(", r"\(")):
        query.build(None, 3, vector)


def test_a_query_error_is_also_a_value_error() -> None:
    with pytest.raises(ValueError, match="has 1 values"):
        query.build(None, 3, [1.0])


def test_using_names_a_vector_of_the_index() -> None:
    with pytest.raises(InvalidQueryError, match="one unnamed vector: leave using out"):
        query.build(None, 3, [1, 2, 3], using="text")
    with pytest.raises(InvalidQueryError, match="no vector 'nope'; it has text, late, bm25"):
        query.build(NAMED, 0, [1, 2, 3], using="nope")
    with pytest.raises(InvalidQueryError, match="say which to search with using="):
        query.build(NAMED, 0, [1, 2, 3])
    # One named dense vector and nothing else: it is the one searched.
    assert query.build(ONE_DENSE, 0, [1, 2, 3]).using == "text"


def test_multivector_and_sparse_queries_are_checked_by_their_kind() -> None:
    late = query.build(NAMED, 0, [[1, 0], [0, 1]], using="late")
    assert late.vector == [[1.0, 0.0], [0.0, 1.0]]
    with pytest.raises(InvalidQueryError, match="non-empty list of 2-d rows"):
        query.build(NAMED, 0, [[1, 0, 0]], using="late")
    sparse = query.build(NAMED, 0, ([4, 1], [0.5, 2]), using="bm25")
    assert sparse.vector == {"indices": [4, 1], "values": [0.5, 2.0]}
    assert query.build(NAMED, 0, {"indices": [1], "values": [1.0]}, using="bm25").vector
    for bad, message in [
        ({"indices": [1, 1], "values": [1.0, 2.0]}, "repeats an index"),
        ({"indices": [1, 2], "values": [1.0]}, "2 indices but 1 values"),
        ({"indices": [-1], "values": [1.0]}, "outside 0..4294967295"),
        ({"indices": [], "values": []}, "is empty"),
        ({"indices": [1.5], "values": [1.0]}, "indices must be integers"),
        ("text", "is sparse: give"),
    ]:
        with pytest.raises(InvalidQueryError, match=message):
            query.build(NAMED, 0, bad, using="bm25")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"limit": 0}, "limit must be 1..10000"),
        ({"limit": 10_001}, "limit must be 1..10000"),
        ({"limit": True}, "limit must be an integer"),
        ({"limit": 2.5}, "limit must be an integer"),
        ({"fusion": "max"}, "fusion must be one of rrf, dbsf"),
        ({"fusion": "rrf"}, "a query vector or a fusion, not both"),
        ({"score_threshold": "high"}, "score_threshold must be a number"),
    ],
)
def test_bad_options_are_refused(options: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidQueryError, match=message):
        query.build(None, 3, [1, 2, 3], **options)  # type: ignore[arg-type]


def test_a_search_needs_a_vector_or_prefetches() -> None:
    with pytest.raises(InvalidQueryError, match="give a query vector, or prefetches"):
        query.build(None, 3)


def test_prefetches_are_fused_by_rrf_unless_told_otherwise() -> None:
    stages = [
        {"vector": [1, 0, 0], "using": "text", "limit": 20},
        Stage({"indices": [3], "values": [1.0]}, "bm25", 30, {"lang": "en"}),
    ]
    search = query.build(NAMED, 0, prefetch=stages)
    assert search.fusion == "rrf" and search.vector is None
    assert [(s.using, s.limit) for s in search.prefetch] == [("text", 20), ("bm25", 30)]
    assert search.prefetch[1].filter == {"must": [{"key": "lang", "match": {"value": "en"}}]}
    assert query.build(NAMED, 0, prefetch=stages, fusion="dbsf").fusion == "dbsf"
    rescored = query.build(NAMED, 0, [[1, 0]], using="late", prefetch=stages)
    assert rescored.fusion is None and rescored.using == "late"


def test_a_bad_prefetch_is_named_by_its_position() -> None:
    with pytest.raises(InvalidQueryError, match=r"prefetch\[1\]: the query vector 'text' has 2"):
        query.build(
            NAMED,
            0,
            prefetch=[{"vector": [1, 0, 0], "using": "text"}, {"vector": [1, 0], "using": "text"}],
        )
    with pytest.raises(InvalidQueryError, match=r"prefetch\[0\] .*unknown: size"):
        query.build(NAMED, 0, prefetch=[{"vector": [1, 0, 0], "size": 3}])
    with pytest.raises(InvalidQueryError, match=r"prefetch\[0\] is a dict or a Stage"):
        query.build(NAMED, 0, prefetch=[[1, 0, 0]])
    with pytest.raises(InvalidQueryError, match="at most 16 prefetches"):
        query.build(None, 3, prefetch=[{"vector": [1, 0, 0]}] * 17)


def test_the_short_filter_form_becomes_qdrants() -> None:
    got = query.normalize_filter(
        {"lang": "en", "year": {"gte": 2020, "lt": 2025}, "tag": ["a", "b"], "ok": True}
    )
    assert got == {
        "must": [
            {"key": "lang", "match": {"value": "en"}},
            {"key": "year", "range": {"gte": 2020.0, "lt": 2025.0}},
            {"key": "tag", "match": {"any": ["a", "b"]}},
            {"key": "ok", "match": {"value": True}},
        ]
    }
    assert query.normalize_filter({}) is None and query.normalize_filter(None) is None


def test_qdrants_filter_form_is_checked_and_kept() -> None:
    form = {
        "should": [{"key": "lang", "match": {"value": "en"}}],
        "must_not": [{"is_empty": {"key": "title"}}],
        "min_should": {"conditions": [{"key": "n", "match": {"except": [1]}}], "min_count": 1},
    }
    got = query.normalize_filter(form)
    assert got is not None
    assert got["should"] == form["should"] and got["must_not"] == form["must_not"]
    assert got["min_should"]["conditions"][0]["match"] == {"except": [1]}
    with pytest.raises(InvalidQueryError, match="not a Qdrant filter: at must"):
        query.normalize_filter({"must": 3})


def test_qdrant_clients_filter_model_is_taken() -> None:
    from qdrant_client import models

    model = models.Filter(
        must=[models.FieldCondition(key="lang", match=models.MatchValue(value="fr"))]
    )
    assert query.normalize_filter(model) == {"must": [{"key": "lang", "match": {"value": "fr"}}]}


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ([("lang", "en")], "a filter is a dict"),
        ({"score": 1.5}, "not float"),
        ({"score": {"about": 1}}, "a range of gt, gte, lt, lte"),
        ({"": 1}, "non-empty strings"),
    ],
)
def test_a_bad_short_filter_is_refused(value: object, message: str) -> None:
    with pytest.raises(InvalidQueryError, match=message):
        query.normalize_filter(value)


def test_a_filter_nested_past_the_bound_is_refused_without_recursing() -> None:
    deep: dict[str, object] = {"key": "a", "match": {"value": 1}}
    for _ in range(5_000):
        deep = {"must": [deep]}
    with pytest.raises(InvalidQueryError, match="nests deeper than 32 levels"):
        query.normalize_filter(deep)


def test_has_id_takes_the_callers_ids() -> None:
    uid = "6f1c2b2e-5d1a-4c59-9a53-6b2f5b7f4a10"
    got = query.normalize_filter({"must": [{"has_id": [7, "doc-42", uid]}]})
    assert got == {"must": [{"has_id": [7, idrules.point_uuid("doc-42"), uid]}]}


def test_a_search_travels_as_its_fields() -> None:
    search = query.build(NAMED, 0, prefetch=[{"vector": [1, 0, 0], "using": "text"}])
    assert query.Search.from_dict(dataclasses.asdict(search)) == search


def test_the_callers_id_comes_from_the_payload_for_string_ids() -> None:
    assert query.caller_id(idrules.point_uuid("a"), {"_vecq_id": "a"}) == "a"
    assert query.caller_id(5, {"lang": "en"}) == 5
