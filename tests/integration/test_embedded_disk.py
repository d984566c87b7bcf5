"""The embedded data directory does not grow without bound: the append-only file, which logs
every blob that passes through Redis, is compacted once nothing is queued."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from vecq import Client
from vecq.workers.service_host import AOF_COMPACT_BYTES

pytestmark = [pytest.mark.integration, pytest.mark.process]


def _aof_bytes(data_dir: Path) -> int:
    """The append-only file's size (one file, or Redis 7's folder of parts)."""
    return sum(p.stat().st_size for p in data_dir.rglob("appendonly*") if p.is_file())


def test_the_append_only_file_follows_the_live_data(data_dir: Path) -> None:
    """After 128 MiB of blobs have passed through, the file comes back under its compaction
    size once the work is written (Redis alone would let it grow to a GiB, more with each
    restart)."""
    rng = np.random.default_rng(5)
    # Every blob is logged whole: this many bytes of vectors pass through the AOF (the service
    # may compact it between rounds already, so its size at any moment says less).
    rounds = 6
    passed = rounds * 100_000 * 64 * 4
    assert passed > 2 * AOF_COMPACT_BYTES
    with Client() as client:
        index = client.create_index("aof", index_key=client.generate_key(), dimension=64)
        for round_ in range(rounds):
            ids = np.arange(round_ * 100_000, (round_ + 1) * 100_000)
            index.upsert(ids, rng.random((100_000, 64), dtype=np.float32))
        deadline = time.monotonic() + 120
        while _aof_bytes(data_dir) > AOF_COMPACT_BYTES:
            assert time.monotonic() < deadline, f"still {_aof_bytes(data_dir):,} bytes"
            time.sleep(0.5)
        assert index.count() == rounds * 100_000
    # Compacted at least once (more passed through than twice the compaction size), and
    # still bounded by it once the client has gone: not the 150 MB that passed through.
    assert _aof_bytes(data_dir) <= AOF_COMPACT_BYTES < passed / 2
