"""What every ``vecq`` command prints passes one redaction (``shared/redaction.py``): a
password or token quoted by an error, a summary or a library's message never reaches the
terminal. And a secret given on the command line itself is warned about."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator, Sequence
from typing import Any, TextIO

from vecq.shared.redaction import has_secret, redact

WARNING = (
    "vecq: warning: the command line holds a password or token, which every user of this "
    "machine can read (ps, /proc); give it in the environment (PGPASSWORD, VECQ_REDIS_URL, "
    "AWS_* variables) or a file (~/.pgpass, --key-file) instead"
)


class RedactingStream:
    """A text stream that writes what it is given through :func:`redact`."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        self._stream.write(redact(text))
        return len(text)

    def __getattr__(self, name: str) -> Any:  # flush, isatty, fileno, encoding, buffer...
        return getattr(self._stream, name)


@contextlib.contextmanager
def redacted_output() -> Iterator[None]:
    """Standard output and error redacted for the duration of the block."""
    out, err = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = RedactingStream(out), RedactingStream(err)
    try:
        yield
    finally:
        sys.stdout, sys.stderr = out, err


def one_line(exc: BaseException) -> str:
    """An unexpected error as one line: what failed and where (the service it came from)."""
    kind = type(exc).__module__.split(".")[0]
    said = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
    where = ""
    if kind in ("qdrant_client", "grpc", "httpx", "httpcore", "qdrant_edge"):
        where = f"Qdrant ({_setting('engine_location')}) failed: "
    elif kind in ("redis", "kombu", "amqp"):
        where = f"Redis or the broker ({_setting('redis_url') or 'embedded'}) failed: "
    return f"{where}{type(exc).__name__}: {said} (VECQ_DEBUG=1 shows where)"


def _setting(name: str) -> str:
    from vecq.shared.config.settings import Settings

    try:
        return str(getattr(Settings.from_env(), name) or "")
    except ValueError:
        return "?"


def silence_stdout() -> None:
    """Point standard output at /dev/null, so that exiting flushes nothing into a closed pipe."""
    import os

    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())


def warn_about_secrets(argv: Sequence[str]) -> None:
    """Say so (once) if an argument holds a password or a token."""
    if any(has_secret(arg) for arg in argv):
        print(WARNING, file=sys.stderr)
