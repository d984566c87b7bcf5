"""Named vectors as columns: one :class:`VectorColumn` per vector name of a call or batch.

A dense column is an ``(n, size)`` float32 array; a multivector column is its rows one
after another with ``n + 1`` offsets; a sparse column is its values (float32) and indices
(uint32) with ``n + 1`` offsets. ``present`` marks the points that carry the vector (a point
may leave a named vector out); ``None`` means every point does. Nothing here ever holds a
vector as Python floats: the producer builds the arrays once, the blob carries them as raw
bytes (``shared/codec.py``), and the engines take rows as views.

The rules (each violation names the row, the id and the vector):
dense: ``size`` finite real numbers; multivector: a non-empty 2-D array of rows of ``size``;
sparse: unique integer indices in 0..2**32-1 and as many finite values.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from shared.errors import DimensionMismatchError, InvalidVectorError
from shared.vector_schema import MAX_SPARSE_INDEX, Kind, Schema, SparseSpec, Spec, VectorSpec

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
        return VectorColumn(kind, dim, values, offsets,
                            _EMPTY_U if kind == "sparse" else None, present)  # fmt: skip

    @staticmethod
    def concat(parts: Sequence[VectorColumn]) -> VectorColumn:
        first = parts[0]
        present = None
        if any(p.present is not None for p in parts):
            present = np.concatenate([p.present if p.present is not None
                                      else np.ones(len(p), dtype=bool) for p in parts])  # fmt: skip
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


# --- building columns from what callers pass ----------------------------------------------


def from_records(
    vectors: Sequence[Any], ids: Sequence[Any], schema: Schema
) -> dict[str, VectorColumn]:
    """The columns of the list form's ``"vector"`` values: one dict of name to vector a row."""
    n = len(vectors)
    by_name: dict[str, list[Any]] = {name: [None] * n for name in schema.names}
    for row, value in enumerate(vectors):
        if not isinstance(value, Mapping):
            raise InvalidVectorError(
                f"row {row} (id {ids[row]!r}): this index has named vectors "
                f"({', '.join(schema.names)}): 'vector' must be a dict of name to vector, "
                f"got {type(value).__name__}",
                row=row,
            )
        if not value:
            raise InvalidVectorError(
                f"row {row} (id {ids[row]!r}): the point carries no vector; give at least one "
                f"of {', '.join(schema.names)}",
                row=row,
            )
        for name, vector in value.items():
            if name not in by_name:
                raise InvalidVectorError(_unknown(row, ids[row], name, schema), row=row)
            by_name[name][row] = vector
    return {name: build(name, spec, by_name[name], ids)
            for name in schema.names if (spec := schema.spec(name)) is not None}  # fmt: skip


def from_columns(vectors: Any, ids: Sequence[Any], n: int, schema: Schema) -> dict[str, Any]:
    """The columns of the NumPy form's ``vectors=``: a dict of name to column (a 2-D array
    for a dense vector, a list of 2-D arrays for a multivector, a SciPy CSR matrix or a list
    of ``(indices, values)`` for a sparse one; a list may hold ``None`` for a point without)."""
    if not isinstance(vectors, Mapping):
        raise InvalidVectorError(
            f"this index has named vectors ({', '.join(schema.names)}): vectors must be a dict "
            f"of name to column, got {type(vectors).__name__}"
        )
    if not vectors:
        raise InvalidVectorError(
            f"vectors is empty; give at least one of {', '.join(schema.names)}"
        )
    columns = {}
    for name, column in vectors.items():
        spec = schema.spec(name)
        if spec is None:
            raise InvalidVectorError(
                f"unknown vector {name!r}: this index has {', '.join(schema.names)}"
            )
        columns[name] = _column(name, spec, column, ids, n)
    _check_each_point_has_one(columns, ids, n, schema)
    return columns


def build(name: str, spec: Spec, values: Sequence[Any], ids: Sequence[Any]) -> VectorColumn:
    """One column from a value (or ``None``) per point, checked against ``spec``."""
    if isinstance(spec, SparseSpec):
        return _sparse_rows(name, values, ids)
    if spec.multivector:
        return _multi_rows(name, spec, values, ids)
    return _dense_rows(name, spec, values, ids)


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
        _check_finite(name, column, ids)
        if column.kind == "sparse" and column.indices is not None and column.offsets is not None:
            sizes = np.diff(column.offsets)
            if not _sparse_ok(column.indices, column.values, sizes):
                row = _first_repeat(column.indices, sizes)
                raise InvalidVectorError(_where(row, ids, name, "repeats an index"), row=row)
        if column.kind == "multi" and column.offsets is not None:
            empty = (np.diff(column.offsets) == 0) & (
                column.present if column.present is not None else True
            )
            if empty.any():
                row = int(np.argmax(empty))
                raise InvalidVectorError(_where(row, ids, name, "is an empty multivector"), row=row)


