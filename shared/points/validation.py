"""Validation of every call's input, shared by the producer (before enqueue) and the workers.

Every rule of the design lives here or beside it (ids in ``shared/points/ids.py``, vectors in
``shared/points/vectors.py``, metadata in ``shared/points/metadata.py``). A violation raises a typed
``ValueError`` subclass from ``vecq.shared.errors`` that names the row, the id and what to do.
The result is a :class:`Points`: one upsert, delete or metadata update, ready to be split
into batches.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from vecq.shared.errors import InvalidVectorError
from vecq.shared.points import ids as idrules
from vecq.shared.points import metadata as metarules
from vecq.shared.points import named_input
from vecq.shared.points.columns import Columns
from vecq.shared.points.ids import Id, check_id_array
from vecq.shared.points.metadata import Metadata
from vecq.shared.points.vector_schema import Schema
from vecq.shared.points.vectors import check_vectors, records_to_array

Op = Literal["upsert", "delete", "update"]

_DICT_KEYS = frozenset({"id", "vector", "item", "metadata"})
_UPDATE_KEYS = frozenset({"id", "metadata"})
_NO_VECTORS = np.empty((0, 0), dtype=np.float32)


@dataclass(frozen=True)
class Points(Columns):
    """A validated call: unique ids, and per op what goes with them.

    ``ids`` are the ids' 63-bit keys (``shared/points/ids.py``). An upsert has ``vectors`` of shape
    ``(n, dim)``, which may still be the caller's array (any real dtype, any memory order):
    the encoder converts rows to float32 batch by batch, so a large call is never copied
    whole. A delete has vectors of shape ``(n, 0)``; a metadata update too, with the keys to
    merge in ``metadata``.
    """

    op: Op = "upsert"


def from_records(
    records: Sequence[Any], dimension: int, max_item_bytes: int, *, schema: Schema | None = None
) -> Points:
    """Validate the list form: dicts ``{"id", "vector", "item"?, "metadata"?}`` or tuples.

    With ``schema`` (an index of named vectors) each ``vector`` is a dict of name to vector.
    """
    _check_list(records, "upsert expects a list of dicts or (id, vector) tuples")
    ids: list[Id] = []
    rows: list[Any] = []
    items: list[bytes | None] = []
    metadata: list[Metadata | None] = []
    for row, record in enumerate(records):
        point_id, vector, item, meta = _unpack_record(row, record)
        checked = idrules.check_id(point_id, row)
        ids.append(checked)
        rows.append(vector)
        items.append(check_item(item, row, checked, max_item_bytes))
        metadata.append(metarules.check(meta, row, checked))
    keys, names = idrules.split(ids)
    named = None
    if schema is not None:
        named = named_input.from_records(rows, ids, schema)
        vectors = _no_vectors(len(ids))
    else:
        vectors = records_to_array(rows, ids, dimension)
        check_vectors(vectors, ids, dimension)
    return dedupe(Points(keys, vectors, _present(items), _present(metadata), names, named))


def from_arrays(
    ids: Any,
    vectors: Any,
    dimension: int,
    metadata: Sequence[Any] | None = None,
    items: Sequence[Any] | None = None,
    max_item_bytes: int | None = None,
    *,
    schema: Schema | None = None,
) -> Points:
    """Validate the NumPy form: ``ids`` shape ``(n,)``, ``vectors`` shape ``(n, dim)``
    (with ``schema``: a dict of vector name to column, see ``shared/points/named_input.py``).

    ``ids`` hold integers, or strings (a ``str`` or ``object`` array). ``metadata`` and
    ``items`` (one dict / bytes or ``None`` per row) have the length of ``ids``.
    """
    keys, names = check_id_array(ids)
    n = int(keys.shape[0])
    caller = idrules.caller_ids(keys, names)
    named = None
    if schema is not None:
        named = named_input.from_columns(vectors, caller, n, schema)
        vectors = _no_vectors(n)
    vec = np.asarray(vectors)
    if vec.ndim != 2:
        raise InvalidVectorError(
            f"vectors must be a 2-D array of shape (n, {dimension}), got shape {vec.shape}"
        )
    if vec.shape[0] != n:
        raise InvalidVectorError(f"{n} ids but {vec.shape[0]} vectors: the lengths must match")
    checked_meta = None
    if metadata is not None:
        _check_column(metadata, "metadata", n)
        checked_meta = _present(
            [
                metarules.check(m, row, i)
                for row, (m, i) in enumerate(zip(metadata, caller, strict=True))
            ]
        )
    checked_items = None
    if items is not None:
        _check_column(items, "items", n)
        limit = max_item_bytes if max_item_bytes is not None else 1 << 62
        checked_items = _present(
            [
                check_item(it, row, i, limit)
                for row, (it, i) in enumerate(zip(items, caller, strict=True))
            ]
        )
    if named is None:
        check_vectors(vec, caller, dimension)
    return dedupe(Points(keys, vec, checked_items, checked_meta, names, named))


def deletions(ids: Any) -> Points:
    """Validate the ids of ``delete``: a list or 1-D array of integers and strings."""
    if isinstance(ids, np.ndarray):
        keys, names = check_id_array(ids)
    else:
        _check_list(ids, "delete expects a list of ids")
        keys, names = idrules.split([idrules.check_id(v, row) for row, v in enumerate(ids)])
    points = Points(keys, _no_vectors(keys.shape[0]), names=names, op="delete")
    return dedupe(points)


def updates(records: Sequence[Any]) -> Points:
    """Validate ``update_metadata``: ``{"id", "metadata"}`` dicts or ``(id, metadata)`` tuples.

    Each ``metadata`` holds the keys to merge into the stored point's (at least one). An id
    given twice gets both updates, merged in order.
    """
    _check_list(records, "update_metadata expects a list of {'id', 'metadata'} dicts")
    ids: list[Id] = []
    patches: list[Metadata | None] = []
    for row, record in enumerate(records):
        point_id, patch = _unpack_update(row, record)
        checked = idrules.check_id(point_id, row)
        meta = metarules.check(patch, row, checked)
        if not meta:
            raise InvalidVectorError(
                f"row {row} (id {checked!r}): metadata must set at least one key", row=row
            )
        ids.append(checked)
        patches.append(meta)
    keys, names = idrules.split(ids)
    return _merge_updates(
        Points(keys, _no_vectors(len(ids)), metadata=patches, names=names, op="update")
    )


def check_item(item: Any, row: int, point_id: Any, max_bytes: int) -> bytes | None:
    """Return the item as bytes (or ``None`` if absent), or raise."""
    if item is None:
        return None
    if isinstance(item, (bytearray, memoryview)):
        item = bytes(item)
    if not isinstance(item, bytes):
        raise InvalidVectorError(
            f"row {row} (id {point_id!r}): item must be bytes, got {type(item).__name__}; "
            "encode text with .encode()",
            row=row,
        )
    if len(item) > max_bytes:
        raise InvalidVectorError(
            f"row {row} (id {point_id!r}): item is {len(item)} bytes, above the limit of "
            f"{max_bytes} (setting max_item_bytes)",
            row=row,
        )
    return item


def last_occurrences(ids: npt.NDArray[np.int64]) -> npt.NDArray[np.intp] | None:
    """Rows keeping the last occurrence of each id, in order; ``None`` if no id repeats."""
    n = ids.shape[0]
    if n < 2:
        return None
    unique, first_in_reversed = np.unique(ids[::-1], return_index=True)
    if unique.size == n:
        return None
    return np.sort(n - 1 - first_in_reversed)


def last_rows(
    ids: npt.NDArray[np.int64], names: Sequence[str | None] | None
) -> npt.NDArray[np.intp] | None:
    """Rows keeping the last occurrence of each id (keys and string ids); ``None``: no repeat."""
    if names is None:
        return last_occurrences(ids)
    # Compare (key, name) pairs: a string's key may equal some integer id.
    last: dict[tuple[int, str | None], int] = {}
    for row, pair in enumerate(zip(ids.tolist(), names, strict=True)):
        last[pair] = row
    if len(last) == ids.shape[0]:
        return None
    return np.array(sorted(last.values()), dtype=np.intp)


def dedupe(points: Points) -> Points:
    """Keep the last occurrence of each id, in the order of those last occurrences."""
    keep = last_rows(points.ids, points.names)
    if keep is None:
        return points
    return points.select(keep)


def _merge_updates(points: Points) -> Points:
    """One update per id: repeated ids' patches merged in call order, at the last occurrence."""
    keep = last_rows(points.ids, points.names)
    if keep is None or points.metadata is None:
        return points
    merged: dict[tuple[int, str | None], Metadata] = {}
    names = points.names or [None] * len(points)
    for key, name, patch in zip(points.ids.tolist(), names, points.metadata, strict=True):
        merged.setdefault((key, name), {}).update(patch or {})
    chosen = points.select(keep)
    chosen_names = chosen.names or [None] * len(chosen)
    patches: list[Metadata | None] = [
        merged[(k, n)] for k, n in zip(chosen.ids.tolist(), chosen_names, strict=True)
    ]
    return dataclasses.replace(chosen, items=None, metadata=patches)


