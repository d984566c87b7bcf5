"""Named vectors from what callers pass: the list form's dicts and the NumPy form's columns.

Each value becomes a :class:`~vecq.shared.points.named_vectors.VectorColumn`, checked against
its spec (``vector_schema.py``) with errors that name the row, the id and the vector. Sparse
vectors are read by ``sparse_input.py``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from vecq.shared.errors import DimensionMismatchError, InvalidVectorError
from vecq.shared.points.named_vectors import VectorColumn, check_finite, float32, where
from vecq.shared.points.sparse_input import from_csr, is_csr, sparse_rows
from vecq.shared.points.vector_schema import Schema, SparseSpec, Spec, VectorSpec

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
    return {
        name: build(name, spec, by_name[name], ids)
        for name in schema.names
        if (spec := schema.spec(name)) is not None
    }


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
        return sparse_rows(name, values, ids)
    if spec.multivector:
        return _multi_rows(name, spec, values, ids)
    return _dense_rows(name, spec, values, ids)


def _column(name: str, spec: Spec, column: Any, ids: Sequence[Any], n: int) -> VectorColumn:
    if isinstance(spec, SparseSpec) and is_csr(column):
        return from_csr(name, column, ids, n)
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
        result = VectorColumn("dense", spec.size, float32(column))
        check_finite(name, result, ids)
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
                where(
                    row,
                    ids,
                    name,
                    f"has {array.shape[0]} dimensions, the index expects {spec.size}",
                ),
                row=row,
            )
        out[row] = array
    column = VectorColumn("dense", spec.size, out, present=None if present.all() else present)
    check_finite(name, column, ids)
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
            raise InvalidVectorError(where(row, ids, name, "is an empty multivector"), row=row)
        if array.shape[1] != spec.size:
            raise DimensionMismatchError(
                where(
                    row,
                    ids,
                    name,
                    f"has rows of {array.shape[1]} dimensions, the index expects {spec.size}",
                ),
                row=row,
            )
        arrays.append(array)
        sizes[row] = array.shape[0]
    offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(sizes, out=offsets[1:])
    data = float32(np.concatenate(arrays)) if arrays else np.empty((0, spec.size), np.float32)
    column = VectorColumn(
        "multi", spec.size, data, offsets, present=None if present.all() else present
    )
    check_finite(name, column, ids)
    return column


def _numbers(name: str, value: Any, row: int, ids: Sequence[Any], ndim: int) -> npt.NDArray[Any]:
    shape = "a list of floats" if ndim == 1 else "a list of rows (lists of floats)"
    if isinstance(value, (str, bytes, Mapping)) or not hasattr(value, "__len__"):
        raise InvalidVectorError(
            where(row, ids, name, f"must be {shape}, got {type(value).__name__}"), row=row
        )
    try:
        array = np.asarray(value)
    except (ValueError, TypeError):
        array = np.empty(0, dtype=object)
    if ndim == 2 and array.size == 0 and array.ndim == 1:
        array = array.reshape(0, 0).astype(np.float32)
    if array.ndim != ndim or array.dtype.kind not in "fiu":
        raise InvalidVectorError(where(row, ids, name, f"must be {shape} of numbers"), row=row)
    if isinstance(value, list) and ((array == 0) | (array == 1)).any():  # true/false read as 1/0
        flat = value if ndim == 1 else [x for part in value for x in part]
        if bool in set(map(type, flat)):
            raise InvalidVectorError(
                where(row, ids, name, "holds true/false, not numbers"), row=row
            )
    return array


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
    return (
        f"row {row} (id {point_id!r}): unknown vector {name!r}; this index has "
        f"{', '.join(schema.names)}"
    )
