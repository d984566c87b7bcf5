"""What ``vecq ingest`` reports: the lines at the end of its enqueue phase, and the ``--json``
summary's record of what was enqueued, skipped and written (also of a run cut short)."""

from __future__ import annotations

import argparse
import contextlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from vecq.api.ingest.backfill import Report
    from vecq.api.ingest.sources import Source


def read_from(sources: list[Source]) -> str:
    """What a run read, as its summary names it: the one file, standard input or table it
    read, or how many files."""
    if len(sources) == 1:
        name = sources[0].name
        return "standard input" if name == "<stdin>" else name
    return f"{len(sources)} files"


def written(jobs: list[Any]) -> int:
    """Records of ``jobs`` written so far (as their ledgers say; 0 for one that cannot say)."""
    total = 0
    for job in jobs:
        with contextlib.suppress(Exception):
            total += job.progress.written
    return total


def record(summary: dict[str, Any], report: Report) -> None:
    """The enqueue phase in the JSON summary, with what a re-run would resume from."""
    summary.update(
        files=report.files,
        chunks=report.chunks,
        read=report.vectors + report.skipped_vectors,
        enqueued=report.vectors,
        skipped=report.skipped_vectors,
        jobs=[j.job_id for j in report.jobs],
        earlier_jobs=[j.job_id for j in report.earlier_jobs],
        resume={
            "chunks_committed_before": report.skipped_chunks,
            "records_committed_before": report.skipped_vectors,
        },
    )


def summary_lines(report: Report, args: argparse.Namespace, sources: list[Source]) -> None:
    """What the enqueue phase did, and what earlier runs left unwritten."""
    print(
        f"{read_from(sources)}: {report.chunks} chunk(s), enqueued {report.vectors:,} "
        f"records, skipped {report.skipped_vectors:,} already committed "
        f"({report.skipped_chunks} chunks)"
    )
    if report.earlier_jobs:
        print(
            f"{report.earlier_vectors:,} records an earlier run enqueued are not written "
            "yet" + ("" if args.no_wait else "; waiting for them too")
        )
