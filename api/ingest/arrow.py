"""Arrow columns as vecq's arrays: ids, vectors (named, sparse, multi) and metadata, read
for Parquet sources and for the HTTP API's Arrow bodies. Needs ``pyarrow``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from vecq.shared.errors import SourceError


def arrow_named(column: Any, first: int, where: object, name: str) -> Any:
    """A named vector's column: a 2-D array when every row holds a list of one length,
    else a list per row (``None`` for a null: the point leaves the vector out; a list of
    lists is a multivector)."""
    import pyarrow as pa

    inner = getattr(column.type, "value_type", None)
    nested = inner is not None and (
        pa.types.is_list(inner)
        or pa.types.is_large_list(inner)
        or pa.types.is_fixed_size_list(inner)
    )
    if not nested and not column.null_count:
        if pa.types.is_fixed_size_list(column.type):
            return arrow_vectors(column, first, where, name)
        lengths = column.value_lengths().to_numpy(zero_copy_only=False)
        if not len(lengths) or (lengths == lengths[0]).all():
            return arrow_vectors(column, first, where, name)
    return column.to_pylist()


def arrow_sparse(indices: Any, values: Any) -> list[tuple[Any, Any] | None]:
    """Two list columns as one ``(indices, values)`` pair of arrays per row (``None`` where
    both are null), sliced from each column's flat values without a Python list per value."""
    if not (hasattr(indices, "offsets") and hasattr(values, "offsets")):  # fixed-size lists
        pairs = zip(indices.to_pylist(), values.to_pylist(), strict=True)
        return [None if i is None and v is None else (i, v) for i, v in pairs]
    spans = []
    for column in (indices, values):
        offsets = column.offsets.to_numpy(zero_copy_only=False).astype(np.int64)
        flat = np.asarray(column.flatten().to_numpy(zero_copy_only=False))
        spans.append((offsets - offsets[0], flat))
    (i_off, i_flat), (v_off, v_flat) = spans
    absent = indices.is_null().to_numpy(zero_copy_only=False) & values.is_null().to_numpy(
        zero_copy_only=False
    )
    return [
        None
        if absent[row]
        else (i_flat[i_off[row] : i_off[row + 1]], v_flat[v_off[row] : v_off[row + 1]])
        for row in range(len(indices))
    ]


def arrow_ids(column: Any, first: int, where: object) -> npt.NDArray[Any]:
    """An Arrow ``id`` column as a NumPy array; ``where`` names the file (or body) in errors."""
    if column.null_count:
        row = first + column.is_null().to_numpy(zero_copy_only=False).argmax()
        raise SourceError(f"{where}: row {row}: field 'id' is null")
    return np.asarray(column.to_numpy(zero_copy_only=False))


def arrow_vectors(
    column: Any, first: int, where: object, field: str = "vector"
) -> npt.NDArray[Any]:
    """An Arrow list or fixed-size-list vector column (``field``) as a 2-D NumPy array."""
    import pyarrow as pa

    if column.null_count:
        row = first + column.is_null().to_numpy(zero_copy_only=False).argmax()
        raise SourceError(f"{where}: row {row}: field {field!r} is null")
    if pa.types.is_fixed_size_list(column.type):
        dim = column.type.list_size
    elif pa.types.is_list(column.type) or pa.types.is_large_list(column.type):
        lengths = column.value_lengths().to_numpy(zero_copy_only=False)
        if len(lengths) and (lengths != lengths[0]).any():
            row = first + int(np.argmax(lengths != lengths[0]))
            raise SourceError(
                f"{where}: row {row}: field {field!r} has {int(lengths[row - first])} "
                f"values, row {first} has {int(lengths[0])}"
            )
        dim = int(lengths[0]) if len(lengths) else 0
    else:
        raise SourceError(f"{where}: column {field!r} must be a list of floats, got {column.type}")
    flat = column.flatten()
    if flat.null_count:  # Arrow would give NaN for it, and the error would say NaN
        at = int(flat.is_null().to_numpy(zero_copy_only=False).argmax())
        row, position = first + at // max(dim, 1), at % max(dim, 1)
        raise SourceError(
            f"{where}: row {row}: field {field!r} holds a null at position {position}"
        )
    values = flat.to_numpy(zero_copy_only=False)
    return np.asarray(values).reshape(len(column), dim)


def arrow_metadata(batch: Any, columns: list[str]) -> list[dict[str, Any] | None] | None:
    """Per-row metadata from the ``columns`` of an Arrow batch; nulls left out."""
    if not columns:
        return None
    values = {c: batch.column(c).to_pylist() for c in columns}
    return [
        {c: v[i] for c, v in values.items() if v[i] is not None} or None
        for i in range(batch.num_rows)
    ]
