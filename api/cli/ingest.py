"""``vecq ingest``: argument parsing, progress and output around :mod:`vecq.api.ingest.backfill`."""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import textwrap
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vecq.api import defaults
from vecq.api.cli import ingest_dryrun, ingest_summary
from vecq.api.cli.exits import ExitStatus, status_of
from vecq.api.cli.options import Subparsers, positive_int
from vecq.api.cli.progress import progress_bar, wait_written
from vecq.api.cli.sources import add_source_flags, inputs

if TYPE_CHECKING:
    from vecq.api.index import Index
    from vecq.api.ingest.backfill import Report
    from vecq.api.ingest.sources import Source

DESCRIPTION = (
    "Reads files in bounded chunks, validates each chunk whole, enqueues it and records it as "
    "committed, then waits until everything is written. .npy: a 2-D float array of vectors, "
    "with ids from --ids (a 1-D integer .npy) or counted from --id-start (continuing across "
    "files). .npz: arrays 'vectors' and optionally 'ids'. Parquet: an integer 'id' column and "
    "a list 'vector' column; other columns become metadata (needs pyarrow). JSON Lines: one "
    'object per line, {"id", "vector", "item" (base64), "metadata"}, or {"op": "delete", '
    '"id"}; compressed as .gz, .bz2 or .zst (zstandard: vecq[zstd]), or "-" for standard '
    "input (not resumable: a pipe cannot be read again). A postgresql:// URL with --table or "
    "--query: rows in key order, resumed after the last committed key, --since-column for "
    "incremental reads (needs vecq[postgres]). With --mirror, once everything is "
    "written, ids the files do not hold are deleted from the index, so it holds exactly the "
    "files' ids."
)

EPILOG = """\
examples:
  VECQ_INDEX_KEY=$(cat products.key) vecq ingest vectors.npy --ids ids.npy --index products
  vecq ingest 'dumps/*.jsonl' --index products --key-file products.key
  vecq ingest embeddings/ --index products --key-file products.key --id-start 1000000
  vecq ingest 'exports/part-*.parquet' --index products --key-file products.key
  vecq ingest vectors.npy --index products --key-file products.key --bulk   # index once, at the end
  vecq ingest 'nightly/*.jsonl' --index products --key-file products.key --mirror
  vecq ingest 'docs/*.parquet' --index docs --key-file docs.key --id-column doc_id \\
      --vector text=text_emb --vector colbert=token_embs --sparse bm25=bm25_idx,bm25_val \\
      --metadata-columns lang,year --item-column body      # columns mapped, named vectors
  PGPASSWORD=... vecq ingest postgresql://etl@db/shop --table items --index products \\
      --key-file products.key --vector-column embedding --since-column updated_at

Re-running the same command after a crash or Ctrl-C resumes: chunks already enqueued are
skipped (a changed file is read again from the start). --mirror deletes nothing unless
every record of the run was written (a failed or interrupted run deletes nothing); the
files must be the index's only writer meanwhile. Exit status: 0 when every vector is
written (or enqueued, with --no-wait), 1 if some failed (see `vecq dlq list`), 2 for bad
input, 130 when interrupted.
"""


