"""``vecq status``: queues, workers, recent jobs and dead letters at a glance."""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict
from typing import Any

from api.cli.options import Subparsers
from shared import stats

DESCRIPTION = (
    "Shows the messages waiting in each queue, the batches in flight, the workers that "
    "answer a ping, each index's in-flight bytes, the most recent jobs and the size of the "
    "dead-letter queue. Reads the same Redis and broker as every vecq command "
    "(VECQ_REDIS_URL, VECQ_BROKER_URL, or the embedded default)."
)


def add_parser(sub: Subparsers) -> None:
    """Register ``vecq status``."""
    p = sub.add_parser("status", help="queues, workers, recent jobs and the DLQ at a glance",
                       description=DESCRIPTION)  # fmt: skip
    p.add_argument("--jobs", type=int, default=10, help="recent jobs to show (default 10)")
    p.add_argument(
        "--ping-timeout",
        type=float,
        default=1.0,
        help="seconds to wait for workers to answer (default 1.0)",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object instead")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Run ``vecq status``; 0, or 1 when Redis cannot be reached."""
    import logging

    from api import Client
    from shared.errors import VecqError

    logging.basicConfig(level=logging.WARNING)
    try:
        with Client(worker=False) as client:
            app = client.celery
            snapshot = stats.read(client.redis, lambda: stats.queue_depths(app), jobs=args.jobs)
            workers = _ping(app, args.ping_timeout)
    except VecqError as exc:
        print(f"vecq status: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(_as_json(snapshot, workers), indent=2))
    else:
        print(render(snapshot, workers))
    return 0


def _ping(app: Any, timeout: float) -> list[str] | None:
    """Names of the workers that answered, or None if the broker could not be asked."""
    try:
        replies = app.control.ping(timeout=timeout) or []
    except Exception:  # a broker without broadcast support, or unreachable
        return None
    return sorted(name for reply in replies for name in reply)


def _as_json(s: stats.Snapshot, workers: list[str] | None) -> dict[str, Any]:
    out = asdict(s)
    out["jobs"] = [{**asdict(j), "status": j.status} for j in s.jobs]
    out["workers"] = workers
    return out


def render(s: stats.Snapshot, workers: list[str] | None) -> str:
    """The human-readable report."""
    queues = "   ".join(f"{q} {'?' if d is None else d}" for q, d in s.queues.items())
    if workers is None:
        seen = "could not ask the broker"
    else:
        names = ", ".join(workers[:8]) + (" ..." if len(workers) > 8 else "")
        seen = f"{len(workers)} answered" + (f": {names}" if workers else " (none running?)")
    lines = [
        f"queues       {queues}",
        f"in flight    {s.pending} batches"
        + "".join(f"   {n} {_mib(b)}" for n, b in s.inflight_bytes.items() if b),
        f"workers      {seen}",
        f"dead letters {s.dlq}" + ("   (see `vecq dlq list`)" if s.dlq else ""),
    ]
    if s.jobs:
        lines += ["", f"{'job':<34} {'index':<16} {'status':<9} {'written':>21} {'failed':>8}  age"]
        for j in s.jobs:
            done = f"{j.written:,}/{j.total:,}"
            lines.append(f"{j.job_id:<34} {j.index:<16} {j.status:<9} {done:>21} "
                         f"{j.failed:>8,}  {_age(s.taken_at - j.created_at)}")  # fmt: skip
    else:
        lines += ["", "no recent jobs"]
    return "\n".join(lines)


def _mib(n: int) -> str:
    return f"{n / 1024 / 1024:.1f} MiB"


def _age(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f}s"
    if seconds < 7200:
        return f"{seconds / 60:.0f}m"
    if seconds < 172800:
        return f"{seconds / 3600:.0f}h"
    return time.strftime("%Y-%m-%d", time.gmtime(time.time() - seconds))
