"""`vecq ingest` as a command, embedded: progress summary, resume, exit statuses."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import redis

from tests.support.clients import broker_url, worker_client
from vecq import Client
from vecq.api.ingest.mapping import ColumnMap
from vecq.api.ingest.sources.files import open_sources
from vecq.api.jobs import UpsertJob
from vecq.shared import keys


def _npy(tmp_path: Path, n: int, dim: int) -> tuple[Path, np.ndarray]:
    vectors = np.random.default_rng(0).standard_normal((n, dim), dtype=np.float32)
    path = tmp_path / "vectors.npy"
    np.save(path, vectors)
    return path, vectors


def _embedded_index(name: str, tmp_path: Path) -> tuple[bytes, Path]:
    """Create a 4-d, 2-shard index in the embedded default; its key and a file holding it."""
    with Client() as client:
        key = client.generate_key()
        client.create_index(name, index_key=key, dimension=4, shards=2, metric="dot")
    key_file = tmp_path / f"{name}.key"
    key_file.write_text(key.hex())
    return key, key_file


def test_cli_ingests_resumably_with_a_progress_summary(data_dir: Path, tmp_path: Path) -> None:
    """`vecq ingest` (embedded) writes everything; a second run skips every chunk."""
    key, key_file = _embedded_index("files", tmp_path)
    path, vectors = _npy(tmp_path, 2_000, 4)
    command = [
        sys.executable,
        "-m",
        "vecq.api.cli",
        "ingest",
        str(path),
        "--index",
        "files",
        "--key-file",
        str(key_file),
        "--chunk-rows",
        "500",
    ]
    first = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert first.returncode == 0, first.stderr
    assert "enqueued 2,000 records, skipped 0" in first.stdout
    assert "written: 2,000 vectors" in first.stdout
    second = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert second.returncode == 0, second.stderr
    assert "enqueued 0 records, skipped 2,000 already committed (4 chunks)" in second.stdout
    with Client() as client:
        index = client.load_index("files", key)
        assert index.count() == 2_000
        np.testing.assert_array_equal(index.get([1_999])[0]["vector"], vectors[1_999])
        assert len(client.redis.keys(keys.ingest("files", "*"))) == 1


def test_cli_bulk_loads_then_restores_indexing(data_dir: Path, tmp_path: Path) -> None:
    """--bulk writes everything and leaves no saved thresholds behind; with --no-wait, exit 2."""
    key, key_file = _embedded_index("bulky", tmp_path)
    path, _ = _npy(tmp_path, 1_000, 4)
    command = [
        sys.executable,
        "-m",
        "vecq.api.cli",
        "ingest",
        str(path),
        "--index",
        "bulky",
        "--key-file",
        str(key_file),
        "--bulk",
    ]
    refused = subprocess.run([*command, "--no-wait"], capture_output=True, text=True, timeout=60)
    assert refused.returncode == 2 and "--bulk waits" in refused.stderr
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "written: 1,000 vectors" in done.stdout
    with Client() as client:
        assert client.load_index("bulky", key).count() == 1_000
        assert not client.redis.exists(keys.bulk("bulky"))


def test_cli_bad_key_and_bad_file_exit_2(data_dir: Path, tmp_path: Path) -> None:
    """No key, or a malformed file: exit status 2 and a one-line reason."""
    path = tmp_path / "x.jsonl"
    path.write_text(json.dumps({"id": 1}) + "\n")
    env = {k: v for k, v in os.environ.items() if k != "VECQ_INDEX_KEY"}
    command = [sys.executable, "-m", "vecq.api.cli", "ingest", str(path), "--index", "i"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60, env=env)
    assert done.returncode == 2
    assert "no index key" in done.stderr


def test_a_killed_ingest_resumes_where_it_stopped(
    redis_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SIGKILL mid-run, run again: committed chunks are skipped and every vector arrives once."""
    name = f"kill-{os.getpid()}-{time.monotonic_ns()}"
    with Client(redis_url=redis_url, worker=False) as client:
        key = client.generate_key()
        client.create_index(name, index_key=key, dimension=8, shards=2, metric="dot")
    vectors = np.random.default_rng(3).standard_normal((200_000, 8), dtype=np.float32)
    path = tmp_path / "big.npy"
    np.save(path, vectors)
    env = {
        **os.environ,
        "VECQ_REDIS_URL": redis_url,
        "VECQ_BROKER_URL": broker_url(redis_url),
        "VECQ_INDEX_KEY": key.hex(),
    }
    command = [
        sys.executable,
        "-m",
        "vecq.api.cli",
        "ingest",
        str(path),
        "--index",
        name,
        "--chunk-rows",
        "500",
        "--no-wait",
    ]
    r = redis.Redis.from_url(redis_url)
    ledger_key = keys.ingest(name, open_sources([str(path)])[0].fingerprint(500))
    run = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while r.hlen(ledger_key) < 20:
        assert run.poll() is None, "the ingest finished before it could be killed"
        assert time.monotonic() < deadline
        time.sleep(0.01)
    run.send_signal(signal.SIGKILL)
    run.wait(10)
    committed = r.hlen(ledger_key)
    assert 20 <= committed < 400
    again = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert again.returncode == 0, again.stderr
    assert f"skipped {committed * 500:,} already committed ({committed} chunks)" in again.stdout
    with worker_client(redis_url) as client:
        index = client.load_index(name, key)
        chunks = {k: v for k, v in r.hgetall(ledger_key).items() if k.isdigit()}
        assert len(chunks) == 400 and r.hget(ledger_key, "complete") == b"400"
        jobs = [UpsertJob(r, job.decode(), name, 0, 60) for job in chunks.values()]
        for job in jobs:
            job.wait(120)
        assert index.count() == 200_000
        got = index.get([0, 123_456, 199_999])
        np.testing.assert_array_equal([p["vector"] for p in got], vectors[[0, 123_456, 199_999]])
    r.close()


