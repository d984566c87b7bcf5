"""Property tests: invalid input never reaches Redis; valid input round-trips exactly."""

from __future__ import annotations

import math
import uuid
from typing import Any

import numpy as np
import pytest
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from api import Client, Index, InvalidInputError
from tests.support.engines import ENGINES
from tests.support.snapshots import snapshot

pytestmark = [pytest.mark.integration, pytest.mark.engines(*ENGINES)]

DIM = 4
_SETTINGS = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

finite = st.floats(width=32, allow_nan=False, allow_infinity=False)
ids = st.integers(min_value=0, max_value=2**63 - 1)
meta_value = st.one_of(
    st.text(max_size=20),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
)
metadata = st.none() | st.dictionaries(
    st.text(min_size=1, max_size=10).filter(lambda k: not k.startswith("_vecq")),
    meta_value,
    max_size=4,
)
record = st.fixed_dictionaries(
    {"id": ids, "vector": st.lists(finite, min_size=DIM, max_size=DIM)},
    optional={"item": st.none() | st.binary(max_size=64), "metadata": metadata},
)


@pytest.fixture(scope="module")
def index(client: Client) -> Index:
    """One dot-product index for every example (dot keeps vectors exactly as sent)."""
    name = f"prop-{uuid.uuid4().hex[:8]}"
    return client.create_index(name, index_key=client.generate_key(), dimension=DIM, metric="dot")


@_SETTINGS
@given(records=st.lists(record, min_size=1, max_size=30, unique_by=lambda r: r["id"]))
def test_valid_records_round_trip_exactly(
    index: Index, records: list[dict[str, Any]], engine: str
) -> None:
    """ids, float32 vectors, items and metadata come back exactly as sent.

    One exception, Qdrant Edge's own: it stores a float payload value to within 2 ULP (it
    parses numbers the way serde_json does by default), so there floats compare that closely.
    """
    index.upsert(records, timeout=30)
    got = {p["id"]: p for p in index.get([r["id"] for r in records])}
    for sent in records:
        back = got[sent["id"]]
        assert np.array_equal(np.float32(back["vector"]), np.float32(sent["vector"]))
        assert back["item"] == sent.get("item")
        expected = sent.get("metadata") or None
        if engine == "edge" and expected is not None:
            expected = {k: _within_2_ulp(v, back["metadata"].get(k)) for k, v in expected.items()}
        assert (back["metadata"] or None) == expected


def _within_2_ulp(sent: Any, back: Any) -> Any:
    """``back`` if it is the float ``sent`` to within 2 ULP, else ``sent`` (so a diff shows)."""
    if isinstance(sent, float) and isinstance(back, float):
        return back if abs(back - sent) <= 2 * math.ulp(sent) else sent
    return sent


@_SETTINGS
@given(
    n=st.integers(1, 300),
    seed=st.integers(0, 2**32 - 1),
    dtype=st.sampled_from([np.float32, np.float64, np.float16, np.int32]),
    fortran=st.booleans(),
)
def test_valid_arrays_round_trip_exactly(
    index: Index, n: int, seed: int, dtype: type, fortran: bool
) -> None:
    """The NumPy form stores every id with its vector converted to float32, in any layout."""
    rng = np.random.default_rng(seed)
    point_ids = rng.choice(2**62, size=n, replace=False)
    vectors = (rng.standard_normal((n, DIM)) * 100).astype(dtype)
    vectors = np.asfortranarray(vectors) if fortran else vectors
    index.upsert(point_ids, vectors, timeout=30)
    back = {p["id"]: p["vector"] for p in index.get(point_ids.tolist())}
    assert set(back) == set(point_ids.tolist())
    stored = np.array([back[i] for i in point_ids.tolist()], dtype=np.float32)
    assert np.array_equal(stored, vectors.astype(np.float32))


def _break(kind: str, records: list[dict[str, Any]], row: int, data: st.DataObject) -> None:
    bad = records[row]
    if kind == "nan":
        bad["vector"][data.draw(st.integers(0, DIM - 1))] = data.draw(
            st.sampled_from([float("nan"), float("inf"), -float("inf"), 1e39])
        )
    elif kind == "dimension":
        bad["vector"] = bad["vector"] + [0.0] if data.draw(st.booleans()) else bad["vector"][:-1]
    elif kind == "id":
        bad["id"] = data.draw(
            st.sampled_from([-1, 2**63, True, 1.5, "7", None, np.uint64(2**63 + 1)])
        )
    elif kind == "item":
        bad["item"] = data.draw(st.sampled_from(["text", 3, [1, 2], b"x" * (2**20 + 1)]))
    elif kind == "metadata":
        bad["metadata"] = data.draw(
            st.sampled_from(
                [{"_vecq_seq": 1}, {"a": {"nested": 1}}, {1: "x"}, {"a": [1]}, {"f": float("nan")},
                 {"big": 2**64}, "not a dict"]
            )
        )  # fmt: skip
    else:
        del bad["vector"]


@_SETTINGS
@given(
    records=st.lists(record, min_size=1, max_size=20, unique_by=lambda r: r["id"]),
    kind=st.sampled_from(["nan", "dimension", "id", "item", "metadata", "missing"]),
    data=st.data(),
)
def test_any_invalid_record_raises_before_anything_reaches_redis(
    index: Index, r: redis.Redis, records: list[dict[str, Any]], kind: str, data: st.DataObject
) -> None:
    """One bad field anywhere in a call: a typed ValueError, and not one Redis key changes."""
    row = data.draw(st.integers(0, len(records) - 1))
    _break(kind, records, row, data)
    before = snapshot(r)
    with pytest.raises(InvalidInputError) as caught:
        index.upsert(records, timeout=30)
    assert f"row {row}" in str(caught.value) or kind in {"dimension", "missing"}
    assert isinstance(caught.value, ValueError)
    if caught.value.row is not None:  # the row the error blames is the one it names first
        assert str(caught.value).startswith(f"row {caught.value.row}")
    assert snapshot(r) == before


@_SETTINGS
@given(
    n=st.integers(1, 50),
    mutation=st.sampled_from(["nan", "shape", "ids", "length", "dtype"]),
    seed=st.integers(0, 1000),
)
def test_any_invalid_array_raises_before_anything_reaches_redis(
    index: Index, r: redis.Redis, n: int, mutation: str, seed: int
) -> None:
    """NaN, a 1-D or wrong-width array, bad ids, unequal lengths, a non-numeric dtype: rejected."""
    rng = np.random.default_rng(seed)
    point_ids: Any = np.arange(n)
    vectors: Any = rng.standard_normal((n, DIM)).astype(np.float32)
    if mutation == "nan":
        vectors[rng.integers(n), rng.integers(DIM)] = np.nan
    elif mutation == "shape":
        vectors = vectors[:, :-1] if seed % 2 else vectors.ravel()
    elif mutation == "ids":
        point_ids = point_ids - 1 if seed % 2 else point_ids.astype(np.float64) + 0.5
    elif mutation == "length":
        point_ids = np.arange(n + 1)
    else:
        vectors = vectors.astype(str)
    before = snapshot(r)
    with pytest.raises(InvalidInputError) as caught:
        index.upsert(point_ids, vectors, timeout=30)
    assert isinstance(caught.value, ValueError)
    assert snapshot(r) == before
