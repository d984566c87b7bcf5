"""Parquet files and objects as a source: an ``id`` integer column and a ``vector`` list
column, any other columns each row's metadata (or the columns a mapping names). Needs
``pyarrow`` (the ``files`` extra); the columns are read by :mod:`vecq.api.ingest.arrow`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from vecq.api.ingest.arrow import (
    arrow_ids,
    arrow_metadata,
    arrow_named,
    arrow_sparse,
    arrow_vectors,
)
from vecq.api.ingest.mapping import ColumnMap
from vecq.api.ingest.sources import Chunk, digest, stat_key
from vecq.api.ingest.sources.objects import RemoteFile
from vecq.shared.errors import SourceError

# Rows decoded at a time.
READ_ROWS = 8192


class ParquetSource:
    """A Parquet file: an ``id`` integer column, a ``vector`` list column, others as metadata
    (or the columns ``mapping`` names, named vectors included)."""

    carries_ids = True

    def __init__(
        self,
        path: Path | RemoteFile,
        mapping: ColumnMap | None = None,
        partitions: dict[str, str] | None = None,
        name: str | None = None,
    ) -> None:
        self.path = path
        self.name = name or str(path)
        """How errors name it (``<stdin>`` for standard input spooled to a file)."""
        self.spool: Any = None
        """Standard input's temporary file, deleted with this source."""
        self.mapping = mapping or ColumnMap()
        try:
            import pyarrow.parquet as pq
        except ImportError:  # pragma: no cover - pyarrow is in the dev and files extras
            raise SourceError(
                f"{path}: reading Parquet needs pyarrow: pip install 'vecq[files]'"
            ) from None
        try:  # an object is read in ranges: the footer, then each row group's columns
            # pre_buffer: a row group's columns are fetched in few coalesced ranges, and
            # released with the reader of that row group; pyarrow's own S3 file is read a
            # row group a request instead (_by_row_group).
            source = path if isinstance(path, Path) else path.arrow_input()
            self._file = pq.ParquetFile(source, pre_buffer=True)
            self._native = source if _is_native(source) else None
        except SourceError:
            raise
        except Exception as exc:  # pyarrow raises its own ArrowInvalid and OSError types
            raise SourceError(f"{self.name}: not a readable Parquet file ({exc})") from exc
        names = self._file.schema_arrow.names
        # Hive partition values (year=2026 folders) are metadata like columns; a column of
        # the same name wins.
        self._partitions = {k: _typed(v) for k, v in (partitions or {}).items() if k not in names}
        wanted = self.mapping.check([*names, *self._partitions], self.name)
        self._meta_columns = [c for c in wanted if c not in self._partitions]
        self._partitions = {k: v for k, v in self._partitions.items() if k in wanted}

    @property
    def stdin(self) -> bool:
        """True for standard input spooled to a file (read once: never resumed)."""
        return self.spool is not None

    def fingerprint(self, chunk_rows: int) -> str:
        if self.mapping.is_default:
            return digest("parquet", stat_key(self.path), chunk_rows)
        return digest("parquet", stat_key(self.path), chunk_rows, self.mapping.key())

    def total(self) -> int | None:
        return int(self._file.metadata.num_rows)

    def chunks(self, chunk_rows: int) -> Iterator[Chunk]:
        first = 0
        m = self.mapping
        for number, batch in enumerate(self._batches(chunk_rows)):
            n = batch.num_rows
            ids = arrow_ids(batch.column(m.id), first, self.name)
            metadata = arrow_metadata(batch, self._meta_columns)
            if self._partitions:
                metadata = [{**(m or {}), **self._partitions} for m in (metadata or [None] * n)]
            items = batch.column(m.item).to_pylist() if m.item else None
            if m.has_named:
                named = {
                    name: arrow_named(batch.column(c), first, self.name, name)
                    for name, c in m.named
                }
                for name, indices, values in m.sparse:
                    named[name] = arrow_sparse(batch.column(indices), batch.column(values))
                yield Chunk(
                    number,
                    first,
                    n,
                    ids=ids,
                    vectors=np.empty((n, 0), np.float32),
                    metadata=metadata,
                    named=named,
                    items=items,
                )
            else:
                vectors = arrow_vectors(batch.column(m.vector), first, self.name, m.vector)
                yield Chunk(
                    number, first, n, ids=ids, vectors=vectors, metadata=metadata, items=items
                )
            first += n

    def _batches(self, rows: int) -> Iterator[Any]:
        """Record batches of exactly ``rows`` rows (the last one: the rest) across row
        groups. Each row group is read by a reader of its own (one reader over the whole
        file keeps every pre-buffered range: memory grew with the file) and decoded
        :data:`READ_ROWS` at a time (decoding a list column costs several times its size),
        so the peak stays near one row group and one chunk whatever the file's size."""
        import pyarrow as pa

        columns = list(dict.fromkeys([*self.mapping.used(), *self._meta_columns]))
        held: list[Any] = []
        count = 0
        pool = pa.default_memory_pool()
        reader = self._file
        if self._native is not None:
            reader = self._by_row_group(columns)
        for group in range(self._file.metadata.num_row_groups):
            yield from self._group(reader, group, rows, columns, held, count)
            count = sum(b.num_rows for b in held)
            pool.release_unused()  # else the allocator keeps what each row group used
        if held:
            yield _joined(pa, held)

    def _by_row_group(self, columns: list[str]) -> Any:
        """A reader of the object fetching each row group's ``columns`` in one request."""
        import pyarrow.parquet as pq

        from vecq.api.ingest.sources.rowgroups import RowGroupFile

        metadata = self._file.metadata
        file = RowGroupFile(self._native, metadata, columns)
        return pq.ParquetFile(file, metadata=metadata, pre_buffer=False)

    def _group(
        self, reader: Any, group: int, rows: int, columns: list[str], held: list[Any], count: int
    ) -> Iterator[Any]:
        """The full chunks row group ``group`` completes; its rest stays in ``held``."""
        import pyarrow as pa

        read = self._decoded(
            lambda: reader.iter_batches(
                batch_size=min(rows, READ_ROWS), row_groups=[group], columns=columns
            ),
            group,
        )
        for batch in read:
            while batch.num_rows:
                take = min(rows - count, batch.num_rows)
                held.append(batch.slice(0, take))
                batch, count = batch.slice(take), count + take
                if count == rows:
                    yield _joined(pa, held)
                    held.clear()
                    count = 0

    def _decoded(self, batches: Callable[[], Iterator[Any]], group: int) -> Iterator[Any]:
        """The record batches ``batches()`` decodes, a page pyarrow cannot read (a damaged
        file: corrupt compressed data, a bad page header) a :class:`SourceError` naming the
        file and its row group."""
        import pyarrow as pa

        try:
            yield from batches()
        except (OSError, pa.ArrowException) as exc:
            raise SourceError(
                f"{self.name}: row group {group} cannot be read ({exc}); is the file damaged?"
            ) from None


def _is_native(source: Any) -> bool:
    import pyarrow as pa

    return isinstance(source, pa.NativeFile) and not isinstance(source, pa.PythonFile)


def _joined(pa: Any, batches: list[Any]) -> Any:
    """One record batch of ``batches`` (copied into one buffer per column if several)."""
    if len(batches) == 1:
        return batches[0]
    return pa.Table.from_batches(batches).combine_chunks().to_batches()[0]


def _typed(value: str) -> int | str:
    """A partition value: an integer where it is one (``year=2026``), else its text."""
    digits = value[1:] if value.startswith("-") else value
    return int(value) if digits.isdigit() and len(digits) < 19 else value
