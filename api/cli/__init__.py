"""The ``vecq`` command line: a module per command, each with ``add_parser(sub)`` and ``run(args)``.

A command module keeps its heavy imports inside ``run``, so building the parser (``vecq
--help``, and the deploy tests that check every command the deploy files run) stays cheap.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from vecq.api.cli import (
    demo,
    dlq,
    exits,
    index,
    ingest,
    output,
    query,
    schedule,
    serve,
    status,
    token,
    up_down,
    verify,
    worker,
)
from vecq.shared.version import version

# In the order ``vecq --help`` lists them.
COMMANDS = (
    demo,
    up_down,
    worker,
    index,
    ingest,
    query,
    verify,
    serve,
    token,
    status,
    schedule,
    dlq,
)


def build_parser() -> argparse.ArgumentParser:
    """The parser of every ``vecq`` command (also used to check the deploy files' commands)."""
    parser = argparse.ArgumentParser(
        prog="vecq",
        description="Distributed ingestion of vector embeddings into Qdrant.",
        epilog=exits.epilog(),
    )
    parser.add_argument("--version", action="version", version=f"vecq {version()}")
    sub = parser.add_subparsers(dest="command", required=True)
    for command in COMMANDS:
        command.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``vecq``: parse, then run the command; returns the exit status.

    Everything the command prints is redacted; a secret on the command line is warned about.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    output.warn_about_secrets(argv)
    with output.redacted_output():
        args = build_parser().parse_args(argv)
        try:
            status: int = args.run(args)
            sys.stdout.flush()  # here, where a closed pipe is caught (not at exit)
        except KeyboardInterrupt:
            print(f"\nvecq {args.command}: interrupted", file=sys.stderr)
            return exits.ExitStatus.INTERRUPTED
        except BrokenPipeError:  # the reader of our output left (vecq status | head -1)
            output.silence_stdout()
            return exits.ExitStatus.OK
        except Exception as exc:  # one line, not a traceback (VECQ_DEBUG=1: the traceback)
            if os.environ.get("VECQ_DEBUG"):
                raise
            print(f"vecq {args.command}: {output.one_line(exc)}", file=sys.stderr)
            return exits.ExitStatus.FAILED
    return status


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
