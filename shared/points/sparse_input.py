"""Sparse vectors from what callers pass: ``(indices, values)`` pairs, dicts, qdrant-client's
``SparseVector``, or a SciPy CSR matrix (duck-typed: SciPy is never imported).

A column of pairs is joined in C loops when every point holds a tuple of two 1-D
sequences (the NumPy form's usual shape), else read point by point; either way the whole
column is checked at once (``sparse_ok``), and only then, on a fault, point by point to
name the row, the id and the vector.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from vecq.shared.errors import InvalidVectorError
from vecq.shared.points.named_vectors import VectorColumn, check_finite, float32, sparse_ok, where
from vecq.shared.points.vector_schema import MAX_SPARSE_INDEX

_EMPTY_F = np.empty(0, dtype=np.float32)
_EMPTY_U = np.empty(0, dtype=np.uint32)


def sparse_rows(name: str, values: Sequence[Any], ids: Sequence[Any]) -> VectorColumn:
    """A sparse column from one ``(indices, values)`` (or ``None``) per point: checked over
    all rows at once; a row at fault is then found and named by :func:`_sparse_pair`."""
    n = len(values)
    joined = _joined_pairs(values)
    if joined is not None:
        present, sizes, all_indices, all_values = joined
    else:
        present, sizes, all_indices, all_values = _pairs_by_row(name, values, ids)
    if not sparse_ok(all_indices, all_values, sizes[present]):
        for row, value in enumerate(values):
            if value is not None:
                _sparse_pair(name, value, row, ids)
    offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(sizes, out=offsets[1:])
    column = VectorColumn(
        "sparse",
        0,
        float32(all_values),
        offsets,
        all_indices.astype(np.uint32),
        None if present.all() else present,
    )
    check_finite(name, column, ids)
    return column


_Joined = tuple[npt.NDArray[np.bool_], npt.NDArray[np.int64], npt.NDArray[Any], npt.NDArray[Any]]


def _joined_pairs(values: Sequence[Any]) -> _Joined | None:
    """Presence, sizes and the concatenated indices and values when every point holds an
    ``(indices, values)`` tuple of 1-D sequences of one length (or ``None``), taken in C
    loops; ``None`` for any other form, which :func:`_pairs_by_row` then reads (and names
    the row at fault)."""
    n = len(values)
    try:
        present = np.fromiter((v is not None for v in values), bool, n)
        pairs = values if present.all() else [v for v in values if v is not None]
        if not all(type(p) is tuple and len(p) == 2 for p in pairs):
            return None
        index_parts = [p[0] for p in pairs]
        value_parts = [p[1] for p in pairs]
        lengths = np.fromiter(map(len, index_parts), np.int64, len(pairs))
        if not np.array_equal(lengths, np.fromiter(map(len, value_parts), np.int64, len(pairs))):
            return None
        all_indices = np.concatenate(index_parts) if pairs else _EMPTY_U
        all_values = np.concatenate(value_parts) if pairs else _EMPTY_F
    except (TypeError, ValueError):  # a scalar, a ragged or 0-d part: read row by row
        return None
    if all_indices.ndim != 1 or all_values.ndim != 1 or all_indices.size != lengths.sum():
        return None
    if all_indices.size == 0:
        all_indices, all_values = _EMPTY_U, _EMPTY_F
    sizes = np.zeros(n, dtype=np.int64)
    sizes[present] = lengths
    return present, sizes, all_indices, all_values


def _pairs_by_row(name: str, values: Sequence[Any], ids: Sequence[Any]) -> _Joined:
    """The same, point by point, for any form a sparse vector may take."""
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
    return present, sizes, all_indices, all_values


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


def _sparse_pair(
    name: str, value: Any, row: int, ids: Sequence[Any]
) -> tuple[npt.NDArray[np.uint32], npt.NDArray[np.float32]]:
    raw_indices, raw_values = _sparse_parts(name, value, row, ids)
    try:
        indices = np.asarray(raw_indices)
        vals = np.asarray(raw_values)
    except (ValueError, TypeError):
        raise InvalidVectorError(where(row, ids, name, "holds non-numbers"), row=row) from None
    if indices.size == 0:
        indices = indices.reshape(0).astype(np.int64)
    if vals.size == 0:
        vals = vals.reshape(0).astype(np.float32)
    if indices.ndim != 1 or indices.dtype.kind not in "iu":
        raise InvalidVectorError(where(row, ids, name, "indices must be integers"), row=row)
    if vals.ndim != 1 or vals.dtype.kind not in "fiu":
        raise InvalidVectorError(where(row, ids, name, "values must be real numbers"), row=row)
    if indices.size != vals.size:
        raise InvalidVectorError(
            where(row, ids, name, f"has {indices.size} indices but {vals.size} values"), row=row
        )
    if indices.size and (int(indices.min()) < 0 or int(indices.max()) > MAX_SPARSE_INDEX):
        raise InvalidVectorError(
            where(row, ids, name, f"has an index outside 0..{MAX_SPARSE_INDEX}"), row=row
        )
    if np.unique(indices).size != indices.size:
        raise InvalidVectorError(where(row, ids, name, "repeats an index"), row=row)
    return indices.astype(np.uint32), float32(vals)


def _sparse_parts(name: str, value: Any, row: int, ids: Sequence[Any]) -> tuple[Any, Any]:
    """A sparse vector's ``(indices, values)`` as given: a dict, a pair, or an object with
    those attributes (qdrant-client's ``SparseVector``)."""
    if type(value) is tuple and len(value) == 2:  # the NumPy form's usual shape, checked first
        return value
    if isinstance(value, Mapping):
        if set(value) != {"indices", "values"}:
            raise InvalidVectorError(
                where(row, ids, name, "must be {'indices': [...], 'values': [...]}"), row=row
            )
        return value["indices"], value["values"]
    if hasattr(value, "indices") and hasattr(value, "values"):
        return value.indices, value.values
    if isinstance(value, (tuple, list)) and len(value) == 2:
        return value[0], value[1]
    raise InvalidVectorError(
        where(
            row,
            ids,
            name,
            "is sparse: give {'indices': [...], 'values': [...]} or "
            f"(indices, values), not {type(value).__name__}",
        ),
        row=row,
    )


def is_csr(value: Any) -> bool:
    return all(hasattr(value, a) for a in ("indptr", "indices", "data", "shape", "format"))


def from_csr(name: str, matrix: Any, ids: Sequence[Any], n: int) -> VectorColumn:
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
    column = VectorColumn(
        "sparse",
        0,
        float32(np.asarray(matrix.data)),
        offsets,
        np.asarray(matrix.indices, dtype=np.uint32),
    )
    check_finite(name, column, ids)
    return column
