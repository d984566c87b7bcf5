"""The ``vecq`` command line."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
from collections.abc import Sequence

from api.cliopts import add_log_format


def build_parser() -> argparse.ArgumentParser:
    """The parser of every ``vecq`` command (also used to check the deploy files' commands)."""
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

    worker.add_argument(
        "--metrics-port",
        type=int,
        default=None,
        help="serve Prometheus metrics on this port (default: VECQ_METRICS_PORT; none)",
    )
    add_log_format(worker)

    from api import deadletters, ingest_cli, schedule_cli, serve_cli, status_cli

    deadletters.add_parser(sub)
    ingest_cli.add_parser(sub)
    serve_cli.add_parsers(sub)
    status_cli.add_parser(sub)
    schedule_cli.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``vecq``."""
    from api import deadletters, ingest_cli, schedule_cli, serve_cli, status_cli

    args = build_parser().parse_args(argv)
    if args.command == "demo":
        logging.basicConfig(level=logging.WARNING)
        from api.demo import run

        return run(n=args.n, dimension=args.dimension, shards=args.shards)
    if args.command == "worker":
        return _worker(args)
    if args.command == "ingest":
        logging.basicConfig(level=logging.WARNING)
        return ingest_cli.run(args)
    if args.command == "serve":
        return serve_cli.serve(args)
    if args.command == "token":
        return serve_cli.token(args)
    if args.command == "status":
        logging.basicConfig(level=logging.WARNING)
        return status_cli.run(args)
    if args.command == "schedule":
        return schedule_cli.run(args)
    if args.command == "dlq":
        from shared.errors import VecqError

        try:
            return deadletters.run(args)
        except VecqError as exc:
            return deadletters.fail(exc)
    return 2  # pragma: no cover - argparse rejects unknown commands


def _worker(args: argparse.Namespace) -> int:
    from shared.settings import Settings

    try:
        settings = Settings.from_env(
            worker_concurrency=args.concurrency,
            metrics_port=args.metrics_port,
            log_format=args.log_format,
        )
    except ValueError as exc:
        print(f"vecq worker: refusing to start: {exc}", file=sys.stderr)
        return 2
    pool = args.pool or ("threads" if settings.local_qdrant else "prefork")
    if settings.metrics_port and pool == "prefork" and "PROMETHEUS_MULTIPROC_DIR" not in os.environ:
        # Pool children count in files the parent serves; prometheus_client reads this
        # variable when first imported, so it is set before any worker code loads.
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="vecq-metrics-")
    # Imported here: only this command needs worker code.
    from workers.run import run_worker

    return run_worker(settings, loglevel=args.loglevel, pool=pool)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
