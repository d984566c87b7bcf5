"""``vecq worker``: a Celery worker that writes batches to Qdrant."""

from __future__ import annotations

import argparse
import os
import sys
import tempfile

from api.cli.options import Subparsers, add_log_format


def add_parser(sub: Subparsers) -> None:
    """Register ``vecq worker``."""
    p = sub.add_parser(
        "worker",
        help="run a Celery worker that writes batches to Qdrant",
        description="Consumes vecq's queue from VECQ_BROKER_URL (default VECQ_REDIS_URL) and "
        "writes to VECQ_QDRANT_URL, or to Qdrant local mode at VECQ_QDRANT_PATH (then with "
        "a thread pool in one process, as local storage allows one process only).",
    )
    p.add_argument(
        "-c",
        "--concurrency",
        type=int,
        default=None,
        help="tasks in parallel (default: VECQ_WORKER_CONCURRENCY, 2)",
    )
    p.add_argument("-l", "--loglevel", default="INFO", help="log level (default INFO)")
    p.add_argument(
        "-P",
        "--pool",
        choices=["threads", "prefork", "solo"],
        default=None,
        help="Celery pool (default: threads with Qdrant local mode, else prefork)",
    )
    p.add_argument(
        "--metrics-port",
        type=int,
        default=None,
        help="serve Prometheus metrics on this port (default: VECQ_METRICS_PORT; none)",
    )
    add_log_format(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Run ``vecq worker`` until stopped; 2 if the settings cannot work."""
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
