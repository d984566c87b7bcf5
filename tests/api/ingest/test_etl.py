"""Scheduled ETL: the config file, runs that ingest only what is new or changed, and beat."""

from __future__ import annotations

import dataclasses
import json
import os
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from vecq import Client, Index
from vecq.api.ingest.etl import Scheduler, last_run, run_source
from vecq.api.ingest.etl_config import EtlSource, load_config, parse_every
from vecq.shared.errors import SourceError


def _jsonl(path: Path, ids: range, dim: int = 3) -> Path:
    with path.open("w") as f:
        for i in ids:
            f.write(json.dumps({"id": i, "vector": [float(i), 1.0, 2.0][:dim]}) + "\n")
    return path


def _source(index: Index, key: bytes, folder: Path, every: float = 60.0) -> EtlSource:
    return EtlSource(
        f"etl-{uuid.uuid4().hex[:8]}", index.name, (str(folder / "*.jsonl"),), key, every=every
    )


def _wait_written(client: Client, job_ids: list[str]) -> None:
    from vecq.api.jobs import UpsertJob

    for job_id in job_ids:
        state = UpsertJob(client.redis, job_id, "", 0, 20.0).wait(30).state()
        assert state.failed == 0


def test_every_accepts_units_and_rejects_the_rest() -> None:
    """30s, 15m, 6h, 1d parse to seconds; anything else is a ValueError saying how."""
    assert [parse_every(t) for t in ("30s", "15m", "6h", "1d", "0.5m")] == [
        30,
        900,
        21600,
        86400,
        30,
    ]
    for bad in ("15", "m", "-1m", "0s", "1w"):
        with pytest.raises(ValueError, match="every"):
            parse_every(bad)


def test_config_errors_name_the_entry_and_field(tmp_path: Path) -> None:
    """A schedule file's mistakes are reported with their entry and field."""
    path = tmp_path / "etl.toml"
    base = 'name = "a"\nindex = "i"\npaths = ["x/*.jsonl"]\nkey_env = "K"\n'
    cases = {
        'every = "5m"\ncron = "0 2 * * *"\n': "exactly one of every",
        'cron = "0 2 * *"\n': r"sources\[0\]\.cron must have 5 fields",
        'cron = "99 2 * * *"\n': r"sources\[0\]\.cron",
        'every = "5m"\nspeed = 3\n': "unknown field",
    }
    for extra, message in cases.items():
        path.write_text("[[sources]]\n" + base + extra)
        with pytest.raises(ValueError, match=message):
            load_config(path, env={"K": "00" * 32})
    path.write_text("[[sources]]\n" + base + 'every = "5m"\n')
    with pytest.raises(ValueError, match="K is not set"):
        load_config(path, env={})
    (source,) = load_config(path, env={"K": "ab" * 32})
    assert source.every == 300 and source.key == bytes([0xAB]) * 32
    assert "ab" * 32 not in repr(source)


