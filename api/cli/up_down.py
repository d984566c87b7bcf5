"""``vecq up`` and ``vecq down``: the embedded service of a data directory, by hand.

Every embedded command starts the service when it needs it, so ``vecq up`` is only for
starting it ahead of time (or seeing where it runs); ``vecq down`` stops it after the
queued work is written, or at once with ``--now`` (the queue stays in its Redis's
append-only file for the next start).
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from vecq.api.cli.exits import ExitStatus, status_of
from vecq.api.cli.options import Subparsers, setting_default

if TYPE_CHECKING:  # imported where used, so `vecq --help` stays quick
    from vecq.shared.config.settings import Settings

UP = (
    "Starts the embedded service of the data directory (VECQ_DATA_DIR, default ./{data_dir}) if "
    "none runs, and says where it runs: its Redis server and the worker that owns the Qdrant "
    "Edge shards, shared by every vecq process and command on this machine. Any embedded "
    "command starts it on demand, so this is optional. It stops by itself after "
    "VECQ_SERVICE_IDLE_TIMEOUT seconds (default {idle:g}; 0: never) with no queued work and no "
    "attached client."
)
DOWN = (
    "Stops the embedded service of the data directory once everything queued is written "
    "(--now: after the batch in hand; the rest stays queued in its Redis for the next start). "
    "Clients still attached fail their next call; the next embedded command starts it again."
)


def add_parser(sub: Subparsers) -> None:
    """Register ``vecq up`` and ``vecq down``."""
    description = UP.format(
        data_dir=setting_default("data_dir"), idle=setting_default("service_idle_timeout")
    )
    up = sub.add_parser(
        "up", help="start the embedded service (or show the running one)", description=description
    )
    up.set_defaults(run=run_up)
    down = sub.add_parser(
        "down", help="stop the embedded service after its queued work", description=DOWN
    )
    down.add_argument(
        "--now", action="store_true", help="stop after the batch in hand; keep the rest queued"
    )
    down.add_argument(
        "--timeout",
        type=float,
        default=None,
        metavar="SECONDS",
        help="stop waiting after this long (the service keeps stopping)",
    )
    down.set_defaults(run=run_down)


def _embedded_settings(command: str) -> Settings | None:
    from vecq.shared.config.settings import Settings

    settings = Settings.from_env()
    if not settings.embedded:
        print(
            f"vecq {command}: VECQ_REDIS_URL is set, so there is no embedded service; run "
            "workers with `vecq worker`",
            file=sys.stderr,
        )
        return None
    return settings


def run_up(args: argparse.Namespace) -> ExitStatus:
    """Run ``vecq up``."""
    from vecq.api import launcher
    from vecq.api.cli.status import describe_service
    from vecq.shared.errors import VecqError

    settings = _embedded_settings("up")
    if settings is None:
        return ExitStatus.FAILED
    try:
        state = launcher.attach(settings)
    except VecqError as exc:
        print(f"vecq up: {exc}", file=sys.stderr)
        return status_of(exc)
    print(describe_service(state))
    print(f"data         {settings.data_dir}   (log: service.log there)")
    return ExitStatus.OK


def run_down(args: argparse.Namespace) -> ExitStatus:
    """Run ``vecq down``."""
    from vecq.api import launcher

    settings = _embedded_settings("down")
    if settings is None:
        return ExitStatus.FAILED
    data_dir = settings.data_dir
    try:
        pid = launcher.stop(data_dir, now=args.now, timeout=args.timeout)
    except TimeoutError as exc:
        print(f"vecq down: {exc}", file=sys.stderr)
        return ExitStatus.FAILED
    if pid is None:
        print(f"no vecq service runs for {data_dir}")
    else:
        print(f"vecq service (pid {pid}) stopped" + ("" if args.now else "; nothing left queued"))
    return ExitStatus.OK