def _present(values: list[Any]) -> list[Any] | None:
    return values if any(v is not None for v in values) else None


def _no_vectors(n: int) -> npt.NDArray[np.float32]:
    return np.empty((n, 0), dtype=np.float32) if n else _NO_VECTORS


def _check_list(value: Any, message: str) -> None:
    if isinstance(value, (str, bytes, Mapping)) or not isinstance(value, Sequence):
        raise InvalidVectorError(f"{message}, got {type(value).__name__}")


def _check_column(values: Any, name: str, n: int) -> None:
    if isinstance(values, (str, bytes, Mapping)) or not hasattr(values, "__len__"):
        raise InvalidVectorError(f"{name} must be a sequence with one entry per id")
    if len(values) != n:
        raise InvalidVectorError(
            f"{len(values)} {name} entries for {n} ids: the lengths must match"
        )


def _unpack_record(row: int, record: Any) -> tuple[Any, Any, Any, Any]:
    if isinstance(record, Mapping):
        unknown = set(record) - _DICT_KEYS
        if unknown:
            raise InvalidVectorError(
                f"row {row}: unknown key(s) {sorted(map(str, unknown))}; "
                "allowed keys are id, vector, item, metadata",
                row=row,
            )
        if "id" not in record or "vector" not in record:
            raise InvalidVectorError(f"row {row}: a dict needs both 'id' and 'vector'", row=row)
        return record["id"], record["vector"], record.get("item"), record.get("metadata")
    if isinstance(record, (tuple, list)) and 2 <= len(record) <= 4:
        padded = (*record, None, None)
        return padded[0], padded[1], padded[2], padded[3]
    raise InvalidVectorError(
        f"row {row}: expected a dict or an (id, vector[, item[, metadata]]) tuple, "
        f"got {type(record).__name__}",
        row=row,
    )


def _unpack_update(row: int, record: Any) -> tuple[Any, Any]:
    if isinstance(record, Mapping):
        unknown = set(record) - _UPDATE_KEYS
        if unknown:
            raise InvalidVectorError(
                f"row {row}: unknown key(s) {sorted(map(str, unknown))}; an update has only "
                "id and metadata (vectors are not resent: upsert to change one)",
                row=row,
            )
        if "id" not in record or "metadata" not in record:
            raise InvalidVectorError(f"row {row}: an update needs 'id' and 'metadata'", row=row)
        return record["id"], record["metadata"]
    if isinstance(record, (tuple, list)) and len(record) == 2:
        return record[0], record[1]
    raise InvalidVectorError(
        f"row {row}: expected a dict {{'id', 'metadata'}} or an (id, metadata) tuple, "
        f"got {type(record).__name__}",
        row=row,
    )
