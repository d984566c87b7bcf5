"""Every invalid input of the design raises its typed error, and nothing reaches Redis."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import redis

from tests.support.snapshots import snapshot
from vecq import (
    Client,
    DimensionMismatchError,
    Index,
    InvalidInputError,
    InvalidVectorError,
    VecqError,
)

OK = [0.1, 0.2, 0.3]

# (case id, upsert positional args, upsert keyword args, expected error, words in the message)
CASES: list[tuple[str, tuple[Any, ...], dict[str, Any], type[Exception], str]] = [
    ("nan", ([{"id": 1, "vector": [0.1, float("nan"), 0.3]}],), {}, InvalidVectorError, "row 0"),
    ("inf", ([(1, OK), (2, [float("inf"), 0.0, 0.0])],), {}, InvalidVectorError, "row 1 (id 2)"),
    (
        "float64 overflows float32",
        (np.array([1, 2]), np.array([[0.0, 1e39, 0.0], [0.0, 0.0, 0.0]])),
        {},
        InvalidVectorError,
        "overflow",
    ),
    (
        "wrong dimension, list",
        ([{"id": 1, "vector": [0.1, 0.2]}],),
        {},
        DimensionMismatchError,
        "2 dimensions",
    ),
    (
        "wrong dimension, numpy",
        (np.array([1]), np.zeros((1, 4))),
        {},
        DimensionMismatchError,
        "4 dimensions",
    ),
    (
        "ragged lists",
        ([(1, OK), (2, [0.1, 0.2, 0.3, 0.4])],),
        {},
        DimensionMismatchError,
        "row 1 (id 2)",
    ),
    ("vectors 1-D", (np.array([1, 2, 3]), np.zeros(3)), {}, InvalidVectorError, "2-D"),
    ("vectors 3-D", (np.array([1]), np.zeros((1, 3, 1))), {}, InvalidVectorError, "2-D"),
    ("ids 2-D", (np.array([[1]]), np.zeros((1, 3))), {}, InvalidVectorError, "1-D"),
    (
        "mismatched lengths",
        (np.array([1, 2]), np.zeros((3, 3))),
        {},
        InvalidVectorError,
        "2 ids but 3 vectors",
    ),
    ("negative id, list", ([(-1, OK)],), {}, InvalidVectorError, "outside"),
    (
        "negative id, numpy",
        (np.array([5, -7]), np.zeros((2, 3))),
        {},
        InvalidVectorError,
        "row 1: id -7",
    ),
    ("id 2**63, list", ([(2**63, OK)],), {}, InvalidVectorError, "outside"),
    (
        "id 2**63, uint64",
        (np.array([2**63], dtype=np.uint64), np.zeros((1, 3))),
        {},
        InvalidVectorError,
        "outside",
    ),
    ("bool id", ([(True, OK)],), {}, InvalidVectorError, "integers"),
    ("bool id array", (np.array([True]), np.zeros((1, 3))), {}, InvalidVectorError, "integer"),
    ("float id", ([(1.0, OK)],), {}, InvalidVectorError, "integers"),
    ("float id array", (np.array([1.0]), np.zeros((1, 3))), {}, InvalidVectorError, "integer"),
    ("empty string id", ([{"id": "", "vector": OK}],), {}, InvalidVectorError, "empty string"),
    ("str item", ([{"id": 1, "vector": OK, "item": "text"}],), {}, InvalidVectorError, "bytes"),
    ("int item", ([(1, OK, 5)],), {}, InvalidVectorError, "bytes"),
    ("item too large", ([(1, OK, b"x" * (1024 * 1024 + 1))],), {}, InvalidVectorError, "limit"),
    ("metadata not a dict", ([(1, OK, None, ["en"])],), {}, InvalidVectorError, "dict"),
    (
        "metadata nested too deep",
        ([{"id": 1, "vector": OK, "metadata": {"a": [[[[[[[[[1]]]]]]]]]}}],),
        {},
        InvalidVectorError,
        "nests deeper than 8",
    ),
    (
        "reserved key inside a list",
        ([{"id": 1, "vector": OK, "metadata": {"a": [{"_vecq_x": 1}]}}],),
        {},
        InvalidVectorError,
        "metadata['a'][0] key '_vecq_x' is reserved",
    ),
    (
        "bytes metadata value",
        ([{"id": 1, "vector": OK, "metadata": {"a": b"x"}}],),
        {},
        InvalidVectorError,
        "metadata['a'] has a bytes",
    ),
    (
        "non-str metadata key",
        ([{"id": 1, "vector": OK, "metadata": {1: "x"}}],),
        {},
        InvalidVectorError,
        "not a string",
    ),
    (
        "nan metadata",
        ([{"id": 1, "vector": OK, "metadata": {"s": float("nan")}}],),
        {},
        InvalidVectorError,
        "finite",
    ),
    (
        "huge int metadata",
        ([{"id": 1, "vector": OK, "metadata": {"s": 2**70}}],),
        {},
        InvalidVectorError,
        "int64",
    ),
    (
        "reserved metadata key",
        ([{"id": 1, "vector": OK, "metadata": {"_vecq_seq": 1}}],),
        {},
        InvalidVectorError,
        "reserved",
    ),
    (
        "unknown dict key",
        ([{"id": 1, "vector": OK, "metdata": {}}],),
        {},
        InvalidVectorError,
        "metdata",
    ),
    ("dict without vector", ([{"id": 1}],), {}, InvalidVectorError, "'vector'"),
    ("tuple too short", ([(1,)],), {}, InvalidVectorError, "tuple"),
    ("record of wrong type", ([5],), {}, InvalidVectorError, "row 0"),
    ("string vector values", ([(1, ["0.1", "0.2", "0.3"])],), {}, InvalidVectorError, "numbers"),
    ("vector is a string", ([(1, "abc")],), {}, InvalidVectorError, "list of floats"),
    (
        "bool vectors",
        (np.array([1]), np.ones((1, 3), dtype=bool)),
        {},
        InvalidVectorError,
        "real numbers",
    ),
    (
        "complex vectors",
        (np.array([1]), np.ones((1, 3), dtype=complex)),
        {},
        InvalidVectorError,
        "real numbers",
    ),
    ("list form given a dict", ({"id": 1, "vector": OK},), {}, InvalidVectorError, "list"),
]


@pytest.mark.parametrize(
    ("args", "kwargs", "error", "words"),
    [pytest.param(a, k, e, w, id=name) for name, a, k, e, w in CASES],
)
def test_invalid_input_raises_typed_error_and_enqueues_nothing(
    make_index: Callable[..., Index],
    r: redis.Redis,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    error: type[Exception],
    words: str,
) -> None:
    """Each invalid input raises its ValueError subclass naming the problem; Redis is untouched."""
    index = make_index(dimension=3)
    before = snapshot(r)
    with pytest.raises(error) as info:
        index.upsert(*args, **kwargs)
    assert isinstance(info.value, ValueError)
    assert isinstance(info.value, (InvalidInputError, VecqError))
    assert words in str(info.value)
    assert snapshot(r) == before


def test_one_bad_vector_rejects_the_whole_call(
    make_index: Callable[..., Index], make_vectors: Callable[..., np.ndarray], r: redis.Redis
) -> None:
    """A single NaN among 5,000 valid vectors rejects the call; none of them is written."""
    index = make_index(dimension=8)
    vectors = make_vectors(5000, 8)
    vectors[4321, 5] = np.nan
    before = snapshot(r)
    with pytest.raises(InvalidVectorError, match="row 4321 \\(id 4321\\)"):
        index.upsert(np.arange(5000), vectors)
    assert snapshot(r) == before
    assert index.count() == 0


def test_positional_and_keyword_vectors_together_is_a_type_error(
    make_index: Callable[..., Index],
) -> None:
    """Giving vectors twice is a programming error, reported as TypeError."""
    index = make_index()
    with pytest.raises(TypeError):
        index.upsert(np.array([1]), np.zeros((1, 3)), vectors=np.zeros((1, 3)))


def test_numpy_vectors_without_ids_is_a_type_error(make_index: Callable[..., Index]) -> None:
    """A bare array of vectors needs its ids; the error says how to pass them."""
    index = make_index()
    with pytest.raises(TypeError, match="upsert\\(ids, vectors\\)"):
        index.upsert(np.zeros((2, 3)))


@pytest.mark.parametrize("vector", [[True, 2, 3], [1.0, False, 0.5], [True, True, False]])
def test_true_and_false_are_not_numbers(make_index: Callable[..., Index], vector: list) -> None:
    """One number rule (as JSON bodies and files get it): a vector holding true or false is
    refused, naming the row, however NumPy would have read it."""
    index = make_index()
    with pytest.raises(InvalidVectorError, match=r"row 1 \(id 2\).*(true/false|int or float)"):
        index.upsert([{"id": 1, "vector": [0.1, 0.2, 0.3]}, {"id": 2, "vector": vector}])
    assert index.count() == 0
    index.upsert([{"id": 3, "vector": [1, 0, 1]}])  # integers 0 and 1 are numbers
    assert index.count() == 1


def test_a_named_vector_of_true_and_false_is_refused(client: Client, key: bytes) -> None:
    from vecq import VectorSpec

    index = client.create_index(
        f"bools-{uuid.uuid4().hex[:8]}", key, vectors={"t": VectorSpec(3, "dot")}
    )
    with pytest.raises(InvalidVectorError, match="holds true/false"):
        index.upsert([{"id": 1, "vector": {"t": [True, 0.5, 0.25]}}])
