"""What every ``vecq`` command module shares: the sub-parser type and common options."""

from __future__ import annotations

import argparse
import dataclasses
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
    parser.add_argument("--log-level", default="INFO", help="log level (default %(default)s)")
    add_log_format(parser)


def setting_default(name: str) -> Any:
    """A setting's default (its field in ``Settings``), for help texts: said in one place."""
    from vecq.shared.config.settings import Settings

    return {f.name: f.default for f in dataclasses.fields(Settings)}[name]


def positive_int(text: str) -> int:
    """An argument that must be a whole number above zero (argparse names the flag)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value
