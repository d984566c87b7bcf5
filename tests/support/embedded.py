"""Driving the embedded service as its users do: commands and programs in processes of their
own, the state file it writes, and its Edge shards opened once it is down."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from pathlib import Path

from qdrant_edge import CountRequest, EdgeShard

from vecq.shared.wire.service_protocol import ServiceState


def vecq(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "vecq.api.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )


def python(code: str, *args: str) -> subprocess.Popen[str]:
    """Start a Python program (the test's environment, so the same data directory)."""
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(process: subprocess.Popen[str], timeout: float = 120) -> str:
    out, err = process.communicate(timeout=timeout)
    assert process.returncode == 0, err
    return out


def the_state(data_dir: Path) -> ServiceState:
    state = ServiceState.read(data_dir)
    assert state is not None, "no service.json"
    return state


def wait_for(predicate: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def stored(data_dir: Path, index: str) -> int:
    """Points in the index's Edge shard, opened directly (the service must be down)."""
    shard = EdgeShard.load(str(data_dir / "edge" / index))
    try:
        return int(shard.count(CountRequest(exact=True)))
    finally:
        shard.close()


WRITER = """
    import sys
    import numpy as np
    from vecq import Client

    name, first, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    with Client() as client:
        key = bytes.fromhex(open(sys.argv[4]).read())
        index = client.load_index(name, index_key=key)
        rng = np.random.default_rng(first)
        for start in range(first, first + n, 5_000):
            ids = np.arange(start, min(start + 5_000, first + n))
            index.upsert(ids, rng.standard_normal((len(ids), 16), dtype=np.float32))
        print(index.count(), client.service.pid)
"""
