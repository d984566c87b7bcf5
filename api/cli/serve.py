"""``vecq serve``: run the HTTP API (FastAPI on uvicorn)."""

from __future__ import annotations

import argparse
import signal
import sys
import textwrap
from pathlib import Path
from typing import TYPE_CHECKING

from vecq.api import defaults
from vecq.api.cli.exits import ExitStatus
from vecq.api.cli.options import Subparsers, add_logging

if TYPE_CHECKING:
    from vecq.api.http.auth import Tokens
    from vecq.shared.config.settings import Settings

SERVE_DESCRIPTION = (
    "Serves vecq's HTTP API: create, load, list and delete indexes; upsert points as JSON "
    "(items base64) or as a binary .npy, .npz or Arrow IPC body; job status; /healthz, "
    "/readyz and /metrics. The OpenAPI spec is at /openapi.json and browsable at /docs. "
    "Connects like every vecq command: VECQ_REDIS_URL, VECQ_QDRANT_URL, ... or, with "
    "none set, the embedded default: the data directory's service (a Redis and a worker "
    "writing to Qdrant Edge under ./.vecq), started if it is not running."
)

SERVE_EPILOG = """\
examples:
  vecq token --name etl --index 'products*' --access write >> tokens.toml
  vecq serve --tokens tokens.toml
  VECQ_REDIS_URL=redis://redis:6379/0 VECQ_QDRANT_URL=http://qdrant:6333 \\
      vecq serve --host 0.0.0.0 --port 8000 --tokens /run/secrets/tokens.toml

  curl -H "Authorization: Bearer $TOKEN" -H "X-Index-Key: $KEY" \\
       -H 'Content-Type: application/json' localhost:8000/v1/indexes/products/upsert \\
       -d '{"items": [{"id": 1, "vector": [0.1, 0.2, 0.3], "metadata": {"lang": "en"}}]}'
"""


def add_parser(sub: Subparsers) -> None:
    """Register ``vecq serve``."""
    p = sub.add_parser(
        "serve",
        help="run the HTTP API (FastAPI on uvicorn)",
        description=textwrap.fill(SERVE_DESCRIPTION, 88),
        epilog=SERVE_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default %(default)s)")
    p.add_argument("--port", type=int, default=8000, help="port to bind (default %(default)s)")
    p.add_argument(
        "--tokens",
        type=Path,
        default=None,
        help="TOML file of bearer tokens, by SHA-256, each scoped to indexes with read or "
        "write access (default: VECQ_API_TOKENS); make entries with `vecq token`",
    )
    p.add_argument(
        "--no-auth",
        action="store_true",
        help="serve without tokens: anyone who can connect may read and write everything",
    )
    p.add_argument(
        "--open-to-the-network",
        action="store_true",
        help="with --no-auth, allow a --host other than loopback (anyone reaching it writes)",
    )
    p.add_argument(
        "--max-body-mb",
        type=float,
        default=defaults.MAX_BODY_MB,
        help="largest binary upsert body, in MiB (default %(default)s)",
    )
    p.add_argument(
        "--max-json-mb",
        type=float,
        default=defaults.MAX_JSON_MB,
        help="largest JSON body, in MiB (default %(default)s)",
    )
    p.add_argument(
        "--max-waiting",
        type=int,
        default=defaults.MAX_WAITING,
        help="requests that may wait for their writes (?wait=true) at once; more are "
        "answered 503 (default %(default)s)",
    )
    p.add_argument("--ssl-certfile", help="serve HTTPS with this certificate (PEM)")
    p.add_argument("--ssl-keyfile", help="the certificate's private key (PEM)")
    add_logging(p)

    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> ExitStatus:
    """Run ``vecq serve`` until interrupted; return the exit status."""
    from vecq.shared import logs
    from vecq.shared.config.settings import Settings

    try:
        settings = Settings.from_env(log_format=args.log_format)
        tokens = _tokens(args, settings)
    except ValueError as exc:
        print(f"vecq serve: {exc}", file=sys.stderr)
        return ExitStatus.USAGE
    try:
        import uvicorn

        from vecq.api.http.app import create_app
        from vecq.api.http.deps import MAX_WAIT_SECONDS
    except ImportError as exc:  # pragma: no cover - fastapi and uvicorn are in the server extra
        print(f"vecq serve: {exc.name} is missing: pip install 'vecq[server]'", file=sys.stderr)
        return ExitStatus.USAGE
    logs.configure(args.log_level, settings.log_format)
    from vecq import Client

    # uvicorn stops on SIGTERM/SIGINT and then raises the signal again once it has shut down;
    # with no-op handlers in place that second delivery lets the client close (an in-process
    # worker, if any, finishes its batch) instead of killing the process.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: None)
    with Client() as client:
        app = create_app(
            client,
            tokens,
            max_body_bytes=int(args.max_body_mb * defaults.MIB),
            max_json_bytes=int(args.max_json_mb * defaults.MIB),
            max_waiting=args.max_waiting,
        )
        uvicorn.run(
            app,
            host=args.host,
            port=args.port,
            log_config=None,  # keep vecq's structured handler
            ssl_certfile=args.ssl_certfile,
            ssl_keyfile=args.ssl_keyfile,
            # A request waiting for its writes (?wait=true) may take MAX_WAIT_SECONDS; a
            # stop lets it finish (deploy/ gives the pod as long).
            timeout_graceful_shutdown=int(MAX_WAIT_SECONDS) + 30,
        )
    return ExitStatus.OK


def _tokens(args: argparse.Namespace, settings: Settings) -> Tokens | None:
    from vecq.api.http.auth import Tokens

    path = args.tokens or settings.api_tokens
    if path is not None and args.no_auth:
        raise ValueError("--no-auth and a tokens file contradict each other; pick one")
    if path is None:
        if not args.no_auth:
            raise ValueError(
                "no tokens: pass --tokens FILE (make entries with `vecq token`), set "
                "VECQ_API_TOKENS, or --no-auth to serve without authentication"
            )
        if not _loopback(args.host) and not args.open_to_the_network:
            raise ValueError(
                f"--no-auth on {args.host} would let anyone who reaches this machine read and "
                "write every index; serve on 127.0.0.1, give --tokens, or add "
                "--open-to-the-network if that is really meant"
            )
        if not _loopback(args.host):
            print(
                f"vecq serve: WARNING: serving on {args.host} WITHOUT AUTHENTICATION: anyone "
                "who reaches this port may read and write every index",
                file=sys.stderr,
            )
        return None
    return Tokens.from_file(path)


def _loopback(host: str) -> bool:
    """True for an address only this machine reaches."""
    import ipaddress

    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
