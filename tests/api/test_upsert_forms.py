"""Every form of upsert in CyborgDB's reference, written through the pipeline and read back."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from vecq import Client, Index, PointsNotFoundError, UpsertJob


def vector_of(index: Index, point_id: int) -> list[float]:
    (point,) = index.get([point_id])
    return point["vector"]


def test_seed_example_single_upsert(
    client: Client, key: bytes, make_index: Callable[..., Index]
) -> None:
    """CyborgDB's single upsert example, verbatim, after load_index as it does."""
    index_name = make_index(dimension=3).name
    index_key = key
    # Load Index
    index = client.load_index(index_name=index_name, index_key=index_key)

    # Single upsert (wrapped in a list)
    index.upsert([{"id": 1, "vector": [0.1, 0.2, 0.3]}])

    assert index.count() == 1
    assert vector_of(index, 1) == pytest.approx([0.1, 0.2, 0.3], abs=1e-7)


def test_seed_example_batch_upsert(make_index: Callable[..., Index]) -> None:
    """CyborgDB's batch upsert example, verbatim."""
    index = make_index(dimension=3)
    # fmt: off
    # Batch upsert
    index.upsert([
        {"id": 1, "vector": [0.1, 0.2, 0.3]},
        {"id": 2, "vector": [0.4, 0.5, 0.6]}
    ])
    # fmt: on
    assert index.count() == 2
    assert vector_of(index, 2) == pytest.approx([0.4, 0.5, 0.6], abs=1e-7)


def test_seed_example_upsert_with_items(make_index: Callable[..., Index]) -> None:
    """CyborgDB's upsert with items, verbatim; items come back decrypted."""
    index = make_index(dimension=4)
    # fmt: off
    # Upsert with items
    index.upsert([
        {"id": 1, "vector": [0.1, 0.1, 0.1, 0.1], "item": b'item_contents_here...'},
        {"id": 2, "vector": [0.2, 0.2, 0.2, 0.2], "item": b'item_contents_here...'}
    ])
    # fmt: on
    points = index.get([1, 2])
    assert [p["item"] for p in points] == [b"item_contents_here...", b"item_contents_here..."]


def test_seed_example_numpy_keyword(make_index: Callable[..., Index]) -> None:
    """CyborgDB's NumPy example, verbatim: vectors=..., ids=... by keyword."""
    index = make_index(dimension=3)
    # NumPy-based upsert with two arrays
    vectors = np.array([[0.1, 0.2, 0.3], [0.4, 0.5, 0.6]], dtype=float)  # 2 vectors of dimension 3
    ids = np.array([101, 102], dtype=int)  # Unique integer IDs for each vector

    index.upsert(vectors=vectors, ids=ids)
    assert [p["id"] for p in index.get([101, 102])] == [101, 102]
    assert vector_of(index, 102) == pytest.approx([0.4, 0.5, 0.6], abs=1e-7)


def test_numpy_by_position(
    make_index: Callable[..., Index], make_vectors: Callable[..., np.ndarray]
) -> None:
    """upsert(ids, vectors) by position stores float32 vectors exactly."""
    index = make_index(dimension=16, shards=3)
    vectors = make_vectors(500, 16)
    index.upsert(np.arange(1000, 1500), vectors)
    assert index.count() == 500
    got = index.get([1000, 1499])
    np.testing.assert_array_equal(
        np.array([p["vector"] for p in got], dtype=np.float32), vectors[[0, 499]]
    )


def test_tuples_with_item_and_metadata(make_index: Callable[..., Index]) -> None:
    """(id, vector), (id, vector, item) and (id, vector, item, metadata) tuples all work."""
    index = make_index(dimension=3)
    index.upsert(
        [
            (1, [1.0, 0.0, 0.0]),
            (2, [0.0, 1.0, 0.0], b"two"),
            (3, [0.0, 0.0, 1.0], None, {"lang": "en", "n": 3, "score": 0.5, "ok": True}),
        ]
    )
    points = {p["id"]: p for p in index.get([1, 2, 3])}
    assert points[1]["item"] is None and points[1]["metadata"] == {}
    assert points[2]["item"] == b"two"
    assert points[3]["metadata"] == {"lang": "en", "n": 3, "score": 0.5, "ok": True}


