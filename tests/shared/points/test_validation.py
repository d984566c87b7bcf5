"""The validation rules as a table: each bad input, the typed error, the row and what it says.

These call ``vecq.shared.points.validation`` directly (no Redis, no worker): the producer and the
workers run these same functions. The pipeline-level proof that nothing is enqueued lives
in ``tests/api/test_upsert_validation.py`` and ``tests/api/test_upsert_properties.py``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from vecq.shared.errors import DimensionMismatchError, InvalidInputError, InvalidVectorError
from vecq.shared.points import metadata
from vecq.shared.points.ids import check_id
from vecq.shared.points.validation import check_item, from_arrays, from_records, last_occurrences

DIM = 3
MAX_ITEM = 16
GOOD = [0.1, 0.2, 0.3]

# (case, records, error class, row, fragment of the message)
RECORD_CASES: list[tuple[str, Any, type[InvalidInputError], int | None, str]] = [
    ("not a list", {"id": 1, "vector": GOOD}, InvalidVectorError, None, "list of dicts"),
    ("a string", "abc", InvalidVectorError, None, "list of dicts"),
    (
        "short vector",
        [{"id": 1, "vector": [0.1, 0.2]}],
        DimensionMismatchError,
        0,
        "row 0 (id 1): vector has 2 dimensions, the index expects 3",
    ),
    (
        "long vector in row 2",
        [(1, GOOD), (2, GOOD), (3, [0.0] * 4)],
        DimensionMismatchError,
        2,
        "row 2 (id 3): vector has 4 dimensions",
    ),
    (
        "NaN",
        [(1, GOOD), (2, [0.0, float("nan"), 0.0])],
        InvalidVectorError,
        1,
        "row 1 (id 2): vector holds NaN or infinity",
    ),
    ("infinity", [(1, [float("inf"), 0.0, 0.0])], InvalidVectorError, 0, "NaN or infinity"),
    ("float64 overflowing float32", [(1, [1e39, 0.0, 0.0])], InvalidVectorError, 0, "overflow"),
    (
        "text in a vector",
        [(1, ["a", "b", "c"])],
        InvalidVectorError,
        0,
        "vector must hold only int or float numbers",
    ),
    ("vector is a string", [(1, "abc")], InvalidVectorError, 0, "vector must be a list"),
    ("vector is a number", [(1, 3.0)], InvalidVectorError, 0, "vector must be a list"),
    ("negative id", [(-1, GOOD)], InvalidVectorError, 0, "outside 0 <= id < 2**63"),
    ("id at 2**63", [(2**63, GOOD)], InvalidVectorError, 0, "outside 0 <= id < 2**63"),
    ("bool id", [(True, GOOD)], InvalidVectorError, 0, "ids must be integers"),
    ("float id", [(1.0, GOOD)], InvalidVectorError, 0, "ids must be integers"),
    ("None id", [(None, GOOD)], InvalidVectorError, 0, "ids must be integers"),
    ("dict without vector", [{"id": 1}], InvalidVectorError, 0, "needs both 'id' and 'vector'"),
    (
        "dict with an unknown key",
        [{"id": 1, "vector": GOOD, "payload": {}}],
        InvalidVectorError,
        0,
        "unknown key(s) ['payload']",
    ),
    ("one-element tuple", [(1,)], InvalidVectorError, 0, "expected a dict or an (id, vector"),
    (
        "five-element tuple",
        [(1, GOOD, None, None, None)],
        InvalidVectorError,
        0,
        "expected a dict or an (id, vector",
    ),
    ("item of text", [(1, GOOD, "text")], InvalidVectorError, 0, "item must be bytes"),
    (
        "item too large",
        [(1, GOOD, b"x" * (MAX_ITEM + 1))],
        InvalidVectorError,
        0,
        "above the limit of 16",
    ),
    (
        "metadata not a dict",
        [(1, GOOD, None, ["a"])],
        InvalidVectorError,
        0,
        "metadata must be a dict",
    ),
    (
        "metadata key not text",
        [(1, GOOD, None, {1: "a"})],
        InvalidVectorError,
        0,
        "metadata key 1 is not a string",
    ),
    (
        "reserved metadata key",
        [(1, GOOD, None, {"_vecq_seq": 1})],
        InvalidVectorError,
        0,
        "is reserved",
    ),
    (
        "NaN in metadata",
        [(1, GOOD, None, {"x": float("nan")})],
        InvalidVectorError,
        0,
        "must be finite",
    ),
    (
        "metadata int beyond int64",
        [(1, GOOD, None, {"x": 2**64})],
        InvalidVectorError,
        0,
        "does not fit in int64",
    ),
]


@pytest.mark.parametrize(
    ("records", "kind", "row", "fragment"),
    [case[1:] for case in RECORD_CASES],
    ids=[case[0] for case in RECORD_CASES],
)
def test_a_bad_record_raises_its_typed_error_naming_the_row(
    records: Any, kind: type[InvalidInputError], row: int | None, fragment: str
) -> None:
    """Each rule of the list form, broken once: its error class, its row, its words."""
    with pytest.raises(kind) as raised:
        from_records(records, DIM, MAX_ITEM)
    assert isinstance(raised.value, ValueError)
    assert fragment in str(raised.value)
    assert raised.value.row == row


ARRAY_CASES: list[tuple[str, Any, Any, type[InvalidInputError], int | None, str]] = [
    ("1-D vectors", [1], np.zeros(3), InvalidVectorError, None, "must be a 2-D array"),
    ("3-D vectors", [1], np.zeros((1, 1, 3)), InvalidVectorError, None, "must be a 2-D array"),
    ("2-D ids", [[1]], np.zeros((1, 3)), InvalidVectorError, None, "ids must be a 1-D array"),
    ("float ids", np.array([1.0]), np.zeros((1, 3)), InvalidVectorError, None, "integer dtype"),
    ("bool ids", np.array([True]), np.zeros((1, 3)), InvalidVectorError, None, "integer dtype"),
    (
        "more ids than vectors",
        np.arange(2),
        np.zeros((1, 3)),
        InvalidVectorError,
        None,
        "2 ids but 1 vectors",
    ),
    (
        "wrong width",
        np.arange(2),
        np.zeros((2, 4)),
        DimensionMismatchError,
        0,
        "vector has 4 dimensions, the index expects 3",
    ),
    (
        "negative id in row 1",
        np.array([5, -5]),
        np.zeros((2, 3)),
        InvalidVectorError,
        1,
        "row 1: id -5",
    ),
    (
        "uint64 id at 2**63",
        np.array([1, 2**63], np.uint64),
        np.zeros((2, 3)),
        InvalidVectorError,
        1,
        "row 1: id 9223372036854775808",
    ),
    (
        "NaN in row 1",
        np.arange(2),
        np.array([[0, 0, 0], [0, np.nan, 0]]),
        InvalidVectorError,
        1,
        "row 1 (id 1): vector holds NaN",
    ),
    (
        "text vectors",
        np.arange(1),
        np.array([["a", "b", "c"]]),
        InvalidVectorError,
        None,
        "real numbers",
    ),
    (
        "complex vectors",
        np.arange(1),
        np.zeros((1, 3), complex),
        InvalidVectorError,
        None,
        "real numbers",
    ),
]


@pytest.mark.parametrize(
    ("ids", "vectors", "kind", "row", "fragment"),
    [case[1:] for case in ARRAY_CASES],
    ids=[case[0] for case in ARRAY_CASES],
)
def test_bad_arrays_raise_their_typed_error(
    ids: Any, vectors: Any, kind: type[InvalidInputError], row: int | None, fragment: str
) -> None:
    """Each rule of the NumPy form, broken once."""
    with pytest.raises(kind) as raised:
        from_arrays(ids, vectors, DIM)
    assert fragment in str(raised.value)
    assert raised.value.row == row


@pytest.mark.parametrize(
    ("metadata", "fragment"),
    [([{"a": 1}], "1 metadata entries for 2 ids"), ([{"a": 1}, {"_vecq": 2}], "is reserved")],
)
def test_per_row_metadata_of_the_array_form_is_checked(metadata: Any, fragment: str) -> None:
    """Metadata beside arrays must have one entry per id and follow the metadata rules."""
    with pytest.raises(InvalidVectorError, match=fragment):
        from_arrays(np.arange(2), np.zeros((2, DIM)), DIM, metadata)


GOOD_VALUES: list[tuple[str, Any, Any]] = [
    ("numpy int id", np.int32(7), 7),
    ("largest id", 2**63 - 1, 2**63 - 1),
    ("zero id", 0, 0),
]


@pytest.mark.parametrize(
    ("value", "expected"), [c[1:] for c in GOOD_VALUES], ids=[c[0] for c in GOOD_VALUES]
)
def test_valid_ids_are_accepted_as_ints(value: Any, expected: int) -> None:
    """Python and NumPy integers in range pass, as plain ints."""
    assert check_id(value, 0) == expected


def test_items_and_metadata_that_pass_are_returned_as_given() -> None:
    """bytearray and memoryview items become bytes; flat metadata passes; None stays None."""
    assert check_item(bytearray(b"ab"), 0, 1, MAX_ITEM) == b"ab"
    assert check_item(memoryview(b"ab"), 0, 1, MAX_ITEM) == b"ab"
    assert check_item(None, 0, 1, MAX_ITEM) is None
    meta = {"s": "x", "i": -(2**63), "f": 1.5, "b": False}
    assert metadata.check(meta, 0, 1) == meta
    assert metadata.check(None, 0, 1) is None


def test_duplicate_ids_keep_their_last_occurrence_in_order() -> None:
    """ids 5, 6, 5, 7, 6: the rows of the last 5, 7 and 6, in that order."""
    keep = last_occurrences(np.array([5, 6, 5, 7, 6], np.int64))
    assert keep is not None and keep.tolist() == [2, 3, 4]
    assert last_occurrences(np.array([1, 2, 3], np.int64)) is None
    points = from_records([(5, [1, 1, 1]), (6, GOOD), (5, [2, 2, 2])], DIM, MAX_ITEM)
    assert points.ids.tolist() == [6, 5]
    assert points.vectors[1].tolist() == [2, 2, 2]


def test_huge_finite_vectors_pass_and_a_nan_among_them_is_found() -> None:
    """Values near float32's limit sum to infinity but are finite: accepted; a NaN is not."""
    big = np.full((5, DIM), 3e38, dtype=np.float32)
    assert len(from_arrays(np.arange(5), big, DIM)) == 5
    big[3, 1] = np.nan
    with pytest.raises(InvalidVectorError) as raised:
        from_arrays(np.arange(5), big, DIM)
    assert raised.value.row == 3
