"""`vecq ingest` as a command, embedded: progress summary, resume, exit statuses."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from api import Client
from shared import keys


def _npy(tmp_path: Path, n: int, dim: int) -> tuple[Path, np.ndarray]:
    vectors = np.random.default_rng(0).standard_normal((n, dim), dtype=np.float32)
    path = tmp_path / "vectors.npy"
    np.save(path, vectors)
    return path, vectors


def test_cli_ingests_resumably_with_a_progress_summary(data_dir: Path, tmp_path: Path) -> None:
    """`vecq ingest` (embedded) writes everything; a second run skips every chunk."""
    with Client() as client:
        key = client.generate_key()
        client.create_index("files", index_key=key, dimension=4, shards=2, metric="dot")
    path, vectors = _npy(tmp_path, 2_000, 4)
    key_file = tmp_path / "files.key"
    key_file.write_text(key.hex())
    command = [sys.executable, "-m", "api.cli", "ingest", str(path), "--index", "files",
               "--key-file", str(key_file), "--chunk-rows", "500"]  # fmt: skip
    first = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert first.returncode == 0, first.stderr
    assert "enqueued 2,000 vectors, skipped 0" in first.stdout
    assert "written: 2,000 vectors" in first.stdout
    second = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert second.returncode == 0, second.stderr
    assert "enqueued 0 vectors, skipped 2,000 already committed (4 chunks)" in second.stdout
    with Client() as client:
        index = client.load_index("files", key)
        assert index.count() == 2_000
        np.testing.assert_array_equal(index.get([1_999])[0]["vector"], vectors[1_999])
        assert len(client.redis.keys(keys.ingest("files", "*"))) == 1


def test_cli_bad_key_and_bad_file_exit_2(data_dir: Path, tmp_path: Path) -> None:
    """No key, or a malformed file: exit status 2 and a one-line reason."""
    path = tmp_path / "x.jsonl"
    path.write_text(json.dumps({"id": 1}) + "\n")
    env = {k: v for k, v in os.environ.items() if k != "VECQ_INDEX_KEY"}
    done = subprocess.run([sys.executable, "-m", "api.cli", "ingest", str(path), "--index", "i"],
                          capture_output=True, text=True, timeout=60, env=env)  # fmt: skip
    assert done.returncode == 2
    assert "no index key" in done.stderr
