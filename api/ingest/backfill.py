"""Backfilling files into an index, resumable chunk by chunk (``vecq ingest``, scheduled ETL).

Each file is read in fixed chunks (:mod:`api.ingest.chunks`); each chunk is validated whole and
then enqueued as one ``upsert``. Once a chunk is durably enqueued, its job id is recorded
in Redis under the file's fingerprint (path, size, modification time, chunk size), so a
re-run of the same command after a crash or Ctrl-C skips the chunks already committed
and redoes at most the one that was cut short, which is harmless: writes are idempotent.
A changed file has a new fingerprint and is read again from the start.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from api.index import Index
from api.ingest.chunks import Chunk, Source
from api.jobs import UpsertJob
from shared import keys, validation
from shared.errors import InvalidInputError, SourceError
from shared.validation import Points

# Default bytes of vectors per chunk (one upsert call): big enough for full batches on
# every shard, small enough that memory stays far below the file size.
CHUNK_BYTES = 64 * 1024 * 1024
# Fields of a file's ingest ledger (besides its chunk numbers) once every chunk is committed.
COMPLETE = "complete"
ROWS = "rows"

# JSON Lines chunks are smaller: each float is a Python object until validated.
JSONL_CHUNK_ROWS = 4096


@dataclass
class Report:
    """What one ``ingest`` did."""

    files: int = 0
    chunks: int = 0
    skipped_chunks: int = 0
    vectors: int = 0
    skipped_vectors: int = 0
    jobs: list[UpsertJob] = field(default_factory=list)


def chunk_rows_for(source: Source, dimension: int) -> int:
    """Rows per chunk for ``source``: ``CHUNK_BYTES`` of float32 vectors, fewer for JSON."""
    if source.path.suffix in (".jsonl", ".ndjson"):
        return JSONL_CHUNK_ROWS
    return max(1, CHUNK_BYTES // (4 * dimension))


def ingest(
    index: Index,
    sources: list[Source],
    *,
    chunk_rows: int | None = None,
    resume: bool = True,
    on_progress: Callable[[int], None] | None = None,
    ledger_ttl: int = keys.JOB_TTL_SECONDS,
) -> Report:
    """Enqueue every chunk of ``sources`` not committed before; return what was done.

    ``on_progress(n)`` is called with each chunk's size once it is enqueued or skipped. The
    returned jobs are the ones this run enqueued; wait on them to know the data is written.
    A file whose every chunk was committed is marked complete and later skipped without
    being read; each run that sees it keeps its record ``ledger_ttl`` seconds longer.
    """
    report = Report(files=len(sources))
    r = index.client.redis
    for source in sources:
        rows = chunk_rows or chunk_rows_for(source, index.dimension)
        ledger_key = keys.ingest(index.name, source.fingerprint(rows))
        if resume and _skip_complete(r, ledger_key, ledger_ttl, report, on_progress):
            continue
        done = {int(k) for k in r.hkeys(ledger_key) if k.isdigit()} if resume else set()
        total = chunks = 0
        for chunk in source.chunks(rows):
            report.chunks += 1
            chunks, total = chunks + 1, total + chunk.rows
            if chunk.number in done:
                report.skipped_chunks += 1
                report.skipped_vectors += chunk.rows
            else:
                points = _validate(source, chunk, index)
                job = index.enqueue(points)
                r.hset(ledger_key, str(chunk.number), job.job_id)
                r.expire(ledger_key, ledger_ttl)
                report.jobs.append(job)
                report.vectors += chunk.rows
            if on_progress is not None:
                on_progress(chunk.rows)
        r.hset(ledger_key, mapping={COMPLETE: chunks, ROWS: total})
        r.expire(ledger_key, ledger_ttl)
    return report


def _skip_complete(
    r: Any, key: str, ttl: int, report: Report, on_progress: Callable[[int], None] | None
) -> bool:
    """Count a file committed in full by an earlier run as skipped; False if it is not."""
    complete, rows = r.hmget(key, [COMPLETE, ROWS])
    if complete is None:
        return False
    r.expire(key, ttl)
    report.chunks += int(complete)
    report.skipped_chunks += int(complete)
    report.skipped_vectors += int(rows or 0)
    if on_progress is not None:
        on_progress(int(rows or 0))
    return True


def _validate(source: Source, chunk: Chunk, index: Index) -> Points:
    """The chunk as validated points, or a :class:`SourceError` naming file, row and field."""
    settings = index.client.settings
    try:
        if chunk.records is not None:
            return validation.from_records(chunk.records, index.dimension, settings.max_item_bytes)
        return validation.from_arrays(chunk.ids, chunk.vectors, index.dimension, chunk.metadata)
    except SourceError:
        raise
    except InvalidInputError as exc:
        if exc.row is None:
            raise SourceError(f"{source.path}: chunk from {chunk.where(0)}: {exc}") from None
        detail = str(exc).removeprefix(f"row {exc.row}")
        raise SourceError(f"{source.path}: {chunk.where(exc.row)}{detail}", row=exc.row) from None
