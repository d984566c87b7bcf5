"""Reading backfill files in bounded chunks: ``.npy``, ``.npz``, Parquet and JSON Lines.

A source yields numbered chunks in a fixed order, so the same file read with the same
chunk size always gives the same chunks: that is what lets ``vecq ingest`` resume. Every
chunk is checked before it is handed on; a problem raises :class:`SourceError` naming the
file, the row (or line) and the field.
"""

from __future__ import annotations

import base64
import binascii
import glob
import hashlib
import json
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from shared.errors import InvalidInputError

SUFFIXES = (".npy", ".npz", ".parquet", ".jsonl", ".ndjson")


class SourceError(InvalidInputError):
    """A backfill file is malformed; the message names the file, the row or line, the field."""


@dataclass(frozen=True)
class Chunk:
    """Consecutive records of one source: arrays (``.npy``) or seed-format dicts (JSON Lines)."""

    number: int
    first: int
    """The first record's row (0-based, ``.npy``) or line (1-based, JSON Lines)."""
    rows: int
    ids: npt.NDArray[np.int64] | None = None
    vectors: npt.NDArray[Any] | None = None
    records: list[dict[str, Any]] | None = None
    metadata: list[dict[str, Any] | None] | None = None
    """Columnar files: each row's other columns."""
    lines: list[int] | None = None
    """JSON Lines: the line of each record (blank lines are skipped)."""

    def where(self, row: int) -> str:
        """How an error names record ``row`` of this chunk in its file."""
        if self.lines is not None:
            return f"line {self.lines[row]}"
        return f"row {self.first + row}"


class Source(Protocol):
    """One backfill file."""

    path: Path

    @property
    def carries_ids(self) -> bool:
        """True when the file holds its ids (not counted from a start)."""
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


def _stat_key(path: Path) -> str:
    st = path.stat()
    return f"{path.resolve()}:{st.st_size}:{st.st_mtime_ns}"


def _digest(*parts: object) -> str:
    return hashlib.sha256("\x00".join(map(str, parts)).encode()).hexdigest()[:32]


class NpySource:
    """A 2-D ``.npy`` of vectors, memory-mapped; ids from a 1-D ``.npy`` or counted from a start."""

    def __init__(self, path: Path, ids: Path | None = None, id_start: int = 0) -> None:
        self.path = path
        self.ids_path = ids
        self.id_start = id_start
        self.carries_ids = ids is not None
        try:
            self._vectors = np.load(path, mmap_mode="r", allow_pickle=False)
            self._ids = None if ids is None else np.load(ids, mmap_mode="r", allow_pickle=False)
        except (ValueError, OSError) as exc:
            raise SourceError(f"{path}: not a readable .npy file ({exc})") from exc
        if self._vectors.ndim != 2:
            raise SourceError(
                f"{path}: vectors must be a 2-D array (rows, dimension), got shape "
                f"{self._vectors.shape}"
            )
        if self._ids is not None and self._ids.shape != (self._vectors.shape[0],):
            raise SourceError(
                f"{ids}: ids must be a 1-D array of {self._vectors.shape[0]} (one per row of "
                f"{path.name}), got shape {self._ids.shape}"
            )

    def fingerprint(self, chunk_rows: int) -> str:
        ids = _stat_key(self.ids_path) if self.ids_path is not None else f"start={self.id_start}"
        return _digest("npy", _stat_key(self.path), ids, chunk_rows)

    def total(self) -> int | None:
        return int(self._vectors.shape[0])

    def chunks(self, chunk_rows: int) -> Iterator[Chunk]:
        n = int(self._vectors.shape[0])
        for number, lo in enumerate(range(0, n, chunk_rows)):
            hi = min(lo + chunk_rows, n)
            if self._ids is not None:
                ids = np.asarray(self._ids[lo:hi])
            else:
                ids = np.arange(self.id_start + lo, self.id_start + hi, dtype=np.int64)
            yield Chunk(number, lo, hi - lo, ids=ids, vectors=self._vectors[lo:hi])


