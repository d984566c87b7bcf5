"""``vecq dlq``: list, show, replay and purge dead-lettered batches."""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import TYPE_CHECKING, Any, TextIO

from vecq.api.cli.exits import ExitStatus, status_of
from vecq.api.cli.options import Subparsers

if TYPE_CHECKING:  # imported where used, so `vecq --help` stays quick
    from vecq.api.client import Client
    from vecq.shared.state.deadletters import DeadLetter


def add_parser(sub: Subparsers) -> None:
    """Add ``dlq`` and its subcommands to the ``vecq`` parser."""
    dlq = sub.add_parser(
        "dlq",
        help="inspect, replay or purge dead-lettered batches",
        description="Batches that could not be written (Qdrant rejected them, or stayed "
        "unavailable through every retry) are kept in a Redis stream with their reason and "
        "their points. Connects like every vecq command: VECQ_REDIS_URL, or the embedded "
        "data directory.",
    )
    cmds = dlq.add_subparsers(dest="dlq_command", required=True)
    ls = cmds.add_parser("list", help="one line per dead letter, oldest first")
    ls.add_argument("--index", help="only dead letters of this index")
    ls.add_argument(
        "--limit", type=int, default=100, help="most entries shown (default %(default)s)"
    )
    ls.add_argument("--json", action="store_true", help="one JSON object per line")
    show = cmds.add_parser("show", help="everything about one dead letter, ids and reasons")
    show.add_argument("entry", help="the entry id from `vecq dlq list`")
    replay = cmds.add_parser(
        "replay",
        help="enqueue dead-lettered batches again, with their original sequence numbers",
        description="Each batch goes back to the workers under its original sequence "
        "number, so it never overwrites points a newer upsert wrote since. The entry "
        "leaves the stream; if the batch fails again it returns as a new entry.",
    )
    _targets(replay)
    replay.add_argument("--wait", action="store_true", help="wait until the replays are written")
    replay.add_argument(
        "--timeout", type=float, default=None, help="seconds --wait waits at most (default: none)"
    )
    purge = cmds.add_parser("purge", help="delete dead letters and their kept points for good")
    _targets(purge)
    purge.add_argument("--yes", action="store_true", help="required: confirms the deletion")
    dlq.set_defaults(run=run)


def _targets(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("entries", nargs="*", help="entry ids from `vecq dlq list`")
    parser.add_argument("--all", action="store_true", help="every entry (of --index, if given)")
    parser.add_argument("--index", help="with --all: only this index's entries")


def run(args: argparse.Namespace, out: TextIO | None = None) -> ExitStatus:
    """Run one ``vecq dlq`` subcommand; return the exit status (see ``exits.status_of``)."""
    from vecq.shared.errors import VecqError

    try:
        return _run(args, out or sys.stdout)
    except VecqError as exc:
        print(f"vecq dlq: {exc}", file=sys.stderr)
        return status_of(exc)


def _run(args: argparse.Namespace, out: TextIO) -> ExitStatus:
    command = args.dlq_command
    if command in {"replay", "purge"} and not args.all and not args.entries:
        print(f"vecq dlq {command}: name entry ids, or pass --all", file=sys.stderr)
        return ExitStatus.USAGE
    if command == "purge" and not args.yes:
        print("vecq dlq purge deletes points for good: add --yes to confirm", file=sys.stderr)
        return ExitStatus.USAGE
    from vecq.api.client import Client
    from vecq.shared.state import deadletters

    # Replays are written by the workers (embedded: the data directory's service).
    with Client(worker=False) as client:
        r = client.redis
        if command == "list":
            for letter in deadletters.entries(r, index=args.index, limit=args.limit):
                print(json.dumps(_as_dict(letter)) if args.json else _line(letter), file=out)
            return ExitStatus.OK
        if command == "show":
            print(
                json.dumps(_as_dict(deadletters.get(r, args.entry), full=True), indent=2), file=out
            )
            return ExitStatus.OK
        targets = (
            [e.entry_id for e in deadletters.entries(r, index=args.index)]
            if args.all
            else args.entries
        )
        if command == "purge":
            removed = deadletters.purge(r, targets)
            print(f"purged {removed} dead letter(s)", file=out)
            return ExitStatus.OK
        jobs = []
        for entry_id in targets:
            job_id = deadletters.replay(r, client.publisher.publish, entry_id)
            print(f"replayed {entry_id} as job {job_id}", file=out)
            jobs.append(job_id)
        return _wait(client, jobs, args.timeout, out) if args.wait else ExitStatus.OK


def _wait(client: Client, jobs: list[str], timeout: float | None, out: TextIO) -> ExitStatus:
    """Wait for replay jobs; exit status 1 if any failed again or did not finish in time."""
    from vecq.shared.errors import UpsertError, WaitTimeout

    status = ExitStatus.OK
    deadline = None if timeout is None else time.monotonic() + timeout
    for job_id in jobs:
        job = client.job(job_id)
        left = None if deadline is None else max(0.0, deadline - time.monotonic())
        try:
            job.wait(left)
            print(f"job {job_id}: written", file=out)
        except (UpsertError, WaitTimeout) as exc:
            print(f"job {job_id}: {exc}", file=out)
            status = ExitStatus.FAILED
    return status


def _line(letter: DeadLetter) -> str:
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(letter.last_seen))
    where = f"{letter.index}/{letter.shard} seq {letter.seq}" if letter.kind == "batch" else "-"
    reason = letter.reason if len(letter.reason) <= 80 else letter.reason[:77] + "..."
    return (
        f"{letter.entry_id}  {letter.kind:7}  {where:30}  {len(letter.ids):6} ids  "
        f"{letter.attempts:3} tries  {when}  {reason}"
    )


def _as_dict(letter: DeadLetter, *, full: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": letter.entry_id,
        "kind": letter.kind,
        "index": letter.index,
        "shard": letter.shard,
        "seq": letter.seq,
        "job": letter.job,
        "points": len(letter.ids),
        "attempts": letter.attempts,
        "first_seen": letter.first_seen,
        "last_seen": letter.last_seen,
        "reason": letter.reason,
        "replayable": letter.replayable,
    }
    if full:
        out["failures"] = [{"reason": f.reason, "ids": list(f.ids)} for f in letter.failures]
        if letter.message:
            out["message"] = letter.message
    return out
