"""The ``vecq`` command line."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``vecq``."""
    parser = argparse.ArgumentParser(
        prog="vecq",
        description="Distributed ingestion of vector embeddings into Qdrant.",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser(
        "demo",
        help="run the whole pipeline on the embedded default and verify it",
        description="Creates index 'demo' in the data directory (./.vecq or VECQ_DATA_DIR), "
        "upserts random vectors with items and metadata through Redis and a Celery worker "
        "into Qdrant local mode, then checks the count and a random sample read back. "
        "Exits 1 if anything does not match.",
    )
    demo.add_argument("-n", type=int, default=20_000, help="vectors to upsert (default 20000)")
    demo.add_argument("--dimension", type=int, default=384, help="vector length (default 384)")
    demo.add_argument("--shards", type=int, default=4, help="shard collections (default 4)")

    worker = sub.add_parser(
        "worker",
        help="run a Celery worker that writes batches to Qdrant",
        description="Consumes vecq's queue from VECQ_BROKER_URL (default VECQ_REDIS_URL) and "
        "writes to VECQ_QDRANT_URL, or to Qdrant local mode at VECQ_QDRANT_PATH (then with "
        "a thread pool in one process, as local storage allows one process only).",
    )
    worker.add_argument(
        "-c",
        "--concurrency",
        type=int,
        default=None,
        help="tasks in parallel (default: VECQ_WORKER_CONCURRENCY, 2)",
    )
    worker.add_argument("-l", "--loglevel", default="INFO", help="log level (default INFO)")
    worker.add_argument(
        "-P",
        "--pool",
        choices=["threads", "prefork", "solo"],
        default=None,
        help="Celery pool (default: threads with Qdrant local mode, else prefork)",
    )

    from api import deadletters, ingest_cli

    deadletters.add_parser(sub)
    ingest_cli.add_parser(sub)

    args = parser.parse_args(argv)
    if args.command == "demo":
        logging.basicConfig(level=logging.WARNING)
        from api.demo import run

        return run(n=args.n, dimension=args.dimension, shards=args.shards)
    if args.command == "worker":
        return _worker(args.concurrency, args.loglevel, args.pool)
    if args.command == "ingest":
        logging.basicConfig(level=logging.WARNING)
        return ingest_cli.run(args)
    if args.command == "dlq":
        from shared.errors import VecqError

        try:
            return deadletters.run(args)
        except VecqError as exc:
            return deadletters.fail(exc)
    return 2  # pragma: no cover - argparse rejects unknown commands


def _worker(concurrency: int | None, loglevel: str, pool: str | None) -> int:
    # Imported here: only this command needs worker code.
    from shared.settings import Settings
    from workers.run import run_worker

    try:
        settings = Settings.from_env(worker_concurrency=concurrency)
    except ValueError as exc:
        print(f"vecq worker: refusing to start: {exc}", file=sys.stderr)
        return 2
    return run_worker(settings, loglevel=loglevel, pool=pool)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
