"""Property tests: invalid input never reaches Redis; valid input round-trips exactly.

They cover every call that enqueues: upsert (list and NumPy forms, integer and string ids,
JSON metadata), delete and update_metadata.
"""

from __future__ import annotations

import datetime as dt
import math
import uuid
from typing import Any

import numpy as np
import pytest
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.engines import ENGINES
from tests.support.snapshots import snapshot
from vecq import Client, Index, InvalidInputError
from vecq.api.ingest.verify import FLOAT_ULPS
from vecq.shared.points.metadata import rfc3339

pytestmark = [pytest.mark.integration, pytest.mark.engines(*ENGINES)]

DIM = 4
_SETTINGS = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

finite = st.floats(width=32, allow_nan=False, allow_infinity=False)
ids = st.integers(min_value=0, max_value=2**63 - 1) | st.text(min_size=1, max_size=24)
meta_key = st.text(min_size=1, max_size=10).filter(lambda k: not k.startswith("_vecq"))
meta_leaf = st.one_of(
    st.none(),
    st.text(max_size=20),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    st.datetimes(timezones=st.just(dt.UTC) | st.none()),
)
meta_value = st.recursive(
    meta_leaf,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(meta_key, inner, max_size=3),
    max_leaves=8,
)
metadata = st.none() | st.dictionaries(meta_key, meta_value, max_size=4)
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
    """ids (integers and strings), float32 vectors, items and JSON metadata come back as sent.

    Datetimes come back as their RFC 3339 text. One exception, Qdrant Edge's own: it stores
    a float payload value to within a few ULP (it parses numbers the way serde_json does by
    default), so there floats compare that closely.
    """
    index.upsert(records, timeout=30)
    got = {p["id"]: p for p in index.get([r["id"] for r in records])}
    for sent in records:
        back = got[sent["id"]]
        assert np.array_equal(np.float32(back["vector"]), np.float32(sent["vector"]))
        assert back["item"] == sent.get("item")
        expected = _as_stored(sent.get("metadata")) or None
        if engine == "edge" and expected is not None:
            expected = _within_ulps(expected, back["metadata"])
        assert (back["metadata"] or None) == expected


def _as_stored(value: Any) -> Any:
    """Metadata as Qdrant holds it: datetimes as RFC 3339 text."""
    if isinstance(value, dict):
        return {k: _as_stored(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_as_stored(v) for v in value]
    return rfc3339(value) if isinstance(value, dt.date) else value


def _within_ulps(sent: Any, back: Any) -> Any:
    """``back`` where it matches ``sent`` with floats to within a few ULP (vecq verify's
    FLOAT_ULPS; Edge was seen 3 ULP off at 1.39e+247), else ``sent`` (so a diff shows),
    through nested dicts and lists."""
    if isinstance(sent, float) and isinstance(back, float):
        return back if abs(back - sent) <= FLOAT_ULPS * math.ulp(sent) else sent
    if isinstance(sent, dict) and isinstance(back, dict):
        return {k: _within_ulps(v, back.get(k)) for k, v in sent.items()}
    if isinstance(sent, list) and isinstance(back, list) and len(sent) == len(back):
        return [_within_ulps(s, b) for s, b in zip(sent, back, strict=True)]
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


def _deep(levels: int) -> Any:
    value: Any = 1
    for _ in range(levels):
        value = [value]
    return value


# Metadata that breaks one rule each: reserved keys at any depth, non-string keys, values
# JSON cannot hold, nesting past the limit, a tree past the size limit, not a dict at all.
BAD_METADATA: list[Any] = [
    {"_vecq_seq": 1},
    {"a": {"_vecq_seq": 1}},
    {"a": [{"b": {"_vecq": 2}}]},
    {1: "x"},
    {"a": {2: "x"}},
    {"f": float("nan")},
    {"a": [1.0, float("inf")]},
    {"big": 2**64},
    {"s": {1, 2}},
    {"b": b"bytes"},
    {"deep": _deep(9)},
    {"huge": "x" * 70_000},
    "not a dict",
    ["a"],
]


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
            st.sampled_from(
                [-1, 2**63, True, 1.5, "", "\ud800", "x" * 513, None, b"7", np.uint64(2**63 + 1)]
            )
        )
    elif kind == "item":
        bad["item"] = data.draw(st.sampled_from(["text", 3, [1, 2], b"x" * (2**20 + 1)]))
    elif kind == "metadata":
        bad["metadata"] = data.draw(st.sampled_from(BAD_METADATA))
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


