"""Backfilling files into an index, resumable chunk by chunk (``vecq ingest``, scheduled ETL).

Each file is read in fixed chunks (:mod:`vecq.api.ingest.sources`); each chunk is validated
whole and then enqueued as one ``upsert`` (JSON Lines with delete lines: one call per run of
upserts or deletes, in file order). Once a chunk is durably enqueued, its job ids are recorded
in Redis under the file's fingerprint (path, size, modification time, chunk size), so a
re-run of the same command after a crash or Ctrl-C skips the chunks already committed
and redoes at most the one that was cut short, which is harmless: writes are idempotent.
A changed file has a new fingerprint and is read again from the start.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from vecq.api import defaults
from vecq.api.index import Index
from vecq.api.ingest import mapping
from vecq.api.ingest.sources import Chunk, KeyedSource, Source
from vecq.api.ingest.sources.jsonl import JsonlSource
from vecq.api.jobs import UpsertJob
from vecq.shared import keys
from vecq.shared.errors import InvalidInputError, SourceError, VecqError
from vecq.shared.points import validation
from vecq.shared.points.validation import Points
from vecq.shared.state.leases import Lease
from vecq.shared.state.replies import text

# Fields of a file's ingest ledger (besides its chunk numbers) once every chunk is committed.
COMPLETE = "complete"
ROWS = "rows"
# Fields of a keyed source's ledger: the last committed row's key (JSON text), and how
# many chunks were committed (besides ROWS, the records in them).
AFTER = "after"
CHUNKS = "chunks"
# A keyed source's ledger (its watermark) lives at least this long after its last run: lost,
# the next run would read the whole table again (harmless, but long).
KEYED_LEDGER_TTL = 90 * 86400


@dataclass
class Report:
    """What one ``ingest`` did."""

    files: int = 0
    chunks: int = 0
    skipped_chunks: int = 0
    vectors: int = 0
    skipped_vectors: int = 0
    jobs: list[UpsertJob] = field(default_factory=list)
    earlier_jobs: list[UpsertJob] = field(default_factory=list)
    """Jobs of earlier runs, for chunks this run skipped, that were not finished yet (their
    batches were still queued, e.g. after a crash); wait on them too."""
    earlier_vectors: int = 0
    """Records in ``earlier_jobs``."""


def chunk_rows_for(source: Source, dimension: int) -> int:
    """Rows per chunk for ``source``: ``CHUNK_BYTES`` of float32 vectors, fewer for JSON."""
    if isinstance(source, JsonlSource):  # compressed and standard input too
        return defaults.JSONL_CHUNK_ROWS
    return max(1, defaults.CHUNK_BYTES // (4 * max(1, dimension)))


def ingest(
    index: Index,
    sources: list[Source],
    *,
    chunk_rows: int | None = None,
    resume: bool = True,
    on_progress: Callable[[int], None] | None = None,
    ledger_ttl: int = keys.JOB_TTL_SECONDS,
    same_chunking: bool = False,
    report: Report | None = None,
) -> Report:
    """Enqueue every chunk of ``sources`` not committed before; return what was done.

    ``on_progress(n)`` is called with each chunk's size once it is enqueued or skipped. The
    returned jobs are the ones this run enqueued; wait on them to know the data is written.
    Without ``chunk_rows``, a file is resumed in the chunk size an earlier run used; with
    ``same_chunking`` (``vecq ingest``) another ``chunk_rows`` is refused (:class:`SourceError`
    naming the size to resume with): resume state is kept per chunk size.
    A file whose every chunk was committed is marked complete and later skipped without
    being read; each run that sees it keeps its record ``ledger_ttl`` seconds longer.
    ``report``, if given, is filled as the run goes: a caller still has it if the run is cut
    short (an interrupt, Redis gone).
    """
    mapping.check_sources(sources, index.info.schema)  # once, before reading
    report = report if report is not None else Report()
    report.files = len(sources)
    earlier: list[str] = []
    for source in sources:
        rows = chunk_rows or chunk_rows_for(source, index.info.width)
        with _one_run(index, source):
            if isinstance(source, KeyedSource):
                _ingest_keyed(index, source, rows, resume, report, on_progress, ledger_ttl)
                continue
            rows = _resume_size(index, source, chunk_rows, rows, same_chunking) if resume else rows
            _ingest_file(index, source, rows, resume, report, on_progress, ledger_ttl, earlier)
    _unfinished(index, earlier, report)
    return report


def _one_run(index: Index, source: Source) -> Lease:
    """The lease that lets one run at a time read ``source`` into ``index``: a second one,
    started while the first runs, would enqueue everything again (neither has committed
    what the other is reading)."""
    return Lease(
        index.session.redis,
        keys.ingest_lease(index.name, source.fingerprint(0)),
        f"an ingest of {source.name} into index {index.name!r}",
        "wait for it to finish (a run after it skips what it enqueued), or stop it",
    )


def _ingest_file(
    index: Index,
    source: Source,
    rows: int,
    resume: bool,
    report: Report,
    on_progress: Callable[[int], None] | None,
    ledger_ttl: int,
    earlier: list[str],
) -> None:
    """A source read in chunks of ``rows``, each chunk's jobs recorded as it is enqueued; the
    jobs of chunks earlier runs enqueued go to ``earlier``."""
    r = index.session.redis
    chunking = keys.ingest_chunking(index.name, source.fingerprint(0))
    ledger_key = keys.ingest(index.name, source.fingerprint(rows))
    committed = _committed(r, ledger_key) if resume else {}
    if resume and _skip_complete(r, ledger_key, ledger_ttl, report, on_progress):
        earlier.extend(committed.values())
        r.expire(chunking, ledger_ttl)
        return
    done = set(committed)
    total = chunks = 0
    for chunk in source.chunks(rows):
        report.chunks += 1
        chunks, total = chunks + 1, total + chunk.rows
        if chunk.number in done:
            report.skipped_chunks += 1
            report.skipped_vectors += chunk.rows
            earlier.append(committed[chunk.number])
        else:
            jobs = [index.enqueue(points) for points in validate_chunk(source, chunk, index)]
            r.hset(ledger_key, str(chunk.number), ",".join(j.job_id for j in jobs))
            r.expire(ledger_key, ledger_ttl)
            r.set(chunking, rows, ex=ledger_ttl)  # the size to resume with
            report.jobs.extend(jobs)
            report.vectors += chunk.rows
        if on_progress is not None:
            on_progress(chunk.rows)
    r.hset(ledger_key, mapping={COMPLETE: chunks, ROWS: total})
    r.expire(ledger_key, ledger_ttl)


def _ingest_keyed(
    index: Index,
    source: KeyedSource,
    rows: int,
    resume: bool,
    report: Report,
    on_progress: Callable[[int], None] | None,
    ttl: int,
) -> None:
    """A source read in key order (a SQL table): read after the last committed chunk's key,
    in any chunk size. The key moves in the same transaction that records the chunk's jobs,
    so a run killed at any point redoes at most the chunk it had not recorded."""
    r = index.session.redis
    ttl = max(ttl, KEYED_LEDGER_TTL)
    ledger_key = keys.ingest(index.name, source.fingerprint(0))
    if not resume:
        r.delete(ledger_key)
    saved, earlier_rows, earlier_chunks = r.hmget(ledger_key, [AFTER, ROWS, CHUNKS])
    report.skipped_vectors += int(earlier_rows or 0)
    report.skipped_chunks += int(earlier_chunks or 0)
    report.chunks += int(earlier_chunks or 0)
    committed = _committed(r, ledger_key)
    for number, job_ids in committed.items():  # jobs of earlier runs: wait on the unsettled
        if not _unfinished(index, [job_ids], report):
            r.hdel(ledger_key, str(number))  # settled: no run needs to look at it again
    base = max(committed, default=-1) + 1
    for chunk in source.chunks(rows, after=json.loads(saved) if saved else None):
        report.chunks += 1
        jobs = [index.enqueue(points) for points in validate_chunk(source, chunk, index)]
        pipe = r.pipeline()  # MULTI/EXEC: the key and the jobs are recorded together
        pipe.hset(
            ledger_key,
            mapping={
                str(base + chunk.number): ",".join(j.job_id for j in jobs),
                AFTER: json.dumps(chunk.key),
            },
        )
        pipe.hincrby(ledger_key, ROWS, chunk.rows)
        pipe.hincrby(ledger_key, CHUNKS, 1)
        pipe.expire(ledger_key, ttl)
        pipe.execute()
        report.jobs.extend(jobs)
        report.vectors += chunk.rows
        if on_progress is not None:
            on_progress(chunk.rows)


def _resume_size(index: Index, source: Source, asked: int | None, rows: int, refuse: bool) -> int:
    """The chunk size to resume the file in (resume state is kept per size): the one an
    earlier run used when none is ``asked`` (even across a change of the default, ``rows``
    when there was none); with ``refuse``, an ``asked`` size other than the earlier run's
    raises, naming the size to resume with, rather than silently start over."""
    before = index.session.redis.get(keys.ingest_chunking(index.name, source.fingerprint(0)))
    if before is None or int(before) == rows:
        return rows
    if asked is None:
        return int(before)
    if refuse:
        name = source.name
        raise SourceError(
            f"{name}: an earlier run read this file in chunks of {int(before):,} records; run "
            f"with --chunk-rows {int(before)} to resume where it stopped, or --restart to "
            f"read it again from the start in chunks of {rows:,}"
        )
    return rows


def _committed(r: Any, key: str) -> dict[int, str]:
    """The chunks an earlier run committed: chunk number -> its jobs' ids (comma-separated)."""
    return {int(k): text(v) for k, v in r.hgetall(key).items() if k.isdigit()}