def test_a_killed_ingest_from_postgresql_resumes_after_its_last_committed_key(
    redis_url: str, postgres_url: str, pg_table: str
) -> None:
    """SIGKILL mid-read of a table, run again: it reads on from the last committed key; what
    both runs enqueued and recorded is every row exactly once, and every row is stored."""
    import psycopg

    from vecq.api.ingest.sources.postgres import PostgresSource

    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(f"CREATE TABLE {pg_table} (id bigint PRIMARY KEY, v real[])")
        conn.execute(
            f"INSERT INTO {pg_table} SELECT g, ARRAY[g % 97, 1, 2, 3, 4, 5, 6, 7] "
            "FROM generate_series(1, 200000) g"
        )
    name = f"pgkill-{os.getpid()}-{time.monotonic_ns()}"
    with Client(redis_url=redis_url, worker=False) as client:
        key = client.generate_key()
        client.create_index(name, index_key=key, dimension=8, shards=2, metric="dot")
    env = {
        **os.environ,
        "VECQ_REDIS_URL": redis_url,
        "VECQ_BROKER_URL": broker_url(redis_url),
        "VECQ_INDEX_KEY": key.hex(),
    }
    command = [
        sys.executable,
        "-m",
        "vecq.api.cli",
        "ingest",
        postgres_url,
        "--table",
        pg_table,
        "--vector-column",
        "v",
        "--index",
        name,
        "--chunk-rows",
        "500",
        "--no-wait",
    ]
    r = redis.Redis.from_url(redis_url)
    read = PostgresSource(postgres_url, table=pg_table, mapping=ColumnMap(vector="v"))
    ledger_key = keys.ingest(name, read.fingerprint(0))
    run = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while int(r.hget(ledger_key, "chunks") or 0) < 20:
        assert run.poll() is None, "the ingest finished before it could be killed"
        assert time.monotonic() < deadline
        time.sleep(0.01)
    run.send_signal(signal.SIGKILL)
    run.wait(10)
    rows = int(r.hget(ledger_key, "rows") or 0)
    assert 10_000 <= rows < 200_000 and json.loads(r.hget(ledger_key, "after")) == [str(rows)]
    again = subprocess.run(
        [*command, "--json"], env=env, capture_output=True, text=True, timeout=120
    )
    assert again.returncode == 0, again.stderr
    summary = json.loads(again.stdout)
    assert (summary["skipped"], summary["enqueued"]) == (rows, 200_000 - rows)
    with worker_client(redis_url) as client:
        index = client.load_index(name, key)
        for job_id in summary["jobs"] + summary["earlier_jobs"]:
            UpsertJob(r, job_id, name, 0, 60).wait(120)
        assert index.count() == 200_000
        got = index.get([1, rows, rows + 1, 200_000])
        assert [p["vector"][0] for p in got] == [
            float(i % 97) for i in (1, rows, rows + 1, 200_000)
        ]
    r.close()