def _column(name: str, spec: Spec, column: Any, ids: Sequence[Any], n: int) -> VectorColumn:
    if isinstance(spec, SparseSpec) and _is_csr(column):
        return _from_csr(name, column, ids, n)
    if isinstance(spec, VectorSpec) and not spec.multivector and isinstance(column, np.ndarray):
        if column.ndim != 2 or column.shape[0] != n:
            raise InvalidVectorError(
                f"vector {name!r}: expected an array of shape ({n}, {spec.size}), "
                f"got {column.shape}"
            )
        if column.shape[1] != spec.size:
            raise DimensionMismatchError(
                f"row 0 (id {ids[0]!r}): vector {name!r} has {column.shape[1]} dimensions, "
                f"the index expects {spec.size}",
                row=0,
            )
        if column.dtype.kind not in "fiu":
            raise InvalidVectorError(f"vector {name!r} must hold real numbers, got {column.dtype}")
        result = VectorColumn("dense", spec.size, _float32(column))
        _check_finite(name, result, ids)
        return result
    if isinstance(column, (str, bytes, Mapping)) or not hasattr(column, "__len__"):
        raise InvalidVectorError(
            f"vector {name!r}: expected one entry per id, got {type(column).__name__}"
        )
    if len(column) != n:
        raise InvalidVectorError(
            f"vector {name!r}: {len(column)} entries for {n} ids: the lengths must match"
        )
    return build(name, spec, list(column), ids)


def _dense_rows(
    name: str, spec: VectorSpec, values: Sequence[Any], ids: Sequence[Any]
) -> VectorColumn:
    n = len(values)
    out = np.zeros((n, spec.size), dtype=np.float32)
    present = np.ones(n, dtype=bool)
    for row, value in enumerate(values):
        if value is None:
            present[row] = False
            continue
        array = _numbers(name, value, row, ids, 1)
        if array.shape[0] != spec.size:
            raise DimensionMismatchError(
                _where(row, ids, name, f"has {array.shape[0]} dimensions, the index expects "
                       f"{spec.size}"),
                row=row,
            )  # fmt: skip
        out[row] = array
    column = VectorColumn("dense", spec.size, out, present=None if present.all() else present)
    _check_finite(name, column, ids)
    return column


def _multi_rows(
    name: str, spec: VectorSpec, values: Sequence[Any], ids: Sequence[Any]
) -> VectorColumn:
    n = len(values)
    present = np.ones(n, dtype=bool)
    arrays = []
    sizes = np.zeros(n, dtype=np.int64)
    for row, value in enumerate(values):
        if value is None:
            present[row] = False
            continue
        array = _numbers(name, value, row, ids, 2)
        if array.shape[0] == 0:
            raise InvalidVectorError(_where(row, ids, name, "is an empty multivector"), row=row)
        if array.shape[1] != spec.size:
            raise DimensionMismatchError(
                _where(row, ids, name, f"has rows of {array.shape[1]} dimensions, the index "
                       f"expects {spec.size}"),
                row=row,
            )  # fmt: skip
        arrays.append(array)
        sizes[row] = array.shape[0]
    offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(sizes, out=offsets[1:])
    data = _float32(np.concatenate(arrays)) if arrays else np.empty((0, spec.size), np.float32)
    column = VectorColumn("multi", spec.size, data, offsets,
                          present=None if present.all() else present)  # fmt: skip
    _check_finite(name, column, ids)
    return column