def add_parser(sub: Subparsers) -> None:
    """Register ``vecq ingest``."""
    p = sub.add_parser(
        "ingest",
        help="backfill .npy, .npz, Parquet, JSON Lines files or a PostgreSQL table into an "
        "index, resumably",
        description=textwrap.fill(DESCRIPTION, 88),
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "paths",
        nargs="+",
        metavar="PATH",
        help="files, directories or globs; or one postgresql:// URL",
    )
    p.add_argument("--index", required=True, help="the index to load into (it must exist)")
    p.add_argument(
        "--key-file",
        type=Path,
        help="file holding the index key (32 raw bytes or 64 hex digits); default: "
        "the hex key in VECQ_INDEX_KEY",
    )
    p.add_argument("--ids", help=".npy of ids, one per row of the (single) vectors file")
    p.add_argument(
        "--id-start", type=int, default=0, help="first id when --ids is not given (%(default)s)"
    )
    p.add_argument(
        "--chunk-rows",
        type=positive_int,
        default=None,
        help=f"records per chunk (default: {defaults.chunk_size_text()})",
    )
    p.add_argument("--no-wait", action="store_true", help="return once everything is enqueued")
    p.add_argument(
        "--bulk",
        action="store_true",
        help="turn HNSW indexing off on the index's collections while loading, then back on "
        "once everything is written, and wait until Qdrant has indexed it (a Qdrant server "
        "builds the graph once instead of as it goes; local mode has no graph to defer)",
    )
    p.add_argument(
        "--mirror",
        action="store_true",
        help="after everything is written, delete the index's ids that the files do not hold",
    )
    p.add_argument(
        "--max-delete-fraction",
        type=float,
        default=None,
        metavar="F",
        help="--mirror: stop before deleting if more than this share of the index "
        f"would go (default {defaults.MAX_DELETE_FRACTION:g})",
    )
    p.add_argument(
        "--allow-empty-source",
        action="store_true",
        help="--mirror: let a source with no records empty the index",
    )
    p.add_argument(
        "--dry-run",
        action="store_true",
        help="read and validate everything, report counts and the first errors; enqueue nothing",
    )
    p.add_argument(
        "--json",
        action="store_true",
        help="print a JSON summary at the end (the rest goes to standard error)",
    )
    add_source_flags(p)
    p.add_argument("--restart", action="store_true", help="ignore earlier progress; start over")
    p.add_argument("--timeout", type=float, default=None, help="most seconds to wait at the end")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> ExitStatus:
    """Run ``vecq ingest``; return the exit status. With ``--json`` everything but the final
    summary goes to standard error, and the summary (one JSON object) to standard output."""
    summary: dict[str, Any] = {"index": args.index, "dry_run": bool(args.dry_run)}
    started = time.monotonic()
    if not args.json:
        return _run(args, summary, started)
    with contextlib.redirect_stdout(sys.stderr):
        status = _run(args, summary, started)
    summary.update(exit_status=status, seconds=round(time.monotonic() - started, 3))
    print(json.dumps(summary))
    return status


def _run(args: argparse.Namespace, summary: dict[str, Any], started: float) -> ExitStatus:
    import logging

    from vecq import Client
    from vecq.shared.errors import VecqError

    logging.basicConfig(level=logging.WARNING)
    wrong = _wrong_flags(args)
    if wrong:
        return _usage(summary, wrong)
    try:
        key, sources = inputs(args)
    except (VecqError, ValueError, OSError) as exc:  # usage, or a source's server out of reach
        print(f"vecq ingest: {exc}", file=sys.stderr)
        summary.update(status="error", error=str(exc))
        return status_of(exc)
    with Client() as client:
        try:
            index = client.load_index(args.index, key)
            totals = [s.total() for s in sources]
            known = None if None in totals else sum(t or 0 for t in totals)
            if args.dry_run:
                return ingest_dryrun.dry_run(index, sources, args, known, summary)
            status = _load(index, sources, args, known, summary, started)
        except KeyboardInterrupt:
            print(
                "\nvecq ingest: interrupted; run the same command again to resume", file=sys.stderr
            )
            summary["status"] = "interrupted"
            return ExitStatus.INTERRUPTED
        except VecqError as exc:
            print(f"vecq ingest: {exc}", file=sys.stderr)
            summary.update(status="error", error=str(exc))
            return status_of(exc)
        if status == 0 and args.mirror:
            status = _mirror(index, sources, args, summary)
        summary.setdefault("status", "done" if status == 0 else "failed")
        elapsed = time.monotonic() - started
        summary["rate"] = round(summary.get("written", 0) / max(elapsed, 1e-9), 1)
        return status


def _load(
    index: Index,
    sources: list[Source],
    args: argparse.Namespace,
    known: int | None,
    summary: dict[str, Any],
    started: float,
) -> ExitStatus:
    """Enqueue every chunk (in bulk mode if asked), then wait until it is written (not with
    --no-wait); the exit status."""
    from vecq.api.ingest.backfill import Report
    from vecq.shared.errors import VecqError

    report = Report()
    try:
        return _load_into(report, index, sources, args, known, summary, started)
    except (KeyboardInterrupt, VecqError):  # what was done so far goes in the summary too
        ingest_summary.record(summary, report)
        summary["written"] = ingest_summary.written(report.jobs + report.earlier_jobs)
        raise


