"""JSON Lines as a backfill source: one record per line in the library's dict form, items in base64.

A line may also be ``{"op": "delete", "id": ...}``: the id is deleted at that point of the
file (``{"op": "upsert", ...}`` is the default spelled out). Files may be compressed
(``.gz``, ``.bz2``, ``.zst``: decompressed as they are read, never whole), and ``-`` reads
standard input (a pipe cannot be read again, so such a run does not resume).
"""

from __future__ import annotations

import base64
import binascii
import bz2
import contextlib
import gzip
import io
import json
import sys
import uuid
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from vecq.api.ingest.mapping import ColumnMap
from vecq.api.ingest.sources import Chunk, digest, stat_key
from vecq.api.ingest.sources.objects import RemoteFile
from vecq.shared.errors import SourceError

# What a delete line may hold.
_DELETE_FIELDS = frozenset({"op", "id"})


# Compressed JSON Lines: the suffix after .jsonl or .ndjson, and how to open it.
COMPRESSIONS = (".gz", ".bz2", ".zst")
# The path that stands for standard input.
STDIN = "-"


# How compressed streams begin, and their suffixes.
_MAGIC = {
    b"\x1f\x8b": (".gz", "gzip"),
    b"BZh": (".bz2", "bzip2"),
    b"\x28\xb5\x2f\xfd": (".zst", "zstd"),
}


class JsonlSource:
    """JSON Lines in the library's dict form: ``id``, ``vector``, ``item`` (base64), ``metadata``;
    or ``{"op": "delete", "id"}``. A compressed file is read through its decompressor; the
    path ``-`` is standard input."""

    carries_ids = True

    def __init__(
        self,
        path: Path | RemoteFile,
        mapping: ColumnMap | None = None,
        compression: str | None = None,
    ) -> None:
        self.path = path
        self.mapping = mapping or ColumnMap()
        self.stdin = str(path) == STDIN
        if compression is None and path.suffix in COMPRESSIONS:
            compression = path.suffix
        self.compression = compression
        """``.gz``, ``.bz2`` or ``.zst`` (by the suffix, unless given), or ``None``."""
        self.name = "<stdin>" if self.stdin else str(path)
        """How errors name it."""
        self.on_bad_line: Callable[[SourceError], None] | None = None
        """Given a line that is no record (not JSON, a field missing), instead of raising:
        a dry run counts and reports every such line and reads on."""

    def fingerprint(self, chunk_rows: int) -> str:
        if self.stdin:  # never the same twice: a pipe's rows cannot be skipped to resume
            return digest("jsonl-stdin", uuid.uuid4().hex, chunk_rows)
        if self.mapping.is_default:
            return digest("jsonl", stat_key(self.path), chunk_rows)
        return digest("jsonl", stat_key(self.path), chunk_rows, self.mapping.key())

    def total(self) -> int | None:
        return None

    def chunks(self, chunk_rows: int) -> Iterator[Chunk]:
        records: list[dict[str, Any]] = []
        lines: list[int] = []
        number = 0
        with self._open() as f:
            for line_no, raw in enumerate(f, start=1):
                if not raw.strip():
                    continue
                try:
                    records.append(self._record(raw, line_no))
                except SourceError as exc:
                    if self.on_bad_line is None:
                        raise
                    self.on_bad_line(exc)
                    continue
                lines.append(line_no)
                if len(records) == chunk_rows:
                    yield Chunk(number, lines[0], len(records), records=records, lines=lines)
                    number += 1
                    records, lines = [], []
        if records:
            yield Chunk(number, lines[0], len(records), records=records, lines=lines)

    @contextlib.contextmanager
    def _open(self) -> Iterator[Iterable[bytes]]:
        """The lines' bytes: a file, an object (read front to back, in ranges) or standard
        input, through its decompressor."""
        zstandard = self._zstandard() if self.compression == ".zst" else None
        with contextlib.ExitStack() as stack:
            raw: Any = sys.stdin.buffer if self.stdin else stack.enter_context(self.path.open("rb"))
            if self.compression is None:
                self._not_compressed(raw)
            if self.compression == ".gz":
                raw = stack.enter_context(gzip.GzipFile(fileobj=raw, mode="rb"))
            elif self.compression == ".bz2":
                raw = stack.enter_context(bz2.BZ2File(raw, "rb"))
            elif zstandard is not None:
                reader = zstandard.ZstdDecompressor().stream_reader(raw)
                raw = stack.enter_context(io.BufferedReader(reader))
            yield raw

    def _not_compressed(self, raw: Any) -> None:
        """Refuse, with the flag to give, a compressed stream read as plain JSON Lines (a
        file named ``.jsonl`` or standard input holding gzip, bzip2 or zstd)."""
        peek = getattr(raw, "peek", None)
        start = bytes(peek(4)[:4]) if callable(peek) else b""
        for magic, (suffix, kind) in _MAGIC.items():
            if start.startswith(magic):
                how = f"give --format jsonl{suffix}" if self.stdin else f"name it *.jsonl{suffix}"
                raise SourceError(f"{self.name}: this is {kind}-compressed, not JSON Lines: {how}")

    def _zstandard(self) -> Any:
        try:
            import zstandard
        except ImportError:
            raise SourceError(
                f"{self.path}: reading .zst needs the zstandard package (pip install 'vecq[zstd]')"
            ) from None
        return zstandard

    def _record(self, raw: bytes, line: int) -> dict[str, Any]:
        where = f"{self.name}: line {line}"
        try:
            record = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise SourceError(f"{where}: not valid JSON ({exc})") from None
        if not isinstance(record, dict):
            raise SourceError(f"{where}: expected a JSON object, got {type(record).__name__}")
        op = record.pop("op", "upsert")
        if op == "delete":
            extra = set(record) - _DELETE_FIELDS - {self.mapping.id}
            if (self.mapping.id not in record and "id" not in record) or extra:
                raise SourceError(f"{where}: a delete line holds only 'op' and 'id'")
            return {
                "op": "delete",
                "id": record[self.mapping.id if self.mapping.id in record else "id"],
            }
        if op != "upsert":
            raise SourceError(f"{where}: field 'op' must be 'upsert' or 'delete', got {op!r}")
        if not self.mapping.is_default:
            record = self.mapping.record(record, where)
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
        point: dict[str, Any] = record
        return point
