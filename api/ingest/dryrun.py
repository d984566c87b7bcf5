"""``vecq ingest --dry-run``: read and validate every record, enqueue nothing.

Each chunk is validated as a real run would (types, dimensions, ids, metadata, named
vectors); a chunk with a bad record is checked again record by record, so the report counts
exactly how many records would be rejected and shows the first errors with file and row
(or line). A file that cannot be opened or read counts as an error and the rest go on.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from vecq.api.index import Index
from vecq.api.ingest import mapping
from vecq.api.ingest.backfill import chunk_rows_for, validate_chunk
from vecq.api.ingest.sources import Chunk, Source
from vecq.api.ingest.sources.jsonl import JsonlSource
from vecq.shared.errors import SourceError

# Errors a report keeps (the counts cover every record).
MAX_ERRORS = 20


@dataclass
class DryRunReport:
    """What a run would have enqueued, and what it would have rejected."""

    files: int = 0
    records: int = 0
    valid: int = 0
    rejected: int = 0
    errors: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.rejected == 0 and not self.errors

    def note(self, message: str) -> None:
        if len(self.errors) < MAX_ERRORS:
            self.errors.append(message)

    def bad_line(self, error: SourceError) -> None:
        """A line that is no record at all: read, and rejected."""
        self.records += 1
        self.rejected += 1
        self.note(str(error))


def dry_run(
    index: Index,
    sources: Sequence[Source],
    *,
    chunk_rows: int | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> DryRunReport:
    """Validate every record of ``sources`` against ``index``; enqueue nothing."""
    mapping.check_sources(sources, index.info.schema)  # once, before reading
    report = DryRunReport(files=len(sources))
    for source in sources:
        rows = chunk_rows or chunk_rows_for(source, index.info.width)
        if isinstance(source, JsonlSource):  # a bad line is counted; the lines after it read
            source.on_bad_line = report.bad_line
        try:
            for chunk in source.chunks(rows):
                _check(index, source, chunk, report)
                if on_progress is not None:
                    on_progress(chunk.rows)
        except SourceError as exc:  # the file itself: unreadable, a missing column
            report.note(str(exc))
    return report


def _check(index: Index, source: Source, chunk: Chunk, report: DryRunReport) -> None:
    report.records += chunk.rows
    try:
        validate_chunk(source, chunk, index)
        report.valid += chunk.rows
        return
    except SourceError:
        pass
    for row in range(chunk.rows):  # find every bad record of this chunk, one by one
        try:
            validate_chunk(source, _one(chunk, row), index)
            report.valid += 1
        except SourceError as exc:
            report.rejected += 1
            report.note(str(exc))


def _one(chunk: Chunk, row: int) -> Chunk:
    """Record ``row`` of ``chunk`` as a chunk of its own (errors still name its row/line)."""
    pick = np.array([row])
    return Chunk(
        chunk.number,
        chunk.first + row,
        1,
        ids=chunk.ids[pick] if chunk.ids is not None else None,
        vectors=chunk.vectors[pick] if chunk.vectors is not None else None,
        records=[chunk.records[row]] if chunk.records is not None else None,
        metadata=[chunk.metadata[row]] if chunk.metadata is not None else None,
        lines=[chunk.lines[row]] if chunk.lines is not None else None,
        named=(
            {
                name: column[pick] if isinstance(column, np.ndarray) else [column[row]]
                for name, column in chunk.named.items()
            }
            if chunk.named is not None
            else None
        ),
        items=[chunk.items[row]] if chunk.items is not None else None,
    )
