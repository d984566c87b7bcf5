"""The one column type: select and concat keep every column, and a subclass's other fields."""

from __future__ import annotations

import numpy as np

from vecq.shared.points.columns import Columns
from vecq.shared.points.validation import Points
from vecq.shared.wire.codec import Batch


def _columns(n: int, start: int = 0, **extra: object) -> Columns:
    ids = np.arange(start, start + n, dtype=np.int64)
    return Columns(ids, np.full((n, 2), ids[:, None], np.float32), **extra)  # type: ignore[arg-type]


def test_select_picks_every_column_by_rows_or_slice() -> None:
    """Row numbers and slices pick the same rows of arrays and lists alike."""
    cols = _columns(4, items=[b"a", None, b"c", b"d"], names=[None, "x", None, "y"])
    by_rows = cols.select(np.array([3, 1], dtype=np.intp))
    assert by_rows.ids.tolist() == [3, 1] and by_rows.vectors[:, 0].tolist() == [3, 1]
    assert by_rows.items == [b"d", None] and by_rows.names == ["y", "x"]
    assert by_rows.metadata is None
    by_slice = cols.select(slice(1, 3))
    assert by_slice.ids.tolist() == [1, 2] and by_slice.items == [None, b"c"]


def test_select_of_ids_only_leaves_the_vectors_whole() -> None:
    """The blob encoder gathers vectors itself: ``arrays=("ids",)`` does not copy them."""
    cols = _columns(5, metadata=[{"k": i} for i in range(5)])
    chosen = cols.select(np.array([4, 0], dtype=np.intp), arrays=("ids",))
    assert chosen.vectors is cols.vectors
    assert chosen.ids.tolist() == [4, 0] and chosen.metadata == [{"k": 4}, {"k": 0}]


def test_concat_fills_a_column_some_parts_lack_with_none() -> None:
    """A part without items contributes None per row; a column no part has stays None."""
    joined = Columns.concat([_columns(2, items=[b"a", b"b"]), _columns(3, start=10)])
    assert joined.ids.tolist() == [0, 1, 10, 11, 12]
    assert joined.vectors.shape == (5, 2)
    assert joined.items == [b"a", b"b", None, None, None]
    assert joined.metadata is None and joined.names is None


def test_select_keeps_the_fields_of_points_and_batches() -> None:
    """A Points keeps its op, a Batch its index, shard and seq, through select."""
    points = Points(np.array([5, 6], np.int64), np.zeros((2, 0), np.float32), op="delete")
    assert points.select(np.array([1], dtype=np.intp)).op == "delete"
    cols = _columns(3)
    batch = Batch(cols.ids, cols.vectors, index="i", index_uid=b"u" * 16, shard=2, seq=9)
    picked = batch.select(slice(0, 1))
    assert isinstance(picked, Batch) and (picked.index, picked.shard, picked.seq) == ("i", 2, 9)
    assert batch.with_columns(_columns(1, start=7)).ids.tolist() == [7]
    plain = batch.columns()
    assert type(plain) is Columns and plain.ids is batch.ids and plain.vectors is batch.vectors