def _sparse_rows(name: str, values: Sequence[Any], ids: Sequence[Any]) -> VectorColumn:
    """A sparse column from one ``(indices, values)`` (or ``None``) per point: checked over
    all rows at once; a row at fault is then found and named by :func:`_sparse_pair`."""
    n = len(values)
    present = np.ones(n, dtype=bool)
    index_parts, value_parts = [], []
    sizes = np.zeros(n, dtype=np.int64)
    for row, value in enumerate(values):
        if value is None:
            present[row] = False
            continue
        indices, vals = _as_arrays(*_sparse_parts(name, value, row, ids))
        if indices is None or vals is None or indices.shape != vals.shape or indices.ndim != 1:
            indices, vals = _sparse_pair(name, value, row, ids)  # raises, naming what is wrong
        index_parts.append(indices)
        value_parts.append(vals)
        sizes[row] = indices.size
    all_indices = np.concatenate(index_parts) if index_parts else _EMPTY_U
    all_values = np.concatenate(value_parts) if value_parts else _EMPTY_F
    if not _sparse_ok(all_indices, all_values, sizes[present]):
        for row, value in enumerate(values):
            if value is not None:
                _sparse_pair(name, value, row, ids)
    offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(sizes, out=offsets[1:])
    column = VectorColumn("sparse", 0, _float32(all_values), offsets, all_indices.astype(np.uint32),
                          None if present.all() else present)  # fmt: skip
    _check_finite(name, column, ids)
    return column


def _first_repeat(indices: npt.NDArray[Any], sizes: npt.NDArray[np.int64]) -> int:
    """The first row whose indices repeat one (its position among ``sizes``)."""
    rows = np.repeat(np.arange(sizes.size, dtype=np.int64), sizes)
    keys = (rows << 32) | indices.astype(np.int64)
    order = np.argsort(keys, kind="stable")
    repeated = keys[order][1:] == keys[order][:-1]
    return int(rows[order][1:][repeated].min()) if repeated.any() else 0


def _as_arrays(raw_indices: Any, raw_values: Any) -> tuple[Any, Any]:
    """Both as 1-D arrays (an empty one typed as indices or values); None if not numbers."""
    try:
        indices = raw_indices if isinstance(raw_indices, np.ndarray) else np.asarray(raw_indices)
        values = raw_values if isinstance(raw_values, np.ndarray) else np.asarray(raw_values)
    except (ValueError, TypeError):
        return None, None
    if indices.size == 0:
        indices = _EMPTY_U
    if values.size == 0:
        values = _EMPTY_F
    return indices, values


def _sparse_ok(
    indices: npt.NDArray[Any], values: npt.NDArray[Any], sizes: npt.NDArray[np.int64]
) -> bool:
    """True if every row's indices are integers in range and unique, and values numbers."""
    if values.dtype.kind not in "fiu" or (indices.size and indices.dtype.kind not in "iu"):
        return False
    if indices.size == 0:
        return True
    if int(indices.min()) < 0 or int(indices.max()) > MAX_SPARSE_INDEX:
        return False
    rows = np.repeat(np.arange(sizes.size, dtype=np.int64), sizes)
    wide = indices.astype(np.int64)
    same_row = rows[1:] == rows[:-1]
    if not np.any(np.diff(wide)[same_row] <= 0):
        return True  # strictly increasing within each row (the usual, sorted form)
    keys = np.sort((rows << 32) | wide)
    return not np.any(keys[1:] == keys[:-1])


def _sparse_pair(
    name: str, value: Any, row: int, ids: Sequence[Any]
) -> tuple[npt.NDArray[np.uint32], npt.NDArray[np.float32]]:
    raw_indices, raw_values = _sparse_parts(name, value, row, ids)
    try:
        indices = np.asarray(raw_indices)
        vals = np.asarray(raw_values)
    except (ValueError, TypeError):
        raise InvalidVectorError(_where(row, ids, name, "holds non-numbers"), row=row) from None
    if indices.size == 0:
        indices = indices.reshape(0).astype(np.int64)
    if vals.size == 0:
        vals = vals.reshape(0).astype(np.float32)
    if indices.ndim != 1 or indices.dtype.kind not in "iu":
        raise InvalidVectorError(_where(row, ids, name, "indices must be integers"), row=row)
    if vals.ndim != 1 or vals.dtype.kind not in "fiu":
        raise InvalidVectorError(_where(row, ids, name, "values must be real numbers"), row=row)
    if indices.size != vals.size:
        raise InvalidVectorError(
            _where(row, ids, name, f"has {indices.size} indices but {vals.size} values"), row=row
        )
    if indices.size and (int(indices.min()) < 0 or int(indices.max()) > MAX_SPARSE_INDEX):
        raise InvalidVectorError(
            _where(row, ids, name, f"has an index outside 0..{MAX_SPARSE_INDEX}"), row=row
        )
    if np.unique(indices).size != indices.size:
        raise InvalidVectorError(_where(row, ids, name, "repeats an index"), row=row)
    return indices.astype(np.uint32), _float32(vals)


