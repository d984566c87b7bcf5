"""``vecq ingest --dry-run``: every record validated as a run would, nothing enqueued; with
``--mirror``, what the mirror pass would delete now and whether a guard would refuse it."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from vecq.api import defaults
from vecq.api.cli import ingest_summary
from vecq.api.cli.exits import ExitStatus
from vecq.api.cli.progress import progress_bar

if TYPE_CHECKING:
    from vecq.api.index import Index
    from vecq.api.ingest.sources import Source


def dry_run(
    index: Index,
    sources: list[Source],
    args: argparse.Namespace,
    known: int | None,
    summary: dict[str, Any],
) -> ExitStatus:
    """Validate everything, enqueue nothing; exit 0 if every record is valid, else 2."""
    from vecq.api.ingest.dryrun import dry_run

    with progress_bar(known, desc="checked") as bar:
        done = dry_run(index, sources, chunk_rows=args.chunk_rows, on_progress=bar)
    print(
        f"dry run: {ingest_summary.read_from(sources)}: {done.records:,} records read: "
        f"{done.valid:,} valid, {done.rejected:,} rejected; nothing was enqueued"
    )
    for error in done.errors:
        print(f"  {error}")
    summary.update(
        status="valid" if done.ok else "invalid",
        files=done.files,
        read=done.records,
        valid=done.valid,
        rejected=done.rejected,
        errors=done.errors,
    )
    if not done.ok:
        return ExitStatus.USAGE
    return mirror_plan(index, sources, args, summary) if args.mirror else ExitStatus.OK


def mirror_plan(
    index: Index, sources: list[Source], args: argparse.Namespace, summary: dict[str, Any]
) -> ExitStatus:
    """--dry-run --mirror: what the mirror pass would delete now; 1 if a guard would refuse."""
    from vecq.api.ingest.mirror import plan_extras

    fraction = args.max_delete_fraction
    plan = plan_extras(
        index,
        sources,
        chunk_rows=args.chunk_rows,
        max_delete_fraction=defaults.MAX_DELETE_FRACTION if fraction is None else fraction,
        allow_empty=args.allow_empty_source,
    )
    print(
        f"mirror: the source holds {plan.source_ids:,} ids; {plan.extras:,} of the index's "
        f"{plan.stored:,} points would be deleted"
        + (f"; the pass would be refused: {plan.refusal}" if plan.refusal else "")
    )
    summary["mirror"] = {
        "source_ids": plan.source_ids,
        "stored": plan.stored,
        "would_delete": plan.extras,
        "refusal": plan.refusal,
    }
    if plan.refusal:
        summary["status"] = "mirror_refused"
        return ExitStatus.FAILED
    return ExitStatus.OK
