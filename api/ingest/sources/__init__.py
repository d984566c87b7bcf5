"""Sources of records for ``vecq ingest``, verify, mirror and schedules, behind one seam.

    Source (protocol) ......... numbered chunks of records, resumed by chunk number
     ├── NpySource, NpzSource . .npy and .npz files (npy.py)
     ├── ParquetSource ........ Parquet files and objects (parquet.py, rowgroups.py)
     ├── JsonlSource .......... JSON Lines, compressed or on standard input (jsonl.py)
     └── KeyedSource (protocol) resumed after the last committed key, in any chunk size
          └── PostgresSource .. a table or query (postgres.py)

``files.py`` opens the right source for each path, folder, glob or URL; ``objects.py``
reaches object storage and URLs (``RemoteFile``). A source yields numbered chunks in a fixed
order, so the same file read with the same chunk size always gives the same chunks: that is
what lets ``vecq ingest`` resume. Every chunk is checked before it is handed on; a problem
raises :class:`~vecq.shared.errors.SourceError` naming the file, the row (or line) and the
field.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from vecq.api.ingest.sources.objects import RemoteFile


@dataclass(frozen=True)
class Chunk:
    """Consecutive records of one source: arrays (``.npy``) or the library's dicts (JSON Lines)."""

    number: int
    first: int
    """The first record's row (0-based, ``.npy``) or line (1-based, JSON Lines)."""
    rows: int
    ids: npt.NDArray[np.int64] | None = None
    vectors: npt.NDArray[Any] | None = None
    records: list[dict[str, Any]] | None = None
    metadata: list[dict[str, Any] | None] | None = None
    """Columnar files: each row's other columns."""
    named: dict[str, Any] | None = None
    """Columnar files mapped to named vectors: a column per vector name (see
    :func:`vecq.shared.points.validation.from_arrays`)."""
    items: list[bytes | None] | None = None
    """Columnar files with an item column."""
    lines: list[int] | None = None
    """JSON Lines: the line of each record (blank lines are skipped)."""
    key: list[str] | None = None
    """Sources read in key order (PostgreSQL): the last row's key, as text, to resume after."""

    def where(self, row: int) -> str:
        """How an error names record ``row`` of this chunk in its file."""
        if self.lines is not None:
            return f"line {self.lines[row]}"
        return f"row {self.first + row}"


class Source(Protocol):
    """One backfill file (or object, or table)."""

    @property
    def path(self) -> Path | RemoteFile:
        """The file, or the object (:mod:`vecq.api.ingest.sources.objects`)."""
        ...

    @property
    def name(self) -> str:
        """How errors and logs name it (``<stdin>`` for standard input; no password)."""
        ...

    @property
    def carries_ids(self) -> bool:
        """True when the file holds its ids (not counted from a start)."""
        ...

    @property
    def stdin(self) -> bool:
        """True when it is read from standard input: once only, so never resumed or mirrored."""
        ...

    def fingerprint(self, chunk_rows: int) -> str:
        """Identity of this file's content and reading, for resuming (changes if the file does)."""
        ...

    def total(self) -> int | None:
        """Records in the file, if known without reading it."""
        ...

    def chunks(self, chunk_rows: int) -> Iterator[Chunk]:
        """The file's records, ``chunk_rows`` at a time."""
        ...


@runtime_checkable
class KeyedSource(Source, Protocol):
    """A source read in key order (a SQL table): resumed after the last committed row's key,
    whatever the chunk size, instead of by chunk number."""

    @property
    def key_columns(self) -> list[str]:
        """The columns rows are ordered by; a chunk's ``key`` holds the last row's values."""
        ...

    def chunks(self, chunk_rows: int, after: list[str] | None = None) -> Iterator[Chunk]:
        """The records after the key ``after`` (from the start: ``None``), ``chunk_rows`` at a
        time."""
        ...


def stat_key(path: Path | RemoteFile) -> str:
    """What a file's resume state is kept under: path, size and modification time (an
    object's URL, size and ETag); a changed file gets new state."""
    if isinstance(path, RemoteFile):
        return path.identity()
    st = path.stat()
    return f"{path.resolve()}:{st.st_size}:{st.st_mtime_ns}"


def digest(*parts: object) -> str:
    return hashlib.sha256("\x00".join(map(str, parts)).encode()).hexdigest()[:32]
