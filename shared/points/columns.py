"""What a call carries, column by column: one type for a validated call and a shard batch.

Every row-wise selection and join in vecq goes through :meth:`Columns.select` and
:meth:`Columns.concat`, so a new column (a named vector, a sparse vector) is one field here
plus how it is encoded (``shared/wire/codec.py``), not an edit in each place rows are picked.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Self

import numpy as np
import numpy.typing as npt

from vecq.shared.points import ids as idrules
from vecq.shared.points import named_vectors
from vecq.shared.points.metadata import Metadata
from vecq.shared.points.named_vectors import VectorColumn

Rows = slice | npt.NDArray[np.intp]


@dataclass(frozen=True)
class Columns:
    """Rows of points: ids (their 63-bit keys), vectors and what goes with them.

    ``names`` holds each string id (``None`` where the id is an integer), or is ``None``
    when every id is an integer; ``items`` and ``metadata`` are ``None`` when no row has one.
    """

    ids: npt.NDArray[np.int64]
    vectors: npt.NDArray[Any]
    items: Sequence[bytes | None] | None = None
    """Item bytes per point (encrypted once in a batch), ``None`` where a point has none."""
    metadata: Sequence[Metadata | None] | None = None
    names: Sequence[str | None] | None = None
    named: Mapping[str, VectorColumn] | None = None
    """The named vectors of an index that has them (``shared/points/named_vectors.py``); its
    ``vectors`` then have shape ``(n, 0)``."""

    def __len__(self) -> int:
        return int(self.ids.shape[0])

    def caller_ids(self, rows: Rows | None = None) -> list[idrules.Id]:
        """The callers' ids (integers, and strings for string ids) of ``rows`` (default all)."""
        chosen = self if rows is None else self.select(rows, arrays=("ids",))
        return idrules.caller_ids(chosen.ids, chosen.names)

    def point_ids(self, rows: Rows | None = None) -> list[int | str]:
        """The Qdrant point ids (UUID text for a string id) of ``rows`` (default all)."""
        chosen = self if rows is None else self.select(rows, arrays=("ids",))
        return idrules.point_ids(chosen.ids, chosen.names)

    def select(self, rows: Rows, *, arrays: Sequence[str] | None = None) -> Self:
        """The same object (every other field kept) holding only ``rows``: a slice or row
        numbers. ``arrays`` limits which array columns are picked (the others are left whole,
        for a caller that gathers them itself, as the blob encoder does with the vectors)."""
        picked: dict[str, Any] = {}
        for field in _FIELDS:
            value = getattr(self, field)
            if isinstance(value, np.ndarray):
                if arrays is None or field in arrays:
                    picked[field] = value[rows]
            elif isinstance(value, Mapping):
                if arrays is None or field in arrays:
                    picked[field] = named_vectors.select(value, rows)
            elif value is not None:
                picked[field] = _pick(value, rows)
        return dataclasses.replace(self, **picked)

    @staticmethod
    def concat(parts: Sequence[Columns]) -> Columns:
        """The rows of ``parts`` one after another (a column absent from some parts is
        ``None`` in their rows, and ``None`` altogether if no part has it)."""
        joined: dict[str, Any] = {}
        for field in _FIELDS:
            values = [getattr(p, field) for p in parts]
            if isinstance(values[0], np.ndarray):
                joined[field] = np.concatenate(values)
            elif field == "named":
                if any(v is not None for v in values):
                    joined[field] = named_vectors.concat(values, [len(p) for p in parts])
            elif any(v is not None for v in values):
                joined[field] = [
                    x
                    for p, v in zip(parts, values, strict=True)
                    for x in (v if v is not None else [None] * len(p))
                ]
        return Columns(**joined)

    def columns(self) -> Columns:
        """Just the columns (a plain :class:`Columns`)."""
        return Columns(**{f: getattr(self, f) for f in _FIELDS})

    def with_columns(self, columns: Columns) -> Self:
        """This object's other fields with ``columns``'."""
        return dataclasses.replace(self, **{f: getattr(columns, f) for f in _FIELDS})


_FIELDS = tuple(f.name for f in dataclasses.fields(Columns))


def _pick(values: Sequence[Any], rows: Rows) -> list[Any]:
    if isinstance(rows, slice):
        return list(values[rows])
    return [values[i] for i in rows.tolist()]
