"""Running the HTTP API under a real uvicorn on loopback, for the HTTP tests."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import uvicorn

from tests.support.services import free_port
from vecq import Client
from vecq.api.http import create_app
from vecq.api.http.auth import Tokens, digest_of

# name -> (token, index patterns, access)
GRANTS = {
    "writer": ("w-secret-token", ["h-*"], "write"),
    "reader": ("r-secret-token", ["h-*"], "read"),
    "stranger": ("s-secret-token", ["other-*"], "write"),
    "admin": ("a-secret-token", ["*"], "write"),
}


def tokens_file(path: Path) -> Path:
    """Write a tokens file granting :data:`GRANTS`."""
    lines = []
    for name, (token, indexes, access) in GRANTS.items():
        patterns = ", ".join(f'"{i}"' for i in indexes)
        lines += [
            f"[tokens.{name}]",
            f'sha256 = "{digest_of(token)}"',
            f"indexes = [{patterns}]",
            f'access = "{access}"',
            "",
        ]
    path.write_text("\n".join(lines))
    return path


@dataclass
class Served:
    url: str
    server: uvicorn.Server


@contextlib.contextmanager
def serve(client: Client, tokens: Tokens | None, **options: int) -> Iterator[Served]:
    """The API over ``client`` on a free loopback port, until the block ends."""
    port = free_port()
    app = create_app(client, tokens, **options)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None))
    thread = threading.Thread(target=server.run, name="uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield Served(f"http://127.0.0.1:{port}", server)
    finally:
        server.should_exit = True
        thread.join(10)


def http(api: Served, who: str = "writer", key: bytes | None = None) -> httpx.Client:
    """An HTTP client sending ``who``'s token (and the index key, if given)."""
    headers = {"Authorization": f"Bearer {GRANTS[who][0]}"}
    if key is not None:
        headers["X-Index-Key"] = key.hex()
    return httpx.Client(base_url=api.url, headers=headers, timeout=30)