def _unfinished(index: Index, job_lists: list[str], report: Report) -> int:
    """Add the earlier runs' jobs that are still unsettled to ``report.earlier_jobs``;
    return how many were."""
    before = len(report.earlier_jobs)
    for ids in job_lists:
        for job_id in filter(None, ids.split(",")):
            try:
                job = index.session.job(job_id)
            except VecqError:  # expired with its ledger: finished long ago
                continue
            state = job.state()
            if state.status not in ("done", "failed"):
                report.earlier_jobs.append(job)
                report.earlier_vectors += job.total
    return len(report.earlier_jobs) - before


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


def validate_chunk(source: Source, chunk: Chunk, index: Index) -> list[Points]:
    """The chunk as validated calls (a run of upserts, or of deletes, each), or a
    :class:`SourceError` naming file, row and field. Every run is validated before any is
    returned, so a bad record anywhere keeps the whole chunk out."""
    settings = index.session.settings
    if chunk.records is None:
        with _naming(source, chunk, 0):
            return [arrays_points(chunk, index)]
    calls = []
    for start, op, records in _runs(chunk.records):
        with _naming(source, chunk, start):
            if op == "delete":
                calls.append(validation.deletions([r["id"] for r in records]))
            else:
                calls.append(
                    validation.from_records(
                        records, index.dimension, settings.max_item_bytes, schema=index.info.schema
                    )
                )
    return calls


