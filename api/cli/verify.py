"""``vecq verify``: compare source files with what the index holds; optionally repair."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from vecq.api.cli.exits import ExitStatus, status_of
from vecq.api.cli.options import Subparsers, positive_int
from vecq.api.cli.sources import add_column_flags, add_sql_flags

DESCRIPTION = (
    "Reads the same files `vecq ingest` reads, in bounded memory, and compares them with the "
    "points Qdrant holds: ids missing from the index, ids stored with another vector, item "
    "or metadata (stale), and ids the index holds that the files do not (extra). An id given "
    "more than once is judged by its last record; a JSON Lines delete line expects the id "
    "gone. With --repair, missing and stale records are enqueued again (extras are left: "
    "`vecq ingest --mirror` deletes them)."
)

EPILOG = """\
examples:
  vecq verify 'exports/*.jsonl' --index products --key-file products.key
  vecq verify vectors.npy --ids ids.npy --index products --key-file products.key --repair

Exit status: 0 when the index matches the files, 1 when it does not (with --repair: the
differences found are re-enqueued and written before it exits), 2 for bad input.
"""


def add_parser(sub: Subparsers) -> None:
    """Register ``vecq verify``."""
    p = sub.add_parser(
        "verify",
        help="compare files with what the index holds: missing, stale and extra ids",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("paths", nargs="+", metavar="PATH", help="files, directories or globs")
    p.add_argument("--index", required=True, help="the index to compare with")
    p.add_argument("--key-file", type=Path, help="the index key file (default VECQ_INDEX_KEY)")
    p.add_argument("--ids", help=".npy of ids, one per row of the (single) vectors file")
    p.add_argument("--id-start", type=int, default=0, help="first id when --ids is not given")
    p.add_argument("--chunk-rows", type=positive_int, default=None, help="records per chunk")
    p.add_argument("--repair", action="store_true", help="re-enqueue missing and stale records")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    add_column_flags(p)
    add_sql_flags(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> ExitStatus:
    """Run ``vecq verify``; return the exit status."""
    import logging

    from vecq import Client
    from vecq.api.cli.progress import progress_bar
    from vecq.api.cli.sources import inputs
    from vecq.api.ingest.verify import verify
    from vecq.shared.errors import UpsertError, VecqError

    logging.basicConfig(level=logging.WARNING)
    try:
        key, sources = inputs(args)
    except (VecqError, ValueError, OSError) as exc:
        print(f"vecq verify: {exc}", file=sys.stderr)
        return status_of(exc)  # usage, or a source's server out of reach
    with Client() as client:
        try:
            index = client.load_index(args.index, key)
            with progress_bar(None, desc="compared") as bar:
                report = verify(
                    index, sources, chunk_rows=args.chunk_rows, repair=args.repair, on_progress=bar
                )
            for job in report.jobs:
                try:
                    job.wait()
                except UpsertError as exc:
                    print(f"vecq verify: repair: {exc}", file=sys.stderr)
        except VecqError as exc:
            print(f"vecq verify: {exc}", file=sys.stderr)
            return status_of(exc)
    sample = {"missing": report.missing, "stale": report.stale, "extra": report.extra}
    if args.json:
        print(
            json.dumps(
                {
                    "checked": report.checked,
                    "matching": report.matching,
                    **report.counts,
                    "repaired": report.repaired,
                    "sample": sample,
                },
                indent=2,
            )
        )
    else:
        print(
            f"checked {report.checked:,} ids: {report.matching:,} match, "
            f"{report.counts['missing']:,} missing, {report.counts['stale']:,} stale, "
            f"{report.counts['extra']:,} extra"
        )
        for kind, ids in sample.items():
            if ids:
                print(f"  {kind} (first {len(ids)}): {', '.join(map(repr, ids))}")
        if report.repaired:
            print(f"repaired: {report.repaired:,} records enqueued again and written")
    return ExitStatus.OK if report.ok else ExitStatus.FAILED
