"""Reading backfill files in bounded chunks: NumPy ``.npy`` and JSON Lines.

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
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from shared.errors import InvalidInputError

SUFFIXES = (".npy", ".jsonl", ".ndjson")


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


class JsonlSource:
    """JSON Lines in the seed's dict format: ``id``, ``vector``, ``item`` (base64), ``metadata``."""

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


def open_sources(patterns: list[str], ids: str | None = None, id_start: int = 0) -> list[Source]:
    """The files that ``patterns`` name (files, directories, globs), in a stable order."""
    paths: list[Path] = []
    for pattern in patterns:
        matched = sorted(glob.glob(pattern)) if glob.has_magic(pattern) else [pattern]
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
    if not paths:
        raise SourceError(f"no {', '.join(SUFFIXES)} files in {' '.join(patterns)}")
    if ids is not None and len(paths) != 1:
        raise SourceError("--ids pairs one ids file with one vectors file; name one .npy")
    sources: list[Source] = []
    next_id = id_start  # ids counted from a start run on across several .npy files
    for path in paths:
        if path.suffix == ".npy":
            source = NpySource(path, Path(ids) if ids else None, next_id)
            next_id += source.total() or 0
            sources.append(source)
        elif path.suffix in (".jsonl", ".ndjson"):
            sources.append(JsonlSource(path))
        else:
            raise SourceError(
                f"{path}: unsupported file type {path.suffix or '(none)'}; vecq ingest reads "
                f"{', '.join(SUFFIXES)}"
            )
    return sources
