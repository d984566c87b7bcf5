"""Finding backfill files: paths, folders and globs, opened as sources by their suffix."""

from __future__ import annotations

import glob
from pathlib import Path

from api.ingest.arrow import ParquetSource
from api.ingest.chunks import Source
from api.ingest.jsonl import JsonlSource
from api.ingest.npy import NpySource, NpzSource
from shared.errors import SourceError

SUFFIXES = (".npy", ".npz", ".parquet", ".jsonl", ".ndjson")


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
