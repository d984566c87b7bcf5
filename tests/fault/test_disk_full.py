"""A full disk under the embedded service: the job queued before it finishes once space is
back, on a real (small) tmpfs. Qdrant Edge writes through memory-mapped files, so a full
disk kills the service (SIGBUS); its Redis refuses writes (MISCONF) until there is room.
The attached client keeps starting the service again, and the new one takes the work over."""

from __future__ import annotations

import contextlib
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import psutil
import pytest

from vecq import Client
from vecq.api import launcher

pytestmark = [pytest.mark.fault, pytest.mark.process]


@pytest.fixture
def small_disk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A 256 MiB tmpfs holding the data directory (skipped where mounting needs root)."""
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=256m", "tmpfs", str(disk)], capture_output=True
    )
    if mounted.returncode != 0:
        pytest.skip("mounting a tmpfs needs root")
    for var in ("VECQ_REDIS_URL", "VECQ_BROKER_URL", "VECQ_QDRANT_URL", "VECQ_QDRANT_PATH"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("VECQ_DATA_DIR", str(disk / "vecq"))
    monkeypatch.setenv("VECQ_SERVICE_IDLE_TIMEOUT", "60")
    try:
        yield disk
    finally:
        with contextlib.suppress(Exception):
            launcher.stop(disk / "vecq", now=True, timeout=30)
        for process in psutil.process_iter(["name"]):  # a Redis left for attached clients
            with contextlib.suppress(psutil.Error):
                if "redis-server" in (process.info["name"] or "") and str(disk) in process.cwd():
                    process.kill()
        time.sleep(0.5)
        subprocess.run(["umount", "-l", str(disk)], check=False)


def _fill(disk: Path) -> Path:
    """Write zeros until the disk is full; the file that holds them."""
    filler = disk / "filler"
    with filler.open("wb", buffering=0) as out:  # unbuffered: closing it has nothing to write
        block = b"\0" * (1 << 20)
        with contextlib.suppress(OSError):
            while True:
                out.write(block)
    return filler


def test_a_job_queued_before_the_disk_filled_finishes_once_space_is_back(small_disk: Path) -> None:
    """Nothing queued is lost to a full disk: once the filler is gone, every vector is written."""
    n = 120_000  # about 2 s of writes: still going when the disk fills
    vectors = np.random.default_rng(3).random((n, 64), dtype=np.float32)
    with Client(stall_timeout=180.0) as client:
        index = client.create_index("full", index_key=client.generate_key(), dimension=64)
        job = index.upsert(np.arange(n), vectors, wait=False)
        filler = _fill(small_disk)
        assert filler.stat().st_size > 0
        time.sleep(5)  # the service meets the full disk, dies, and cannot start again yet
        assert job.progress.written < n, "the job finished before the disk filled; fill sooner"
        filler.unlink()
        job.wait(timeout=180)
        assert (job.status, job.progress.written) == ("done", n)
        assert index.count() == n
        rows = [0, n // 2, n - 1]
        got = index.get(rows)
        assert [p["id"] for p in got] == rows
        expected = vectors[rows] / np.linalg.norm(vectors[rows], axis=1, keepdims=True)
        np.testing.assert_allclose([p["vector"] for p in got], expected, rtol=1e-5)  # cosine
    assert os.path.isdir(small_disk / "vecq" / "edge")