class NpzSource:
    """An ``.npz`` with a 2-D ``vectors`` array and optionally 1-D ``ids``, streamed row by row.

    Members are read from the zip in chunks (compressed or not), never loaded whole. Without
    ``ids`` they are counted from a start, as for ``.npy``.
    """

    def __init__(self, path: Path, id_start: int = 0) -> None:
        self.path = path
        self.id_start = id_start
        try:
            with zipfile.ZipFile(path) as zf:
                names = set(zf.namelist())
                if "vectors.npy" not in names:
                    found = ", ".join(sorted(n.removesuffix(".npy") for n in names)) or "none"
                    raise SourceError(f"{path}: needs an array named 'vectors' (found: {found})")
                self._shape, self._dtype = _npy_header(zf, "vectors.npy", path)
                self._has_ids = self.carries_ids = "ids.npy" in names
                if self._has_ids:
                    ids_shape, _ = _npy_header(zf, "ids.npy", path)
                    if ids_shape != (self._shape[0],):
                        raise SourceError(
                            f"{path}: 'ids' must be 1-D with one id per row of 'vectors' "
                            f"({self._shape[0]}), got shape {ids_shape}"
                        )
        except (zipfile.BadZipFile, OSError) as exc:
            raise SourceError(f"{path}: not a readable .npz file ({exc})") from exc
        if len(self._shape) != 2:
            raise SourceError(f"{path}: 'vectors' must be 2-D, got shape {self._shape}")

    def fingerprint(self, chunk_rows: int) -> str:
        return _digest("npz", _stat_key(self.path), f"start={self.id_start}", chunk_rows)

    def total(self) -> int | None:
        return int(self._shape[0])

    def chunks(self, chunk_rows: int) -> Iterator[Chunk]:
        n, dim = self._shape
        with zipfile.ZipFile(self.path) as zf:
            vectors = _rows(zf, "vectors.npy", self._dtype, (dim,), chunk_rows)
            ids = _rows(zf, "ids.npy", None, (), chunk_rows) if self._has_ids else None
            for number, lo in enumerate(range(0, n, chunk_rows)):
                hi = min(lo + chunk_rows, n)
                block = next(vectors)
                id_block = (
                    next(ids)
                    if ids is not None
                    else np.arange(self.id_start + lo, self.id_start + hi, dtype=np.int64)
                )
                yield Chunk(number, lo, hi - lo, ids=id_block, vectors=block)


def _npy_header(zf: zipfile.ZipFile, member: str, path: Path) -> tuple[tuple[int, ...], Any]:
    with zf.open(member) as f:
        version = np.lib.format.read_magic(f)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(f)
        else:
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(f)
    if fortran and len(shape) > 1:
        raise SourceError(f"{path}: '{member[:-4]}' is stored in Fortran order; save it C-ordered")
    if dtype.hasobject:
        raise SourceError(f"{path}: '{member[:-4]}' holds Python objects; vecq reads numbers only")
    return tuple(shape), dtype


def _rows(
    zf: zipfile.ZipFile, member: str, dtype: Any, row_shape: tuple[int, ...], chunk_rows: int
) -> Iterator[npt.NDArray[Any]]:
    """Successive blocks of ``chunk_rows`` rows of one array member, read as a stream."""
    with zf.open(member) as f:
        version = np.lib.format.read_magic(f)
        reader = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                  else np.lib.format.read_array_header_2_0)  # fmt: skip
        shape, _, file_dtype = reader(f)
        dtype = dtype or file_dtype
        row_bytes = int(np.prod(row_shape, dtype=np.int64)) * dtype.itemsize
        left = int(shape[0])
        while left:
            take = min(chunk_rows, left)
            data = f.read(take * row_bytes)
            yield np.frombuffer(data, dtype=dtype).reshape((take, *row_shape))
            left -= take


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
        return _digest("parquet", _stat_key(self.path), chunk_rows)

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