def _load_into(
    report: Report,
    index: Index,
    sources: list[Source],
    args: argparse.Namespace,
    known: int | None,
    summary: dict[str, Any],
    started: float,
) -> ExitStatus:
    from vecq.api.ingest.backfill import ingest

    bulk = index.bulk(args.timeout) if args.bulk else contextlib.nullcontext()
    with bulk:
        with progress_bar(known) as bar:
            ingest(
                index,
                sources,
                chunk_rows=args.chunk_rows,
                resume=not args.restart,
                on_progress=bar,
                same_chunking=True,
                report=report,
            )
        ingest_summary.summary_lines(report, args, sources)
        ingest_summary.record(summary, report)
        if args.no_wait:
            summary["status"] = "enqueued"
            return ExitStatus.OK
        # Inside the block: with --bulk the index is built once this has written.
        total = report.vectors + report.earlier_vectors
        status, failed = wait_written(
            report.jobs + report.earlier_jobs,
            total,
            args,
            started,
            empty=report.vectors + report.skipped_vectors == 0,
        )
        summary.update(failed=failed, written=total - failed)
        built = time.monotonic()
        if args.bulk:
            print("bulk: building the index (HNSW) now that everything is written...")
    if args.bulk:
        print(f"bulk: index built in {time.monotonic() - built:.1f} s")
    return status


def _wrong_flags(args: argparse.Namespace) -> str | None:
    """What is wrong with the flags together, if anything."""
    if (args.bulk or args.mirror) and args.no_wait:
        why = (
            "--bulk waits for the writes to restore indexing"
            if args.bulk
            else "--mirror deletes only once everything is written"
        )
        return f"{why}; drop --no-wait"
    if args.mirror and "-" in args.paths:
        return (
            "--mirror reads the source twice, and standard input cannot be read twice; "
            "save it to a file and mirror that"
        )
    fraction = args.max_delete_fraction
    if fraction is not None and not 0 <= fraction <= 1:
        return f"--max-delete-fraction must be in 0..1, not {fraction:g}"
    if not args.mirror and (args.allow_empty_source or fraction is not None):
        flag = "--allow-empty-source" if args.allow_empty_source else "--max-delete-fraction"
        return f"{flag} guards a mirror pass: add --mirror (without it, nothing is deleted)"
    return None


def _usage(summary: dict[str, Any], message: str) -> ExitStatus:
    print(f"vecq ingest: {message}", file=sys.stderr)
    summary.update(status="error", error=message)
    return ExitStatus.USAGE


def _mirror(
    index: Index, sources: list[Source], args: argparse.Namespace, summary: dict[str, Any]
) -> ExitStatus:
    """Delete the index's ids the files do not hold (the run has fully succeeded), unless a
    guard refuses: an empty source, or more deletes than --max-delete-fraction."""
    from vecq.api.ingest.mirror import delete_extras
    from vecq.shared.errors import MirrorRefused, UpsertError, VecqError

    fraction = args.max_delete_fraction
    try:
        with progress_bar(None, desc="deleted") as bar:
            done = delete_extras(
                index,
                sources,
                chunk_rows=args.chunk_rows,
                timeout=args.timeout,
                on_delete=bar,
                max_delete_fraction=defaults.MAX_DELETE_FRACTION if fraction is None else fraction,
                allow_empty=args.allow_empty_source,
            )
    except KeyboardInterrupt:
        print(
            "\nvecq ingest: mirror interrupted; run the same command again to finish it",
            file=sys.stderr,
        )
        summary["status"] = "interrupted"
        return ExitStatus.INTERRUPTED
    except MirrorRefused as exc:
        print(f"vecq ingest: mirror refused: {exc}", file=sys.stderr)
        summary.update(status="mirror_refused", error=str(exc), deleted=0)
        return ExitStatus.FAILED
    except (UpsertError, VecqError) as exc:
        print(f"vecq ingest: mirror: {exc}", file=sys.stderr)
        summary.update(status="failed", error=str(exc))
        return ExitStatus.FAILED
    print(f"mirror: the files hold {done.source_ids:,} ids; deleted {done.deleted:,} others")
    summary["deleted"] = done.deleted
    return ExitStatus.OK