def _sparse_parts(name: str, value: Any, row: int, ids: Sequence[Any]) -> tuple[Any, Any]:
    """A sparse vector's ``(indices, values)`` as given: a dict, a pair, or an object with
    those attributes (qdrant-client's ``SparseVector``)."""
    if type(value) is tuple and len(value) == 2:  # the NumPy form's usual shape, checked first
        return value
    if isinstance(value, Mapping):
        if set(value) != {"indices", "values"}:
            raise InvalidVectorError(
                _where(row, ids, name, "must be {'indices': [...], 'values': [...]}"), row=row
            )
        return value["indices"], value["values"]
    if hasattr(value, "indices") and hasattr(value, "values"):
        return value.indices, value.values
    if isinstance(value, (tuple, list)) and len(value) == 2:
        return value[0], value[1]
    raise InvalidVectorError(
        _where(row, ids, name, "is sparse: give {'indices': [...], 'values': [...]} or "
               f"(indices, values), not {type(value).__name__}"),
        row=row,
    )  # fmt: skip


def _is_csr(value: Any) -> bool:
    return all(hasattr(value, a) for a in ("indptr", "indices", "data", "shape", "format"))


def _from_csr(name: str, matrix: Any, ids: Sequence[Any], n: int) -> VectorColumn:
    if matrix.format != "csr":
        matrix = matrix.tocsr()
    if matrix.shape[0] != n:
        raise InvalidVectorError(f"vector {name!r}: {matrix.shape[0]} rows for {n} ids")
    if matrix.shape[1] > MAX_SPARSE_INDEX + 1:
        raise InvalidVectorError(f"vector {name!r}: {matrix.shape[1]} columns, above 2**32")
    if not matrix.has_canonical_format:  # repeated entries in a row are summed by SciPy
        matrix = matrix.copy()
        matrix.sum_duplicates()
    offsets = np.asarray(matrix.indptr, dtype=np.int64)
    column = VectorColumn("sparse", 0, _float32(np.asarray(matrix.data)), offsets,
                          np.asarray(matrix.indices, dtype=np.uint32))  # fmt: skip
    _check_finite(name, column, ids)
    return column


def _numbers(name: str, value: Any, row: int, ids: Sequence[Any], ndim: int) -> npt.NDArray[Any]:
    shape = "a list of floats" if ndim == 1 else "a list of rows (lists of floats)"
    if isinstance(value, (str, bytes, Mapping)) or not hasattr(value, "__len__"):
        raise InvalidVectorError(
            _where(row, ids, name, f"must be {shape}, got {type(value).__name__}"), row=row
        )
    try:
        array = np.asarray(value)
    except (ValueError, TypeError):
        array = np.empty(0, dtype=object)
    if ndim == 2 and array.size == 0 and array.ndim == 1:
        array = array.reshape(0, 0).astype(np.float32)
    if array.ndim != ndim or array.dtype.kind not in "fiu":
        raise InvalidVectorError(_where(row, ids, name, f"must be {shape} of numbers"), row=row)
    return array


def _float32(array: npt.NDArray[Any]) -> npt.NDArray[np.float32]:
    with np.errstate(over="ignore", invalid="ignore"):
        return np.ascontiguousarray(array, dtype=np.float32)


def _check_finite(name: str, column: VectorColumn, ids: Sequence[Any]) -> None:
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
        _where(row, ids, name, "holds NaN or infinity as float32 (values beyond +-3.4e38 "
               "overflow); replace or drop it"),
        row=row,
    )  # fmt: skip


def _check_each_point_has_one(
    columns: Mapping[str, VectorColumn], ids: Sequence[Any], n: int, schema: Schema
) -> None:
    carried = np.zeros(n, dtype=bool)
    for column in columns.values():
        carried |= column.present if column.present is not None else True
    if n and not carried.all():
        row = int(np.argmin(carried))
        raise InvalidVectorError(
            f"row {row} (id {ids[row]!r}): the point carries no vector; give at least one of "
            f"{', '.join(schema.names)}",
            row=row,
        )


def _unknown(row: int, point_id: Any, name: Any, schema: Schema) -> str:
    return (f"row {row} (id {point_id!r}): unknown vector {name!r}; this index has "
            f"{', '.join(schema.names)}")  # fmt: skip


def _where(row: int, ids: Sequence[Any], name: str, what: str) -> str:
    return f"row {row} (id {ids[row]!r}): vector {name!r} {what}"