def test_a_killed_ingest_from_object_storage_resumes_where_it_stopped(
    redis_url: str, s3_bucket: str
) -> None:
    """SIGKILL mid-read of a Parquet object in S3, run again: committed chunks are skipped
    (the object is known by URL, size and ETag) and every vector arrives."""
    import io

    import pyarrow as pa
    import pyarrow.parquet as pq

    from tests.support.s3 import put

    vectors = np.random.default_rng(5).standard_normal((200_000, 8), dtype=np.float32)
    table = pa.table({"id": np.arange(200_000), "vector": list(vectors)})
    body = io.BytesIO()
    pq.write_table(table, body, row_group_size=20_000)
    put(s3_bucket, "exports/part-0.parquet", body.getvalue())
    url = f"s3://{s3_bucket}/exports/"
    name = f"s3kill-{os.getpid()}-{time.monotonic_ns()}"
    with Client(redis_url=redis_url, worker=False) as client:
        key = client.generate_key()
        client.create_index(name, index_key=key, dimension=8, shards=2, metric="dot")
    env = {
        **os.environ,
        "VECQ_REDIS_URL": redis_url,
        "VECQ_BROKER_URL": broker_url(redis_url),
        "VECQ_INDEX_KEY": key.hex(),
    }
    command = [
        sys.executable,
        "-m",
        "vecq.api.cli",
        "ingest",
        url,
        "--index",
        name,
        "--chunk-rows",
        "500",
        "--no-wait",
    ]
    r = redis.Redis.from_url(redis_url)
    ledger_key = keys.ingest(name, open_sources([url])[0].fingerprint(500))
    run = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while r.hlen(ledger_key) < 20:
        assert run.poll() is None, "the ingest finished before it could be killed"
        assert time.monotonic() < deadline
        time.sleep(0.01)
    run.send_signal(signal.SIGKILL)
    run.wait(10)
    committed = r.hlen(ledger_key)
    assert 20 <= committed < 400
    again = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert again.returncode == 0, again.stderr
    assert f"skipped {committed * 500:,} already committed ({committed} chunks)" in again.stdout
    with worker_client(redis_url) as client:
        index = client.load_index(name, key)
        chunks = {k: v for k, v in r.hgetall(ledger_key).items() if k.isdigit()}
        assert len(chunks) == 400 and r.hget(ledger_key, "complete") == b"400"
        for job in chunks.values():
            UpsertJob(r, job.decode(), name, 0, 60).wait(120)
        assert index.count() == 200_000
        got = index.get([0, 123_456, 199_999])
        np.testing.assert_array_equal([p["vector"] for p in got], vectors[[0, 123_456, 199_999]])
    r.close()


def test_a_run_cut_short_still_reports_what_it_enqueued_and_wrote(
    data_dir: Path, tmp_path: Path
) -> None:
    """A second file that breaks the run: the --json summary says what the first one
    enqueued and what of it was written, with the error (it said nothing of them)."""
    _, key_file = _embedded_index("cut", tmp_path)
    good = tmp_path / "a.jsonl"
    good.write_text(
        "".join(json.dumps({"id": i, "vector": [1, 2, 3, 4]}) + "\n" for i in range(30))
    )
    bad = tmp_path / "b.jsonl"
    bad.write_text('{"id": 100, "vector": [1, 2, 3, 4]}\n{broken\n')
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "vecq.api.cli",
            "ingest",
            str(good),
            str(bad),
            "--index",
            "cut",
            "--key-file",
            str(key_file),
            "--chunk-rows",
            "10",
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2, done.stderr
    summary = json.loads(done.stdout)
    assert summary["status"] == "error" and "b.jsonl: line 2" in summary["error"]
    assert summary["enqueued"] == 30 and 0 <= summary["written"] <= 30


@pytest.mark.parametrize("flag", [["--allow-empty-source"], ["--max-delete-fraction", "0.5"]])
def test_mirror_guards_without_mirror_are_usage_errors(tmp_path: Path, flag: list[str]) -> None:
    """--allow-empty-source (or --max-delete-fraction) alone would do nothing; it is refused
    saying to add --mirror, before anything is read."""
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "vecq.api.cli",
            "ingest",
            str(tmp_path / "x.jsonl"),
            "--index",
            "any",
            *flag,
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2 and "add --mirror" in done.stderr


@pytest.mark.parametrize("rows", ["0", "-3", "many"])
def test_a_chunk_size_that_is_no_positive_number_is_refused(tmp_path: Path, rows: str) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "vecq.api.cli",
            "ingest",
            str(tmp_path / "x.jsonl"),
            "--index",
            "any",
            "--chunk-rows",
            rows,
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2 and "--chunk-rows" in done.stderr
