"""Finding backfill files: paths, folders and globs, opened as sources by their suffix."""

from __future__ import annotations

import glob
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from vecq.api.ingest.mapping import ColumnMap
from vecq.api.ingest.sources import Source
from vecq.api.ingest.sources import objects as remote
from vecq.api.ingest.sources.jsonl import COMPRESSIONS, STDIN, JsonlSource
from vecq.api.ingest.sources.npy import NpySource, NpzSource
from vecq.api.ingest.sources.objects import RemoteFile, is_remote
from vecq.api.ingest.sources.parquet import ParquetSource
from vecq.api.ingest.sources.postgres import PostgresSource, is_postgres
from vecq.shared.errors import SourceError
from vecq.shared.redaction import redact

SUFFIXES = (".npy", ".npz", ".parquet", ".jsonl", ".ndjson")
# What --format may name: for standard input, or files whose names do not say.
FORMATS = ("jsonl", "jsonl.gz", "jsonl.bz2", "jsonl.zst", "parquet")
_JSONL = (".jsonl", ".ndjson")


def kind(path: Path | RemoteFile) -> str:
    """The file's type by its suffix; a compressed JSON Lines file counts as ``.jsonl``."""
    if path.suffix in COMPRESSIONS and len(path.suffixes) >= 2 and path.suffixes[-2] in _JSONL:
        return ".jsonl"
    return ".jsonl" if path.suffix in _JSONL else path.suffix


def open_sources(
    patterns: list[str],
    ids: str | None = None,
    id_start: int = 0,
    *,
    missing_ok: bool = False,
    mapping: ColumnMap | None = None,
    table: str | None = None,
    query: str | None = None,
    since_column: str | None = None,
    scope: str | None = None,
    fmt: str | None = None,
) -> list[Source]:
    """The files that ``patterns`` name (files, directories, globs), in a stable order.

    ``mapping`` names the columns of Parquet and JSON Lines files (``.npy``/``.npz`` hold
    arrays: it does not apply to them).

    A pattern that matches nothing is an error, unless ``missing_ok`` (a scheduled source
    whose files have not arrived yet). A ``postgresql://`` URL is read alone, with
    ``table`` or ``query`` (and, incrementally, ``since_column``); ``scope`` (a schedule's
    name) keeps its resume key and watermark apart from other readers of the same rows.
    ``fmt`` (:data:`FORMATS`) says what standard input holds, or overrides the suffixes.
    """
    if any(map(is_postgres, patterns)) or table or query or since_column:
        if len(patterns) != 1 or not is_postgres(patterns[0]) or ids is not None:
            raise SourceError(
                "--table, --query and --since-column read one postgresql:// URL, "
                "alone and without --ids"
            )
        return [
            PostgresSource(
                patterns[0],
                table=table,
                query=query,
                mapping=mapping,
                since_column=since_column,
                scope=scope,
            )
        ]
    if fmt is not None and fmt not in FORMATS:
        raise SourceError(f"--format {fmt!r}: choose one of {', '.join(FORMATS)}")
    if STDIN in patterns:
        if len(patterns) != 1 or ids is not None:
            raise SourceError("'-' (standard input) is read alone, without --ids")
        return [stdin_source(fmt or "jsonl", mapping)]
    found = _expand(patterns, missing_ok)
    if ids is not None and len(found) != 1:
        raise SourceError("--ids pairs one ids file with one vectors file; name one .npy")
    if id_start < 0:
        raise SourceError(f"--id-start {id_start}: ids are 0 <= id < 2**63")
    sources: list[Source] = []
    next_id = id_start  # ids counted from a start run on across several array files
    for path, partition in found:
        source = _source(path, partition, mapping, ids, next_id, fmt)
        if isinstance(source, NpySource | NpzSource) and not source.carries_ids:
            rows = source.total() or 0
            if next_id + rows > 2**63:
                raise SourceError(
                    f"{path}: row {2**63 - next_id} would be id 2**63: the ids counted from "
                    f"--id-start {id_start} pass the largest id (2**63 - 1); start lower"
                )
            next_id += rows
        sources.append(source)
    return sources


