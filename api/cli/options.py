"""What every ``vecq`` command module shares: the sub-parser type and common options."""

from __future__ import annotations

import argparse
from typing import Any, Protocol


class Subparsers(Protocol):
    """What ``parser.add_subparsers()`` returns, as far as a command module uses it."""

    def add_parser(self, name: str, **kwargs: Any) -> argparse.ArgumentParser: ...


def add_log_format(parser: argparse.ArgumentParser) -> None:
    """``--log-format text|json`` (default: ``VECQ_LOG_FORMAT``, else text)."""
    parser.add_argument(
        "--log-format",
        choices=["text", "json"],
        default=None,
        help="text (key=value ids) or json lines (default: VECQ_LOG_FORMAT, text)",
    )


def add_logging(parser: argparse.ArgumentParser) -> None:
    """``--log-level`` and ``--log-format``, for the long-running commands."""
    parser.add_argument("--log-level", default="INFO", help="log level (default INFO)")
    add_log_format(parser)