def arrays_points(chunk: Chunk, index: Index, rows: Any = None) -> Points:
    """The chunk's columns (``rows`` of them, default all) validated as one upsert."""
    assert chunk.ids is not None and chunk.vectors is not None
    ids, vectors = chunk.ids, chunk.named if chunk.named is not None else chunk.vectors
    metadata, items = chunk.metadata, chunk.items
    if rows is not None:
        ids = ids[rows]
        vectors = _pick(vectors, rows)
        metadata = [metadata[r] for r in rows] if metadata is not None else None
        items = [items[r] for r in rows] if items is not None else None
    return validation.from_arrays(
        ids,
        vectors,
        index.dimension,
        metadata,
        items,
        index.session.settings.max_item_bytes,
        schema=index.info.schema,
    )


def _pick(vectors: Any, rows: Any) -> Any:
    if isinstance(vectors, dict):
        return {
            name: column[rows] if isinstance(column, np.ndarray) else [column[r] for r in rows]
            for name, column in vectors.items()
        }
    return vectors[rows]


def _runs(records: list[dict[str, Any]]) -> list[tuple[int, str, list[dict[str, Any]]]]:
    """Consecutive records of one operation: (first row, op, records), in order."""
    runs: list[tuple[int, str, list[dict[str, Any]]]] = []
    for row, record in enumerate(records):
        op = record.get("op", "upsert")
        if not runs or runs[-1][1] != op:
            runs.append((row, op, []))
        runs[-1][2].append(record)
    return runs


@contextlib.contextmanager
def _naming(source: Source, chunk: Chunk, first: int) -> Iterator[None]:
    """Turn a validation error of rows from ``first`` on into one naming the file's row."""
    name = source.name  # standard input: <stdin>
    try:
        yield
    except SourceError:
        raise
    except InvalidInputError as exc:
        if exc.row is None:
            raise SourceError(f"{name}: chunk from {chunk.where(first)}: {exc}") from None
        row = first + exc.row
        detail = str(exc).removeprefix(f"row {exc.row}")
        raise SourceError(f"{name}: {chunk.where(row)}{detail}", row=row) from None
