"""Command-line options several ``vecq`` commands share."""

from __future__ import annotations

import argparse


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