def test_a_rerun_ingests_only_new_and_changed_files(
    client: Client, make_index, key: bytes, tmp_path: Path
) -> None:
    """Run 1 takes both files; run 2 nothing; a new file and a changed file are read again."""
    index = make_index()
    folder = tmp_path / "drop"
    folder.mkdir()
    a = _jsonl(folder / "a.jsonl", range(0, 100))
    _jsonl(folder / "b.jsonl", range(100, 150))
    source = _source(index, key, folder)

    first = run_source(client, source)
    assert (first.files, first.enqueued, first.skipped, first.error) == (2, 150, 0, None)
    _wait_written(client, first.jobs)
    assert index.count() == 150

    # Same size and mtime, unreadable content: skipped without being read, so no error.
    stat = a.stat()
    a.write_bytes(b"{" * stat.st_size)
    os.utime(a, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    second = run_source(client, source)
    assert (second.enqueued, second.skipped, second.error) == (0, 150, None)

    _jsonl(a, range(0, 100))  # restored content, new mtime: a changed file
    os.utime(a, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    _jsonl(folder / "c.jsonl", range(150, 160))
    third = run_source(client, source)
    assert (third.files, third.enqueued, third.skipped) == (3, 110, 50)
    _wait_written(client, third.jobs)
    assert index.count() == 160
    assert last_run(client, source.name) == third


def test_an_empty_glob_is_a_quiet_run_and_counted_ids_are_refused(
    client: Client, make_index, key: bytes, tmp_path: Path
) -> None:
    """No files yet is not an error; a .npy without ids is, with the reason recorded."""
    index = make_index()
    source = _source(index, key, tmp_path)
    empty = run_source(client, source)
    assert (empty.files, empty.enqueued, empty.error) == (0, 0, None)
    np.save(tmp_path / "v.npy", np.ones((4, 3), np.float32))
    npy = EtlSource("npy", index.name, (str(tmp_path / "*.npy"),), key, every=60)
    refused = run_source(client, npy)
    assert refused.error is not None and "must carry its ids" in refused.error
    assert isinstance(SourceError(""), ValueError)


def test_beat_runs_a_source_on_its_interval(
    client: Client, make_index, key: bytes, tmp_path: Path
) -> None:
    """With every = 1s, beat publishes runs and the runner ingests files as they arrive."""
    index = make_index()
    folder = tmp_path / "drop"
    folder.mkdir()
    _jsonl(folder / "a.jsonl", range(0, 20))
    source = _source(index, key, folder, every=1.0)
    scheduler = Scheduler(client, [source], state_dir=tmp_path / "beat").start()
    try:
        deadline = time.monotonic() + 30
        while index.count() < 20:
            assert time.monotonic() < deadline, "the first file was not ingested"
            time.sleep(0.2)
        _jsonl(folder / "b.jsonl", range(20, 30))
        while index.count() < 30:
            assert time.monotonic() < deadline, "the file that arrived later was not ingested"
            time.sleep(0.2)
        assert scheduler.alive  # what `vecq schedule` touches its liveness file on
    finally:
        scheduler.stop()
    assert not scheduler.alive
    assert scheduler.runs >= 2
    record = last_run(client, source.name)
    assert record is not None and record.error is None


def test_columns_and_mirror_guard_in_the_config(
    client: Client, make_index, key: bytes, tmp_path: Path
) -> None:
    """[sources.columns] maps fields as the ingest flags do; max_delete_fraction guards a
    mirror run, whose refusal is recorded and deletes nothing."""
    path = tmp_path / "etl.toml"
    base = (
        f'[[sources]]\nname = "m"\nindex = "i"\npaths = ["{tmp_path}/in/*.jsonl"]\n'
        'key_env = "K"\nevery = "5m"\n'
    )
    for extra, message in {
        "max_delete_fraction = 2\n": r"max_delete_fraction must be a number in 0..1",
        "[sources.columns]\nids = 'x'\n": r"columns: unknown field\(s\) ids",
        "[sources.columns]\nsparse = { b = ['i'] }\n": r"columns.sparse must map names",
        "[sources.columns]\nvectors = { t = 3 }\n": r"columns.vectors must map",
    }.items():
        path.write_text(base + extra)
        with pytest.raises(ValueError, match=message):
            load_config(path, env={"K": "00" * 32})
    columns = '[sources.columns]\nid = "doc"\nvector = "emb"\nmetadata = ["lang"]\n'
    path.write_text(base + 'mode = "mirror"\nmax_delete_fraction = 0.2\n' + columns)
    (parsed,) = load_config(path, env={"K": key.hex()})
    assert (parsed.mapping.id, parsed.mapping.vector, parsed.max_delete_fraction) == (
        "doc",
        "emb",
        0.2,
    )
    index = make_index()
    folder = tmp_path / "in"
    folder.mkdir()
    rows = [{"doc": i, "emb": [float(i), 1.0, 2.0], "lang": "en", "x": 1} for i in range(10)]
    (folder / "a.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    source = EtlSource(
        "m",
        index.name,
        (str(folder / "*.jsonl"),),
        key,
        every=60,
        mode="mirror",
        mapping=parsed.mapping,
        max_delete_fraction=0.2,
    )
    first = run_source(client, source)
    assert (first.enqueued, first.deleted, first.error) == (10, 0, None)
    assert index.get([3])[0]["metadata"] == {"lang": "en"}
    (folder / "a.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows[:5]))
    shrunk = run_source(client, source)  # 5 of 10 would go: above 0.2
    assert shrunk.error is not None and "it would delete 5 of the 10 points" in shrunk.error
    assert index.count() == 10
    (folder / "a.jsonl").unlink()
    gone = run_source(client, source)  # nothing arrived: never a reason to empty the index
    assert gone.error is not None and "holds no records" in gone.error
    assert index.count() == 10


def test_a_postgresql_schedule_reads_past_its_own_watermark_and_mirrors_the_table(
    client: Client, make_index, key: bytes, tmp_path: Path, postgres_url: str, pg_table: str
) -> None:
    """Each schedule keeps its own watermark: a second schedule over the same table reads
    everything once; a run reads only rows whose since column moved; mirror deletes the
    ids of rows that vanished."""
    psycopg = pytest.importorskip("psycopg")
    path = tmp_path / "etl.toml"
    base = (
        f'[[sources]]\nname = "pg"\nindex = "i"\npaths = ["{postgres_url}"]\n'
        'key_env = "K"\nevery = "5m"\n'
    )
    for extra, message in {
        "": "exactly one of table or query",
        'table = "a"\nquery = "SELECT 1"\n': "exactly one of table or query",
        'table = ""\n': r"sources\[0\]\.table must be a non-empty string",
    }.items():
        path.write_text(base + extra)
        with pytest.raises(ValueError, match=message):
            load_config(path, env={"K": "00" * 32})
    path.write_text(base.replace(postgres_url, "/data/*.jsonl") + 'since_column = "t"\n')
    with pytest.raises(ValueError, match="need a postgresql:// path"):
        load_config(path, env={"K": "00" * 32})
    columns = '[sources.columns]\nvector = "emb"\nmetadata = []\n'
    path.write_text(
        base + f'table = "{pg_table}"\nsince_column = "t"\nmode = "mirror"\n'
        "max_delete_fraction = 0.5\n" + columns
    )
    (parsed,) = load_config(path, env={"K": key.hex()})
    assert (parsed.table, parsed.since_column, parsed.mapping.vector) == (pg_table, "t", "emb")
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(f"CREATE TABLE {pg_table} (id int PRIMARY KEY, emb real[], t int)")
        conn.execute(
            f"INSERT INTO {pg_table} SELECT g, ARRAY[g, 1, 2], 1 FROM generate_series(0, 9) g"
        )
    index = make_index()
    source = EtlSource(
        "pg-a",
        index.name,
        (postgres_url,),
        key,
        every=60,
        mode="mirror",
        mapping=parsed.mapping,
        max_delete_fraction=0.5,
        table=pg_table,
        since_column="t",
    )
    first = run_source(client, source)
    assert (first.enqueued, first.deleted, first.error) == (10, 0, None)
    assert run_source(client, source).enqueued == 0
    other = run_source(client, dataclasses.replace(source, name="pg-b"))
    assert other.enqueued == 10  # its own watermark
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(f"UPDATE {pg_table} SET emb = ARRAY[7, 7, 7], t = 2 WHERE id = 4")
        conn.execute(f"DELETE FROM {pg_table} WHERE id IN (8, 9)")
    changed = run_source(client, source)
    assert (changed.enqueued, changed.skipped, changed.deleted) == (1, 10, 2)
    assert index.count() == 8 and index.get([4])[0]["vector"] == [7.0, 7.0, 7.0]


def test_an_unreachable_https_source_is_a_failed_run(
    client: Client, make_index: Callable[..., Index], key: bytes
) -> None:
    """A schedule over https whose server does not answer records a failed run naming the
    host, not a quiet run that found "0 files"."""
    index = make_index()
    source = EtlSource(
        f"etl-{uuid.uuid4().hex[:8]}",
        index.name,
        ("https://127.0.0.1:1/dumps/*.jsonl",),
        key,
        every=60.0,
    )
    record = run_source(client, source)
    assert record.error is not None and "cannot reach 127.0.0.1:1" in record.error
    assert record.files == 0
