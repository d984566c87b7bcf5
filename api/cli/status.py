"""``vecq status``: queues, workers, recent jobs and dead letters at a glance."""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from vecq.api.cli.exits import ExitStatus, status_of
from vecq.api.cli.options import Subparsers

if TYPE_CHECKING:  # imported where used, so `vecq --help` stays quick
    from vecq.shared.state import stats

DESCRIPTION = (
    "Shows the messages waiting in each queue, the batches in flight, the live workers (by "
    "their heartbeats) and what each holds, each index's in-flight bytes, the fleet's pace "
    "of writes into each index on a Qdrant server, the most recent "
    "jobs and the size of the dead-letter queue; or, with --job, one job in full. Reads the "
    "same Redis and broker as every vecq command (VECQ_REDIS_URL, VECQ_BROKER_URL, or the "
    "embedded default). The --json output is described field by field in docs/operations.md."
)


def add_parser(sub: Subparsers) -> None:
    """Register ``vecq status``."""
    p = sub.add_parser(
        "status",
        help="queues, workers, recent jobs and the DLQ at a glance",
        description=DESCRIPTION,
    )
    p.add_argument("--jobs", type=int, default=10, help="recent jobs to show (default %(default)s)")
    p.add_argument("--job", metavar="JOB_ID", help="show this one job: totals, state, failures")
    p.add_argument("--json", action="store_true", help="print one JSON object instead")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> ExitStatus:
    """Run ``vecq status``; 0, or 1 when Redis cannot be reached."""
    import logging

    from vecq import Client
    from vecq.shared.errors import VecqError
    from vecq.shared.state import stats

    logging.basicConfig(level=logging.WARNING)
    try:
        with Client(worker=False) as client:
            if args.job:
                return _job(client, args.job, args.json)
            snapshot = stats.read(client.redis, client.queue_depths, jobs=args.jobs)
            service = client.service
    except VecqError as exc:
        print(f"vecq status: {exc}", file=sys.stderr)
        return status_of(exc)
    if args.json:
        out = _as_json(snapshot)
        out["service"] = None if service is None else {**asdict(service), "uptime": service.uptime}
        print(json.dumps(out, indent=2))
    else:
        if service is not None:
            print(describe_service(service))
        print(render(snapshot))
    return ExitStatus.OK


def describe_service(state: Any) -> str:
    """One line on the embedded service: pid, uptime, version, data directory, idle stop."""
    idle = f"stops after {state.idle_timeout:g} s idle" if state.idle_timeout else "no idle stop"
    return (
        f"service      pid {state.pid}, up {_age(state.uptime)}, vecq {state.version}, "
        f"Qdrant {state.engine} at {state.engine_location}; {idle}"
    )


def _job(client: Any, job_id: str, as_json: bool) -> ExitStatus:
    """Print one job's ledger and failures."""
    job = client.job(job_id)
    state = job.state()
    failures = job.failures
    if as_json:
        out = {
            **asdict(state),
            "status": state.status,
            "failures": [
                {"ids": list(f.ids), "reason": f.reason, "shard": f.shard, "seq": f.seq}
                for f in failures
            ],
        }
        print(json.dumps(out, indent=2))
        return ExitStatus.OK
    print(f"job       {state.job_id}   index {state.index}   {state.status}")
    print(f"vectors   {state.written:,} written, {state.failed:,} failed of {state.total:,}")
    still = "" if state.enqueued else " (still being enqueued)"
    print(f"batches   {state.settled} settled of {state.batches}{still}; {state.retries} retries")
    if state.aborted:
        print(f"cut short {state.aborted}")
    for f in failures[:20]:
        print(f"failed    {len(f.ids)} ids of shard {f.shard} seq {f.seq}: {f.reason}")
    return ExitStatus.OK


def _as_json(s: stats.Snapshot) -> dict[str, Any]:
    out = asdict(s)
    out["jobs"] = [{**asdict(j), "status": j.status} for j in s.jobs]
    return out


def render(s: stats.Snapshot) -> str:
    """The human-readable report."""
    queues = "   ".join(f"{q} {'?' if d is None else d}" for q, d in s.queues.items())
    names = ", ".join(f"{w['id']} ({w['holding']} held)" for w in s.workers[:8])
    more = " ..." if len(s.workers) > 8 else ""
    seen = f"{len(s.workers)} alive" + (f": {names}{more}" if s.workers else " (none running?)")
    lines = [
        f"queues       {queues}",
        f"in flight    {s.pending} batches"
        + "".join(f"   {n} {_mib(b)}" for n, b in s.inflight_bytes.items() if b),
        f"workers      {seen}",
        f"dead letters {s.dlq}" + ("   (see `vecq dlq list`)" if s.dlq else ""),
    ]
    lines += [
        f"             {name}: {letters} dead letter(s) hold back {kept:,} marks of deletes and "
        "updates (replay or purge them; they are purged after VECQ_DEAD_LETTER_DAYS)"
        for name, (letters, kept) in s.held_marks.items()
    ]
    lines += [f"pace         {name}: {p.describe()}" for name, p in s.paces.items()]
    if s.jobs:
        lines += [
            "",
            f"{'job':<34} {'op':<6} {'index':<16} {'status':<9} {'written':>21} {'failed':>8}  age",
        ]
        for j in s.jobs:
            done = f"{j.written:,}/{j.total:,}"
            lines.append(
                f"{j.job_id:<34} {j.op:<6} {j.index:<16} {j.status:<9} {done:>21} "
                f"{j.failed:>8,}  {_age(s.taken_at - j.created_at)}"
            )
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