@_SETTINGS
@given(
    ids_=st.lists(ids, min_size=1, max_size=20),
    bad=st.sampled_from([-1, 2**63, True, 1.5, "", None, b"x", [1], {"id": 1}]),
    data=st.data(),
)
def test_any_invalid_delete_raises_before_anything_reaches_redis(
    index: Index, r: redis.Redis, ids_: list[Any], bad: Any, data: st.DataObject
) -> None:
    """One bad id anywhere in a delete: a typed ValueError naming its row; Redis unchanged."""
    row = data.draw(st.integers(0, len(ids_) - 1))
    ids_[row] = bad
    before = snapshot(r)
    with pytest.raises(InvalidInputError) as caught:
        index.delete(ids_, timeout=30)
    assert caught.value.row == row and f"row {row}" in str(caught.value)
    assert snapshot(r) == before


@_SETTINGS
@given(
    updates=st.lists(
        st.fixed_dictionaries(
            {"id": ids, "metadata": st.dictionaries(meta_key, meta_value, min_size=1, max_size=3)}
        ),
        min_size=1,
        max_size=20,
    ),
    kind=st.sampled_from(["id", "metadata", "empty", "vector", "missing"]),
    data=st.data(),
)
def test_any_invalid_update_raises_before_anything_reaches_redis(
    index: Index, r: redis.Redis, updates: list[dict[str, Any]], kind: str, data: st.DataObject
) -> None:
    """A bad id, bad or empty metadata, a vector, a missing field: typed error, Redis unchanged."""
    row = data.draw(st.integers(0, len(updates) - 1))
    if kind == "id":
        updates[row]["id"] = data.draw(st.sampled_from([-1, 2**63, 1.5, "", None]))
    elif kind == "metadata":
        updates[row]["metadata"] = data.draw(st.sampled_from(BAD_METADATA))
    elif kind == "empty":
        updates[row]["metadata"] = {}
    elif kind == "vector":
        updates[row]["vector"] = [0.0] * DIM
    else:
        del updates[row]["metadata"]
    before = snapshot(r)
    with pytest.raises(InvalidInputError) as caught:
        index.update_metadata(updates, timeout=30)
    assert caught.value.row == row and str(caught.value).startswith(f"row {row}")
    assert snapshot(r) == before


@_SETTINGS
@given(
    records=st.lists(record, min_size=1, max_size=12, unique_by=lambda r: r["id"]),
    patches=st.lists(
        st.dictionaries(meta_key, meta_value, min_size=1, max_size=3), min_size=1, max_size=3
    ),
    drop=st.booleans(),
)
def test_updates_merge_in_order_and_deletes_remove(
    index: Index,
    records: list[dict[str, Any]],
    patches: list[dict[str, Any]],
    drop: bool,
    engine: str,
) -> None:
    """Metadata updates merge keys in call order (None removes a key); a delete removes
    every id; get says so."""
    index.upsert(records, timeout=30)
    first = records[0]["id"]
    for patch in patches:
        index.update_metadata([{"id": first, "metadata": patch}], timeout=30)
    expected = _as_stored(records[0].get("metadata") or {})
    for patch in patches:  # a key set to None is removed (Qdrant's set_payload)
        for key, value in _as_stored(patch).items():
            if value is None:
                expected.pop(key, None)
            else:
                expected[key] = value
    back = index.get([first])[0]["metadata"]
    if engine == "edge":
        expected = _within_ulps(expected, back)
    assert back == expected
    if drop:
        index.delete([r["id"] for r in records], timeout=30)
        assert index.get([r["id"] for r in records]) == []