class JsonlSource:
    """JSON Lines in the seed's dict format: ``id``, ``vector``, ``item`` (base64), ``metadata``."""

    carries_ids = True

    def __init__(self, path: Path) -> None:
        self.path = path

    def fingerprint(self, chunk_rows: int) -> str:
        return _digest("jsonl", _stat_key(self.path), chunk_rows)

    def total(self) -> int | None:
        return None

    def chunks(self, chunk_rows: int) -> Iterator[Chunk]:
        records: list[dict[str, Any]] = []
        lines: list[int] = []
        number = 0
        with self.path.open("rb") as f:
            for line_no, raw in enumerate(f, start=1):
                if not raw.strip():
                    continue
                records.append(self._record(raw, line_no))
                lines.append(line_no)
                if len(records) == chunk_rows:
                    yield Chunk(number, lines[0], len(records), records=records, lines=lines)
                    number += 1
                    records, lines = [], []
        if records:
            yield Chunk(number, lines[0], len(records), records=records, lines=lines)

    def _record(self, raw: bytes, line: int) -> dict[str, Any]:
        where = f"{self.path}: line {line}"
        try:
            record = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise SourceError(f"{where}: not valid JSON ({exc})") from None
        if not isinstance(record, dict):
            raise SourceError(f"{where}: expected a JSON object, got {type(record).__name__}")
        for field in ("id", "vector"):
            if field not in record:
                raise SourceError(f"{where}: field {field!r} is missing")
        item = record.get("item")
        if item is not None:
            if not isinstance(item, str):
                raise SourceError(f"{where}: field 'item' must be a base64 string")
            try:
                record["item"] = base64.b64decode(item, validate=True)
            except (binascii.Error, ValueError):
                raise SourceError(f"{where}: field 'item' is not valid base64") from None
        return record


def open_sources(
    patterns: list[str], ids: str | None = None, id_start: int = 0, *, missing_ok: bool = False
) -> list[Source]:
    """The files that ``patterns`` name (files, directories, globs), in a stable order.

    A pattern that matches nothing is an error, unless ``missing_ok`` (a scheduled source
    whose files have not arrived yet).
    """
    paths = _expand(patterns, missing_ok)
    if ids is not None and len(paths) != 1:
        raise SourceError("--ids pairs one ids file with one vectors file; name one .npy")
    sources: list[Source] = []
    next_id = id_start  # ids counted from a start run on across several array files
    for path in paths:
        source: Source
        if path.suffix == ".npy":
            source = NpySource(path, Path(ids) if ids else None, next_id)
            next_id += source.total() or 0
        elif path.suffix == ".npz":
            source = NpzSource(path, next_id)
            next_id += source.total() or 0
        elif path.suffix == ".parquet":
            source = ParquetSource(path)
        elif path.suffix in (".jsonl", ".ndjson"):
            source = JsonlSource(path)
        else:
            raise SourceError(
                f"{path}: unsupported file type {path.suffix or '(none)'}; vecq ingest reads "
                f"{', '.join(SUFFIXES)}"
            )
        sources.append(source)
    return sources


def _expand(patterns: list[str], missing_ok: bool) -> list[Path]:
    paths: list[Path] = []
    for pattern in patterns:
        matched = sorted(glob.glob(pattern)) if glob.has_magic(pattern) else [pattern]
        if not matched and missing_ok:
            continue
        if not matched:
            raise SourceError(f"{pattern}: no file matches")
        for name in matched:
            path = Path(name)
            if path.is_dir():
                paths.extend(sorted(p for p in path.rglob("*") if p.suffix in SUFFIXES))
            elif path.exists():
                paths.append(path)
            else:
                raise SourceError(f"{path}: no such file or directory")
    if not paths and not missing_ok:
        raise SourceError(f"no {', '.join(SUFFIXES)} files in {' '.join(patterns)}")
    return paths
