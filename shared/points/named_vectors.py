"""Named vectors as columns: one :class:`VectorColumn` per vector name of a call or batch.

A dense column is an ``(n, size)`` float32 array; a multivector column is its rows one
after another with ``n + 1`` offsets; a sparse column is its values (float32) and indices
(uint32) with ``n + 1`` offsets. ``present`` marks the points that carry the vector (a point
may leave a named vector out); ``None`` means every point does. Nothing here ever holds a
vector as Python floats: the producer builds the arrays once, the blob carries them as raw
bytes (``shared/wire/codec.py``), and the engines take rows as views.

Building columns from what callers pass is ``shared/points/named_input.py``. The rules (each
violation names the row, the id and the vector; checked there, and again here by
:func:`check` on a decoded batch):
dense: ``size`` finite real numbers; multivector: a non-empty 2-D array of rows of ``size``;
sparse: unique integer indices in 0..2**32-1 and as many finite values.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from vecq.shared.errors import DimensionMismatchError, InvalidVectorError
from vecq.shared.points.vector_schema import MAX_SPARSE_INDEX, Kind, Schema, VectorSpec

Rows = slice | npt.NDArray[np.intp]
_EMPTY_F = np.empty(0, dtype=np.float32)
_EMPTY_U = np.empty(0, dtype=np.uint32)


@dataclass(frozen=True)
class VectorColumn:
    """One named vector of ``n`` points (see the module's docstring for the layout)."""

    kind: Kind
    dim: int
    """Components of a dense vector or of a multivector's row; 0 for sparse."""
    values: npt.NDArray[np.float32]
    offsets: npt.NDArray[np.int64] | None = None
    indices: npt.NDArray[np.uint32] | None = None
    present: npt.NDArray[np.bool_] | None = None

    def __len__(self) -> int:
        if self.offsets is not None:
            return int(self.offsets.shape[0]) - 1
        return int(self.values.shape[0])

    def has(self, row: int) -> bool:
        return self.present is None or bool(self.present[row])

    @property
    def count(self) -> int:
        """Points that carry the vector."""
        return len(self) if self.present is None else int(self.present.sum())

    def floats(self) -> int:
        """Float32 values held (the wire and request size of the column)."""
        return int(self.values.size) + (int(self.indices.size) if self.indices is not None else 0)

    def row(self, i: int) -> Any:
        """Point ``i``'s vector: a float32 row, an array of rows, or ``(indices, values)``."""
        if self.offsets is None:
            return self.values[i]
        start, end = int(self.offsets[i]), int(self.offsets[i + 1])
        if self.indices is None:
            return self.values[start:end]
        return self.indices[start:end], self.values[start:end]

    def select(self, rows: Rows) -> VectorColumn:
        present = None if self.present is None else self.present[rows]
        if self.offsets is None:
            return VectorColumn(self.kind, self.dim, self.values[rows], present=present)
        picked = np.arange(len(self))[rows]
        starts, ends = self.offsets[picked], self.offsets[picked + 1]
        offsets = np.zeros(picked.size + 1, dtype=np.int64)
        np.cumsum(ends - starts, out=offsets[1:])
        gather = _ranges(starts, ends)
        indices = None if self.indices is None else self.indices[gather]
        return VectorColumn(self.kind, self.dim, self.values[gather], offsets, indices, present)

    @staticmethod
    def absent(kind: Kind, dim: int, n: int) -> VectorColumn:
        """A column of ``n`` points none of which carries the vector."""
        present = np.zeros(n, dtype=bool)
        if kind == "dense":
            return VectorColumn(kind, dim, np.zeros((n, dim), dtype=np.float32), present=present)
        offsets = np.zeros(n + 1, dtype=np.int64)
        values = np.empty((0, dim) if kind == "multi" else 0, dtype=np.float32)
        return VectorColumn(
            kind, dim, values, offsets, _EMPTY_U if kind == "sparse" else None, present
        )

    @staticmethod
    def concat(parts: Sequence[VectorColumn]) -> VectorColumn:
        first = parts[0]
        present = None
        if any(p.present is not None for p in parts):
            present = np.concatenate(
                [p.present if p.present is not None else np.ones(len(p), dtype=bool) for p in parts]
            )
        values = np.concatenate([p.values for p in parts])
        if first.offsets is None:
            return VectorColumn(first.kind, first.dim, values, present=present)
        sizes = np.concatenate([np.diff(p.offsets) for p in parts if p.offsets is not None])
        offsets = np.zeros(sizes.size + 1, dtype=np.int64)
        np.cumsum(sizes, out=offsets[1:])
        indices = None
        if first.indices is not None:
            indices = np.concatenate([p.indices for p in parts if p.indices is not None])
        return VectorColumn(first.kind, first.dim, values, offsets, indices, present)


Named = Mapping[str, VectorColumn]


def select(named: Named, rows: Rows) -> dict[str, VectorColumn]:
    return {name: column.select(rows) for name, column in named.items()}


def concat(parts: Sequence[Named | None], lengths: Sequence[int]) -> dict[str, VectorColumn]:
    """The named columns of several parts, row after row (a vector absent from a part is
    absent from its rows)."""
    shapes: dict[str, tuple[Kind, int]] = {}
    for part in parts:
        for name, column in (part or {}).items():
            shapes.setdefault(name, (column.kind, column.dim))
    joined = {}
    for name, (kind, dim) in shapes.items():
        columns = [
            (part or {}).get(name) or VectorColumn.absent(kind, dim, n)
            for part, n in zip(parts, lengths, strict=True)
        ]
        joined[name] = VectorColumn.concat(columns)
    return joined


def _ranges(starts: npt.NDArray[np.int64], ends: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """The positions ``starts[i]..ends[i]`` of every range, one after another."""
    lengths = ends - starts
    total = int(lengths.sum())
    if total == 0:
        return np.empty(0, dtype=np.int64)
    steps = np.ones(total, dtype=np.int64)
    heads = np.zeros(lengths.size + 1, dtype=np.int64)
    np.cumsum(lengths, out=heads[1:])
    nonempty = lengths > 0
    # At each range's first position, jump from the previous range's end to its start.
    first = heads[:-1][nonempty]
    jump = starts[nonempty].copy()
    jump[1:] -= ends[nonempty][:-1] - 1
    steps[first] = jump
    return np.cumsum(steps)


def check(named: Named, schema: Schema, ids: Sequence[Any], n: int) -> None:
    """The worker's second look at a decoded batch's columns: names, shapes and values."""
    for name, column in named.items():
        spec = schema.spec(name)
        if spec is None or column.kind != spec.kind or len(column) != n:
            raise InvalidVectorError(f"batch carries vector {name!r}, which the index has not")
        if isinstance(spec, VectorSpec) and column.dim != spec.size:
            raise DimensionMismatchError(
                f"vector {name!r} has {column.dim} dimensions, the index expects {spec.size}"
            )
        check_finite(name, column, ids)
        if column.kind == "sparse" and column.indices is not None and column.offsets is not None:
            sizes = np.diff(column.offsets)
            if not sparse_ok(column.indices, column.values, sizes):
                row = first_repeat(column.indices, sizes)
                raise InvalidVectorError(where(row, ids, name, "repeats an index"), row=row)
        if column.kind == "multi" and column.offsets is not None:
            empty = (np.diff(column.offsets) == 0) & (
                column.present if column.present is not None else True
            )
            if empty.any():
                row = int(np.argmax(empty))
                raise InvalidVectorError(where(row, ids, name, "is an empty multivector"), row=row)


def first_repeat(indices: npt.NDArray[Any], sizes: npt.NDArray[np.int64]) -> int:
    """The first row whose indices repeat one (its position among ``sizes``)."""
    rows = np.repeat(np.arange(sizes.size, dtype=np.int64), sizes)
    keys = (rows << 32) | indices.astype(np.int64)
    order = np.argsort(keys, kind="stable")
    repeated = keys[order][1:] == keys[order][:-1]
    return int(rows[order][1:][repeated].min()) if repeated.any() else 0


def sparse_ok(
    indices: npt.NDArray[Any], values: npt.NDArray[Any], sizes: npt.NDArray[np.int64]
) -> bool:
    """True if every row's indices are integers in range and unique, and values numbers."""
    if values.dtype.kind not in "fiu" or (indices.size and indices.dtype.kind not in "iu"):
        return False
    if indices.size == 0:
        return True
    if int(indices.min()) < 0 or int(indices.max()) > MAX_SPARSE_INDEX:
        return False
    falls = np.flatnonzero(indices[1:] <= indices[:-1])  # i: the next index is not greater
    ends = np.cumsum(sizes)[:-1] - 1  # the last position of every row but the last
    if np.isin(falls, ends).all():
        return True  # strictly increasing within each row (the usual, sorted form)
    rows = np.repeat(np.arange(sizes.size, dtype=np.int64), sizes)
    keys = np.sort((rows << 32) | indices.astype(np.int64))
    return not np.any(keys[1:] == keys[:-1])


def float32(array: npt.NDArray[Any]) -> npt.NDArray[np.float32]:
    """``array`` as contiguous float32 (values beyond float32's range become inf: the
    finiteness checks then name them)."""
    with np.errstate(over="ignore", invalid="ignore"):
        return np.ascontiguousarray(array, dtype=np.float32)


def check_finite(name: str, column: VectorColumn, ids: Sequence[Any]) -> None:
    values = column.values
    with np.errstate(over="ignore", invalid="ignore"):
        if values.size == 0 or np.isfinite(np.add.reduce(values, axis=None)):
            return
        finite = np.isfinite(values)
    if finite.all():
        return
    bad = int(np.argmin(finite.reshape(finite.shape[0], -1).all(axis=1)))
    if column.offsets is None:
        row = bad
    else:
        row = int(np.searchsorted(column.offsets, bad, side="right")) - 1
    raise InvalidVectorError(
        where(
            row,
            ids,
            name,
            "holds NaN or infinity as float32 (values beyond +-3.4e38 "
            "overflow); replace or drop it",
        ),
        row=row,
    )


def where(row: int, ids: Sequence[Any], name: str, what: str) -> str:
    return f"row {row} (id {ids[row]!r}): vector {name!r} {what}"
