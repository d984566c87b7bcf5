"""Comparing a source with what Qdrant holds: missing, stale and extra ids (``vecq verify``).

Two streaming passes over the source: the first spills every id to disk buckets
(``idsets``) to learn which record is each id's last word and which ids the index holds
beyond the source; the second reads the source in chunks, retrieves those ids from the
engine and compares vectors, items and metadata. ``repair`` re-enqueues each chunk's
missing and stale records as an upsert (newer than anything stored, so it wins).
"""

from __future__ import annotations

import math
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from vecq.api.index import Index
from vecq.api.ingest import mapping
from vecq.api.ingest.backfill import arrays_points, chunk_rows_for, validate_chunk
from vecq.api.ingest.idsets import SourceIds
from vecq.api.ingest.sources import Chunk, Source
from vecq.api.jobs import UpsertJob
from vecq.shared.points import ids as idrules
from vecq.shared.points import validation
from vecq.shared.points.validation import Points
from vecq.shared.points.vector_schema import Schema

# Ids of each kind a report lists.
SAMPLE = 10
# Float metadata compares to within this many ULP (Qdrant Edge rounds some by 1-2 ULP).
FLOAT_ULPS = 4


@dataclass
class VerifyReport:
    """What a comparison found: counts, and a sample of the ids of each kind."""

    checked: int = 0
    matching: int = 0
    missing: list[idrules.Id] = field(default_factory=list)
    stale: list[idrules.Id] = field(default_factory=list)
    extra: list[idrules.Id] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=lambda: dict(missing=0, stale=0, extra=0))
    repaired: int = 0
    jobs: list[UpsertJob] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when the index holds exactly what the source says."""
        return not any(self.counts.values())

    def add(self, kind: str, ids: list[idrules.Id]) -> None:
        self.counts[kind] += len(ids)
        sample: list[idrules.Id] = getattr(self, kind)
        sample.extend(ids[: max(0, SAMPLE - len(sample))])


def verify(
    index: Index,
    sources: Sequence[Source],
    *,
    chunk_rows: int | None = None,
    repair: bool = False,
    on_progress: Callable[[int], None] | None = None,
) -> VerifyReport:
    """Compare ``sources`` with the index; with ``repair``, re-enqueue what differs."""
    mapping.check_sources(sources, index.info.schema)  # once, before reading
    found = SourceIds.scan(sources, chunk_rows, index.info.width)
    report = VerifyReport()
    try:
        position = 0
        for source in sources:
            for chunk in source.chunks(chunk_rows or chunk_rows_for(source, index.info.width)):
                validate_chunk(source, chunk, index)  # errors name the file's own rows
                final = found.final[position : position + chunk.rows]
                position += chunk.rows
                points = _last_words(index, chunk, final)
                if points is not None:
                    _compare(index, points, report, repair)
                if on_progress is not None:
                    on_progress(chunk.rows)
        for extra in found.extras(index.session.engine, index.info):
            report.add("extra", extra)
    finally:
        shutil.rmtree(found.directory, ignore_errors=True)
    return report


def _last_words(index: Index, chunk: Chunk, final: np.ndarray) -> Points | None:
    """The chunk's upserted records that no later record overrides, validated (each id once)."""
    if chunk.records is not None:
        kept = [
            r
            for r, last in zip(chunk.records, final, strict=True)
            if last and r.get("op") != "delete"
        ]
        if not kept:
            return None
        return validation.from_records(
            kept, index.dimension, index.session.settings.max_item_bytes, schema=index.info.schema
        )
    rows = np.flatnonzero(final)
    if rows.size == 0:
        return None
    return arrays_points(chunk, index, rows)


def _compare(index: Index, points: Points, report: VerifyReport, repair: bool) -> None:
    """Judge the records of one chunk against the points stored under their ids."""
    ids = points.caller_ids()
    stored = {p["id"]: p for p in index.get(ids)}
    missing, stale, bad = [], [], []
    for row, caller in enumerate(ids):
        point = stored.get(caller)
        if point is None:
            missing.append(caller)
            bad.append(row)
        elif not _same(index, points, row, point):
            stale.append(caller)
            bad.append(row)
    report.checked += len(ids)
    report.matching += len(ids) - len(bad)
    report.add("missing", missing)
    report.add("stale", stale)
    if repair and bad:
        report.jobs.append(index.enqueue(points.select(np.array(bad, dtype=np.intp))))
        report.repaired += len(bad)


def _same(index: Index, points: Points, row: int, point: dict[str, Any]) -> bool:
    """True if the stored point has the record's vectors, item and metadata."""
    schema = index.info.schema
    if schema is None:
        if not _close(points.vectors[row], point["vector"], index.metric == "cosine"):
            return False
    elif not _same_named(points, row, point["vector"], schema):
        return False
    want = points.items[row] if points.items is not None else None
    if point["item"] != want:
        return False
    expected = (points.metadata[row] if points.metadata is not None else None) or {}
    return _json_equal(expected, point["metadata"])


def _same_named(points: Points, row: int, got: Any, schema: Schema) -> bool:
    """Every named vector the record carries is stored as sent; no other is stored."""
    sent = {name: c for name, c in (points.named or {}).items() if c.has(row)}
    if not isinstance(got, dict) or set(got) != set(sent):
        return False
    for name, column in sent.items():
        value = column.row(row)
        spec = schema.spec(name)
        if column.kind == "sparse":
            order = np.argsort(value[0])
            stored = got[name]
            if list(value[0][order]) != stored["indices"] or not _close(
                value[1][order], stored["values"], False
            ):
                return False
        elif not _close(value, got[name], getattr(spec, "distance", "") == "cosine"):
            return False
    return True


def _close(sent: Any, got: Any, cosine: bool) -> bool:
    """A vector (or rows) stored as sent: Qdrant stores cosine vectors normalised."""
    sent = np.asarray(sent, dtype=np.float32)
    stored = np.asarray(got, dtype=np.float32)
    if cosine:
        norm = np.linalg.norm(sent, axis=-1, keepdims=True)
        sent = np.divide(sent, norm, out=sent.copy(), where=norm > 0)
    return stored.shape == sent.shape and bool(np.allclose(stored, sent, rtol=1e-5, atol=1e-6))


def _json_equal(a: Any, b: Any) -> bool:
    """JSON values equal, floats to within :data:`FLOAT_ULPS`."""
    if isinstance(a, float) and isinstance(b, (int, float)) and not isinstance(b, bool):
        return abs(a - b) <= FLOAT_ULPS * math.ulp(a)
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_json_equal(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_json_equal(x, y) for x, y in zip(a, b, strict=True))
    return type(a) is type(b) and a == b
