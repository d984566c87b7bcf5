"""``vecq schedule``: scheduled ETL from a config file (see :mod:`vecq.api.ingest.etl`)."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vecq.api.cli.exits import ExitStatus, status_of
from vecq.api.cli.options import Subparsers, add_logging
from vecq.api.ingest.schedule_keys import describe

if TYPE_CHECKING:
    from vecq.api.ingest.etl import RunRecord
    from vecq.api.ingest.etl_config import EtlSource

# The file a running `vecq schedule` touches while beat and its runner run, and how old it
# may be before `--alive` (the liveness probe) says the scheduler is stuck.
ALIVE_FILE = "schedule.alive"
TOUCH_SECONDS = 10.0
ALIVE_SECONDS = 60.0

EPILOG = """\
config file (TOML), one [[sources]] table per scheduled source, for example:

  [[sources]]
  name = "products"
  index = "products"
  paths = ["/data/exports/*.parquet"]
  key_file = "/run/secrets/products.key"
  every = "15m"

the keys of a [[sources]] table:
{keys}

Sources must carry their ids: Parquet, JSON Lines, .npz with an 'ids' array, or a table.
Each run reads only files that are new or changed since they were last committed in full;
a run cut short resumes. Run one `vecq schedule` per deployment: beat must not run twice.

examples:
  vecq schedule --config etl.toml             # run until stopped (SIGTERM, Ctrl-C)
  vecq schedule --config etl.toml --once      # run every source once now, then exit
  vecq schedule --config etl.toml --list      # each source's schedule and latest run
"""


def add_parser(sub: Subparsers) -> None:
    """Register ``vecq schedule``."""
    p = sub.add_parser(
        "schedule",
        help="run scheduled ETL: ingest file globs on an interval or cron (Celery beat)",
        description="Runs Celery beat with a schedule built from a config file, and the "
        "ingestion each due run asks for, in this process.",
        epilog=EPILOG.format(keys=describe()),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--config", type=Path, required=True, help="the schedule file (TOML)")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--once", action="store_true", help="run every source once now and exit")
    mode.add_argument("--list", action="store_true", help="show each source and its last run")
    mode.add_argument(
        "--alive",
        action="store_true",
        help="exit 0 if a `vecq schedule` of this data directory beat in the last "
        f"{ALIVE_SECONDS:.0f} s, else 1 (a liveness probe: reads one local file, no Redis)",
    )
    add_logging(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> ExitStatus:
    """Run ``vecq schedule``; 0 when stopped cleanly, 1 if a --once run failed, 2 bad config."""
    from vecq import Client
    from vecq.api.ingest.etl import Scheduler, last_run, run_source
    from vecq.api.ingest.etl_config import load_config
    from vecq.shared import logs
    from vecq.shared.config.settings import Settings
    from vecq.shared.errors import VecqError

    try:
        settings = Settings.from_env(log_format=args.log_format)
        if args.alive:
            return _alive(Path(settings.data_dir) / ALIVE_FILE)
        sources = load_config(args.config)
    except ValueError as exc:
        print(f"vecq schedule: {exc}", file=sys.stderr)
        return ExitStatus.USAGE
    logs.configure(args.log_level, settings.log_format)
    try:
        with Client(log_format=args.log_format) as client:
            if args.list:
                for source in sources:
                    print(_listing(source, last_run(client, source.name)))
                return ExitStatus.OK
            if args.once:
                records = [run_source(client, s) for s in sources]
                return ExitStatus.FAILED if any(r.error for r in records) else ExitStatus.OK
            scheduler = Scheduler(client, sources).start()
            _beat_until_a_signal(scheduler, Path(settings.data_dir) / ALIVE_FILE)
            scheduler.stop()
    except VecqError as exc:
        print(f"vecq schedule: {exc}", file=sys.stderr)
        return status_of(exc)
    return ExitStatus.OK


def _listing(source: EtlSource, last: RunRecord | None) -> str:
    """One line of ``--list``: the source, its schedule and its latest run."""
    when = f"every {source.every:g}s" if source.every is not None else f"cron {source.cron}"
    seen = "never run"
    if last is not None:
        started = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(last.started_at))
        seen = (
            f"last run {started}Z: {last.files} files, enqueued {last.enqueued:,}, "
            f"skipped {last.skipped:,}" + (f", error: {last.error}" if last.error else "")
        )
    return f"{source.name}: {', '.join(source.paths)} -> {source.index}, {when}; {seen}"


def _beat_until_a_signal(scheduler: Any, alive_file: Path) -> None:
    """Touch ``alive_file`` every :data:`TOUCH_SECONDS` while the scheduler runs, until
    SIGTERM or SIGINT."""
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    while True:
        if scheduler.alive:
            alive_file.touch()
        if stop.wait(TOUCH_SECONDS):
            return


def _alive(alive_file: Path) -> ExitStatus:
    """``--alive``: OK if the scheduler touched its file lately, else FAILED (one line)."""
    try:
        age = time.time() - alive_file.stat().st_mtime
    except OSError:
        print(f"vecq schedule: not running ({alive_file} is missing)", file=sys.stderr)
        return ExitStatus.FAILED
    if age > ALIVE_SECONDS:
        print(f"vecq schedule: no beat for {age:.0f} s", file=sys.stderr)
        return ExitStatus.FAILED
    return ExitStatus.OK