def stdin_source(fmt: str, mapping: ColumnMap | None) -> Source:
    """Standard input holding ``fmt``: JSON Lines streamed (decompressed as read); Parquet
    (which is read from its end) spooled to a temporary file first. Never resumed."""
    if fmt == "parquet":
        spool = tempfile.NamedTemporaryFile(prefix="vecq-stdin-", suffix=".parquet")  # noqa: SIM115 - the source owns and closes it
        shutil.copyfileobj(sys.stdin.buffer, spool, 8 * 1024 * 1024)
        spool.flush()
        source = ParquetSource(Path(spool.name), mapping, name="<stdin>")
        source.spool = spool  # deleted with the source
        return source
    return JsonlSource(Path(STDIN), mapping, compression=fmt.removeprefix("jsonl") or None)


def _source(
    path: Path | RemoteFile,
    partition: dict[str, str],
    mapping: ColumnMap | None,
    ids: str | None,
    next_id: int,
    fmt: str | None = None,
) -> Source:
    """The source reading ``path``, by its suffix (or by ``fmt``, whatever the suffix)."""
    if fmt == "parquet":
        return ParquetSource(path, mapping, partition)
    if fmt is not None:
        return JsonlSource(path, mapping, compression=fmt.removeprefix("jsonl") or None)
    if kind(path) in (".npy", ".npz") and mapping is not None and not mapping.is_default:
        raise SourceError(f"{path}: column flags apply to Parquet and JSON Lines files only")
    if kind(path) in (".npy", ".npz") and isinstance(path, RemoteFile):
        raise SourceError(
            f"{path}: .npy and .npz are read from local disk; object storage "
            "and URLs serve Parquet and JSON Lines"
        )
    if kind(path) == ".npy":
        assert isinstance(path, Path)
        return NpySource(path, Path(ids) if ids else None, next_id)
    if kind(path) == ".npz":
        assert isinstance(path, Path)
        return NpzSource(path, next_id)
    if kind(path) == ".parquet":
        return ParquetSource(path, mapping, partition)
    if kind(path) == ".jsonl":
        return JsonlSource(path, mapping)
    raise SourceError(
        f"{path}: unsupported file type {path.suffix or '(none)'}; vecq ingest reads "
        f"{', '.join(SUFFIXES)}, JSON Lines compressed as {', '.join(COMPRESSIONS)}, "
        "and '-' (standard input)"
    )


def _expand(patterns: list[str], missing_ok: bool) -> list[tuple[Any, dict[str, str]]]:
    """Each file (a :class:`Path` or a :class:`RemoteFile`) with its Hive partition values."""
    found: list[tuple[Any, dict[str, str]]] = []
    for pattern in patterns:
        if is_remote(pattern):
            objects = remote.expand(pattern, lambda f: kind(f) in SUFFIXES)
            if not objects and not missing_ok:
                raise SourceError(f"{redact(pattern)}: no {', '.join(SUFFIXES)} objects")
            found.extend(objects)
            continue
        matched = sorted(glob.glob(pattern)) if glob.has_magic(pattern) else [pattern]
        if not matched and missing_ok:
            continue
        if not matched:
            raise SourceError(f"{pattern}: no file matches")
        for name in matched:
            path = Path(name)
            if path.is_dir():
                found.extend(
                    (p, remote.partitions(str(p)))
                    for p in sorted(path.rglob("*"))
                    if kind(p) in SUFFIXES
                )
            elif path.exists():
                found.append((path, remote.partitions(str(path))))
            else:
                raise SourceError(f"{path}: no such file or directory")
    if not found and not missing_ok:
        raise SourceError(f"no {', '.join(SUFFIXES)} files in {' '.join(patterns)}")
    return found
