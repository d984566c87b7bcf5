"""Arrow data as backfill sources: Parquet files, and the column readers the HTTP API shares.

A file or body has an ``id`` integer column and a ``vector`` list column; any other
columns become each row's metadata. Needs ``pyarrow`` (the ``files`` or ``server`` extra).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from api.ingest.chunks import Chunk, digest, stat_key
from shared.errors import SourceError


class ParquetSource:
    """A Parquet file: an ``id`` integer column, a ``vector`` list column, others as metadata."""

    carries_ids = True

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            import pyarrow.parquet as pq
        except ImportError:  # pragma: no cover - pyarrow is in the dev and files extras
            raise SourceError(
                f"{path}: reading Parquet needs pyarrow: pip install 'vecq[files]'"
            ) from None
        try:
            self._file = pq.ParquetFile(path)
        except Exception as exc:  # pyarrow raises its own ArrowInvalid and OSError types
            raise SourceError(f"{path}: not a readable Parquet file ({exc})") from exc
        names = self._file.schema_arrow.names
        for column in ("id", "vector"):
            if column not in names:
                raise SourceError(f"{path}: column {column!r} is missing (columns: {names})")
        self._meta_columns = [c for c in names if c not in ("id", "vector")]

    def fingerprint(self, chunk_rows: int) -> str:
        return digest("parquet", stat_key(self.path), chunk_rows)

    def total(self) -> int | None:
        return int(self._file.metadata.num_rows)

    def chunks(self, chunk_rows: int) -> Iterator[Chunk]:
        first = 0
        for number, batch in enumerate(self._file.iter_batches(batch_size=chunk_rows)):
            n = batch.num_rows
            ids = arrow_ids(batch.column("id"), first, self.path)
            vectors = arrow_vectors(batch.column("vector"), first, self.path)
            metadata = arrow_metadata(batch, self._meta_columns)
            yield Chunk(number, first, n, ids=ids, vectors=vectors, metadata=metadata)
            first += n


def arrow_ids(column: Any, first: int, where: object) -> npt.NDArray[Any]:
    """An Arrow ``id`` column as a NumPy array; ``where`` names the file (or body) in errors."""
    if column.null_count:
        row = first + column.is_null().to_numpy(zero_copy_only=False).argmax()
        raise SourceError(f"{where}: row {row}: field 'id' is null")
    return np.asarray(column.to_numpy(zero_copy_only=False))


def arrow_vectors(column: Any, first: int, where: object) -> npt.NDArray[Any]:
    """An Arrow list or fixed-size-list ``vector`` column as a 2-D NumPy array."""
    import pyarrow as pa

    if column.null_count:
        row = first + column.is_null().to_numpy(zero_copy_only=False).argmax()
        raise SourceError(f"{where}: row {row}: field 'vector' is null")
    if pa.types.is_fixed_size_list(column.type):
        dim = column.type.list_size
    elif pa.types.is_list(column.type) or pa.types.is_large_list(column.type):
        lengths = column.value_lengths().to_numpy(zero_copy_only=False)
        if len(lengths) and (lengths != lengths[0]).any():
            row = first + int(np.argmax(lengths != lengths[0]))
            raise SourceError(
                f"{where}: row {row}: field 'vector' has {int(lengths[row - first])} "
                f"values, row {first} has {int(lengths[0])}"
            )
        dim = int(lengths[0]) if len(lengths) else 0
    else:
        raise SourceError(f"{where}: column 'vector' must be a list of floats, got {column.type}")
    values = column.flatten().to_numpy(zero_copy_only=False)
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
