"""Named vectors' rules: one bad vector, of any kind, rejects the whole call and is named;
a bad schema creates nothing."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import redis

from vecq import (
    Client,
    DimensionMismatchError,
    Index,
    InvalidIndexError,
    InvalidVectorError,
    SparseSpec,
    VectorSpec,
)
from vecq.shared import keys

pytestmark = pytest.mark.engines("edge", "local")


@pytest.mark.parametrize(
    ("record", "error", "message"),
    [
        (
            {"id": 9, "vector": {"text": [1, 2, 3]}},
            DimensionMismatchError,
            r"row 1 \(id 9\): vector 'text' has 3 dimensions, the index expects 4",
        ),
        (
            {"id": 9, "vector": {"photo": [1, 2, 3]}},
            InvalidVectorError,
            r"row 1 \(id 9\): unknown vector 'photo'; this index has text, image, colbert",
        ),
        (
            {"id": 9, "vector": [1, 2, 3, 4]},
            InvalidVectorError,
            r"row 1 \(id 9\): this index has named vectors .*must be a dict",
        ),
        ({"id": 9, "vector": {}}, InvalidVectorError, r"row 1 \(id 9\): the point carries no"),
        (
            {"id": 9, "vector": {"text": [1, 2, float("nan"), 4]}},
            InvalidVectorError,
            r"row 1 \(id 9\): vector 'text' holds NaN",
        ),
        (
            {"id": 9, "vector": {"colbert": []}},
            InvalidVectorError,
            r"vector 'colbert' is an empty multivector",
        ),
        (
            {"id": 9, "vector": {"colbert": [[1, 2, 3]]}},
            DimensionMismatchError,
            r"vector 'colbert' has rows of 3 dimensions, the index expects 2",
        ),
        (
            {"id": 9, "vector": {"colbert": [1, 2]}},
            InvalidVectorError,
            r"vector 'colbert' must be a list of rows",
        ),
        (
            {"id": 9, "vector": {"bm25": {"indices": [1, 1], "values": [1, 2]}}},
            InvalidVectorError,
            r"row 1 \(id 9\): vector 'bm25' repeats an index",
        ),
        (
            {"id": 9, "vector": {"bm25": {"indices": [-1], "values": [1]}}},
            InvalidVectorError,
            r"vector 'bm25' has an index outside 0..4294967295",
        ),
        (
            {"id": 9, "vector": {"bm25": {"indices": [2**32], "values": [1]}}},
            InvalidVectorError,
            r"vector 'bm25' has an index outside",
        ),
        (
            {"id": 9, "vector": {"bm25": {"indices": [1, 2], "values": [1]}}},
            InvalidVectorError,
            r"vector 'bm25' has 2 indices but 1 values",
        ),
        (
            {"id": 9, "vector": {"bm25": {"indices": [1.5], "values": [1]}}},
            InvalidVectorError,
            r"vector 'bm25' indices must be integers",
        ),
        (
            {"id": 9, "vector": {"bm25": {"indices": [1], "values": [float("inf")]}}},
            InvalidVectorError,
            r"vector 'bm25' holds NaN or infinity",
        ),
        (
            {"id": 9, "vector": {"bm25": [1, 2, 3]}},
            InvalidVectorError,
            r"vector 'bm25' is sparse: give",
        ),
        (
            {"id": 9, "vector": {"bm25": {"idx": [1], "values": [1]}}},
            InvalidVectorError,
            r"vector 'bm25' must be \{'indices'",
        ),
    ],
)
def test_one_bad_vector_rejects_the_whole_call_and_names_it(
    hybrid: Callable[..., Index], r: redis.Redis, record: dict[str, Any], error: type, message: str
) -> None:
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
        (
            {"vectors": {"a": VectorSpec(4)}, "sparse_vectors": {"a": None}},
            r"vector 'a' is both dense and sparse",
        ),
        ({"sparse_vectors": {"s": SparseSpec("bm25")}}, r"modifier must be None or one of idf"),
        ({"vectors": {"bad name": VectorSpec(4)}}, r"vector name 'bad name' is invalid"),
        ({"vectors": {}}, r"an index needs at least one vector"),
        ({"vectors": {"a": {"size": 4, "metric": "dot"}}}, r"a spec dict has 'size'"),
        ({"vectors": [VectorSpec(4)]}, r"vectors must be a dict of vector name to spec"),
    ],
)
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
