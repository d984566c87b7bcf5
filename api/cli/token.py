"""``vecq token``: make a bearer token for the HTTP API and its tokens-file entry."""

from __future__ import annotations

import argparse
import json
import sys

from vecq.api.cli.exits import ExitStatus
from vecq.api.cli.options import Subparsers

TOKEN_EPILOG = """\
The token is printed to stderr once; only its SHA-256 goes to stdout, as a TOML table to
append to the tokens file that `vecq serve --tokens` reads.
"""


def add_parser(sub: Subparsers) -> None:
    """Register ``vecq token``."""
    t = sub.add_parser(
        "token",
        help="make a bearer token for the HTTP API and its tokens-file entry",
        description="Makes a random token and prints the entry granting it access.",
        epilog=TOKEN_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    t.add_argument("--name", required=True, help="the token's name, shown in logs")
    t.add_argument(
        "--index",
        action="append",
        required=True,
        help="an index name or shell-style pattern the token may use ('*': all); repeatable",
    )
    t.add_argument("--access", choices=["read", "write"], required=True, help="read or write")

    t.set_defaults(run=run)


def run(args: argparse.Namespace) -> ExitStatus:
    """Run ``vecq token``."""
    from vecq.api.http.auth import digest_of, new_token

    secret = new_token()
    print(f"token for {args.name!r} (shown once; give it to the client): {secret}", file=sys.stderr)
    print(f"[tokens.{json.dumps(args.name)}]")
    print(f'sha256 = "{digest_of(secret)}"')
    print(f"indexes = {json.dumps(args.index)}")
    print(f'access = "{args.access}"')
    return ExitStatus.OK