@pytest.mark.parametrize(
    "layout",
    ["fortran", "strided rows", "strided columns", "float64", "int32", "big-endian float32"],
)
def test_unusual_array_layouts_are_accepted(
    make_index: Callable[..., Index], make_vectors: Callable[..., np.ndarray], layout: str
) -> None:
    """Fortran-order, non-contiguous and other real dtypes convert to the same float32 values."""
    index = make_index(dimension=8)
    base = make_vectors(64, 16)
    vectors = {
        "fortran": np.asfortranarray(base[:, :8]),
        "strided rows": base[::2, :8],
        "strided columns": base[:32, ::2],
        "float64": base[:32, :8].astype(np.float64),
        "int32": (base[:32, :8] * 100).astype(np.int32),
        "big-endian float32": base[:32, :8].astype(">f4"),
    }[layout]
    ids = np.arange(len(vectors), dtype=np.uint32)
    index.upsert(ids, vectors)
    stored = np.array([p["vector"] for p in index.get(ids)], dtype=np.float32)
    np.testing.assert_array_equal(stored, vectors.astype(np.float32))


def test_duplicate_ids_last_occurrence_wins(make_index: Callable[..., Index]) -> None:
    """Within one call the last occurrence of an id is the one stored, deterministically."""
    index = make_index(dimension=3)
    index.upsert(
        [
            {"id": 7, "vector": [1.0, 1.0, 1.0], "item": b"first"},
            {"id": 8, "vector": [2.0, 2.0, 2.0]},
            {"id": 7, "vector": [3.0, 3.0, 3.0], "item": b"last"},
        ]
    )
    point = index.get([7])[0]
    assert point["vector"] == [3.0, 3.0, 3.0]
    assert point["item"] == b"last"
    assert index.count() == 2


def test_duplicate_ids_numpy(make_index: Callable[..., Index]) -> None:
    """The NumPy form also keeps the last occurrence."""
    index = make_index(dimension=2)
    index.upsert(
        np.array([5, 5, 6, 5]), np.array([[1, 1], [2, 2], [3, 3], [4, 4]], dtype=np.float32)
    )
    assert vector_of(index, 5) == [4.0, 4.0]
    assert index.count() == 2


@pytest.mark.parametrize("empty", ["list", "numpy"])
def test_empty_input_is_a_finished_job(make_index: Callable[..., Index], empty: str) -> None:
    """An empty upsert returns a done job with nothing written."""
    index = make_index(dimension=3)
    job = (
        index.upsert([])
        if empty == "list"
        else index.upsert(np.empty(0, dtype=np.int64), np.empty((0, 3)))
    )
    assert isinstance(job, UpsertJob)
    assert job.status == "done"
    assert job.progress.total == 0
    assert index.count() == 0


def test_later_call_overwrites_earlier(make_index: Callable[..., Index]) -> None:
    """A second upsert of the same id replaces vector, item and metadata."""
    index = make_index(dimension=3)
    index.upsert([{"id": 1, "vector": [1.0, 0.0, 0.0], "item": b"a", "metadata": {"v": 1}}])
    index.upsert([{"id": 1, "vector": [0.0, 1.0, 0.0], "item": b"b", "metadata": {"v": 2}}])
    point = index.get([1])[0]
    assert (point["vector"], point["item"], point["metadata"]) == ([0.0, 1.0, 0.0], b"b", {"v": 2})


def test_get_keeps_request_order_and_leaves_out_missing(make_index: Callable[..., Index]) -> None:
    """get returns points in the order asked, skipping ids that were never written."""
    index = make_index(dimension=3, shards=4)
    index.upsert([(i, [float(i), 0.0, 0.0]) for i in range(10)])
    assert [p["id"] for p in index.get([9, 42, 0, 5])] == [9, 0, 5]


def test_batches_split_by_count_across_shards(
    client: Client, make_index: Callable[..., Index], make_vectors: Callable[..., np.ndarray]
) -> None:
    """A call larger than batch_size becomes several batches per shard, all written."""
    index = make_index(dimension=4, shards=3)
    n = 6 * client.settings.batch_size + 17  # ~2 full batches per shard
    job = index.upsert(np.arange(n), make_vectors(n, 4))
    state = job.state()
    assert state.batches >= 6
    assert (state.written, state.failed, job.status) == (n, 0, "done")
    assert index.count() == n


def test_get_leaves_out_missing_ids_or_raises_naming_them(make_index: Callable[..., Index]) -> None:
    """get() skips ids not stored (as CyborgDB's get does); missing="raise" names them instead,
    once each, integers and strings alike, and NumPy ids compare as their values."""
    index = make_index(dimension=3)
    index.upsert([{"id": 1, "vector": [1, 2, 3]}, {"id": "doc", "vector": [4, 5, 6]}])
    assert [p["id"] for p in index.get([7, 1, "nope", "doc"])] == [1, "doc"]
    assert [p["id"] for p in index.get(np.array([1]), missing="raise")] == [1]
    with pytest.raises(PointsNotFoundError, match="2 of 4 ids") as caught:
        index.get([7, 1, "nope", 7], missing="raise")
    assert caught.value.ids == [7, "nope"] and isinstance(caught.value, KeyError)
    with pytest.raises(ValueError, match="skip"):
        index.get([1], missing="ignore")
