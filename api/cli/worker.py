"""``vecq worker``: a Celery worker that writes batches to Qdrant."""

from __future__ import annotations

import argparse
import os
import sys
import tempfile

from vecq.api.cli.exits import ExitStatus
from vecq.api.cli.options import Subparsers, add_log_format, setting_default

CONCURRENCY = """\
concurrency:
  A Qdrant server takes writes from many processes: the default pool is prefork, with
  --concurrency processes per worker, and any number of workers on any number of hosts.
  Qdrant Edge and local mode live in one process's files (a folder admits one process at
  a time): the pool is threads, and writes run one at a time (an Edge update holds the
  GIL, local mode is Python), so one thread is used whatever --concurrency says; run one
  such worker per data folder. Each worker also serves the live lane (small upserts) from
  a thread of its own.
"""


def add_parser(sub: Subparsers) -> None:
    """Register ``vecq worker``."""
    p = sub.add_parser(
        "worker",
        help="run a Celery worker that writes batches to Qdrant",
        description="Consumes vecq's queues from VECQ_BROKER_URL (default VECQ_REDIS_URL) and "
        "writes to a Qdrant server at VECQ_QDRANT_URL; without one, to qdrant-client's local "
        "mode at VECQ_QDRANT_PATH, or else to Qdrant Edge under VECQ_DATA_DIR/edge.",
        epilog=CONCURRENCY,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "-c",
        "--concurrency",
        type=int,
        default=None,
        help="tasks in parallel (default: VECQ_WORKER_CONCURRENCY, "
        f"{setting_default('worker_concurrency')})",
    )
    p.add_argument("-l", "--loglevel", default="INFO", help="log level (default %(default)s)")
    p.add_argument(
        "-P",
        "--pool",
        choices=["threads", "prefork", "solo"],
        default=None,
        help="Celery pool (default: threads with an engine in the worker's process, Qdrant "
        "Edge or local mode; else prefork)",
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
    """Run ``vecq worker`` until stopped; USAGE if the settings cannot work, else the Celery
    worker's own exit code (0 when stopped cleanly; Celery's EX_* codes are kept as they are)."""
    from vecq.shared.config.settings import Settings

    try:
        settings = Settings.from_env(
            worker_concurrency=args.concurrency,
            metrics_port=args.metrics_port,
            log_format=args.log_format,
        )
    except ValueError as exc:
        print(f"vecq worker: refusing to start: {exc}", file=sys.stderr)
        return ExitStatus.USAGE
    pool = args.pool or ("threads" if settings.in_process_engine else "prefork")
    if settings.metrics_port and pool == "prefork" and "PROMETHEUS_MULTIPROC_DIR" not in os.environ:
        # Pool children count in files the parent serves; prometheus_client reads this
        # variable when first imported, so it is set before any worker code loads.
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="vecq-metrics-")
    # Imported here: only this command needs worker code.
    from vecq.workers.run import run_worker

    return run_worker(settings, loglevel=args.loglevel, pool=pool)
