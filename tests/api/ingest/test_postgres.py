"""PostgreSQL as a source, on a real PostgreSQL: vector column types, mapping, resume by key,
the since-column watermark, errors, dry run and mirror."""

from __future__ import annotations

import struct
import uuid
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from vecq import Client, Index, SparseSpec, VectorSpec
from vecq.api.ingest.backfill import ingest
from vecq.api.ingest.dryrun import dry_run
from vecq.api.ingest.mapping import ColumnMap, from_flags
from vecq.api.ingest.mirror import delete_extras
from vecq.api.ingest.sources.files import open_sources
from vecq.api.ingest.sources.pg_values import pgvector_values
from vecq.api.ingest.sources.postgres import PostgresSource
from vecq.api.ingest.verify import verify
from vecq.shared.errors import SourceError, SourceUnreachable
from vecq.shared.redaction import redact

psycopg = pytest.importorskip("psycopg")


def sql(url: str, statement: str, params: Any = None) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(statement, params)


def table_of(url: str, name: str, n: int, dim: int = 4, start: int = 0) -> np.ndarray:
    """``name``: id, a real[] embedding, metadata columns of several types."""
    vectors = np.random.default_rng(n).standard_normal((n, dim)).astype(np.float32)
    sql(
        url,
        f"CREATE TABLE IF NOT EXISTS {name} (id bigint PRIMARY KEY, embedding real[], "
        "lang text, year int, price numeric, tags jsonb, seen timestamptz, ref uuid, "
        "updated_at timestamptz NOT NULL DEFAULT '2026-01-01T00:00:00Z')",
    )
    with psycopg.connect(url) as conn, conn.cursor() as cur:
        cur.executemany(
            f"INSERT INTO {name} (id, embedding, lang, year, price, tags, seen, ref) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
            [
                (
                    start + i,
                    vectors[i].tolist(),
                    "en" if i % 2 else None,
                    2000 + i,
                    "1.25",
                    psycopg.types.json.Jsonb({"k": [i]}),
                    "2026-11-05T10:00:00Z",
                    uuid.UUID(int=i),
                )
                for i in range(n)
            ],
        )
    return vectors


def load(index: Index, sources: list[Any], **kwargs: Any) -> Any:
    report = ingest(index, sources, **kwargs)
    for job in report.jobs + report.earlier_jobs:
        job.wait(60)
    return report


def source(url: str, name: str, **kwargs: Any) -> PostgresSource:
    mapping = kwargs.pop("mapping", from_flags(vector_column="embedding"))
    return PostgresSource(url, table=kwargs.pop("table", name), mapping=mapping, **kwargs)


def test_a_table_round_trips_vectors_ids_and_metadata(
    make_index: Callable[..., Index], postgres_url: str, pg_table: str
) -> None:
    vectors = table_of(postgres_url, pg_table, 50)
    index = make_index(dimension=4)
    report = load(index, [source(postgres_url, pg_table)], chunk_rows=16)
    assert report.vectors == 50 and report.chunks == 4
    got = {p["id"]: p for p in index.get(list(range(50)))}
    np.testing.assert_array_equal([got[i]["vector"] for i in range(50)], vectors)
    assert got[3]["metadata"] == {
        "lang": "en",
        "year": 2003,
        "price": 1.25,
        "tags": {"k": [3]},
        "seen": "2026-11-05T10:00:00Z",
        "ref": str(uuid.UUID(int=3)),
        "updated_at": "2026-01-01T00:00:00Z",
    }
    assert "lang" not in got[2]["metadata"]  # a NULL is left out
    assert verify(index, [source(postgres_url, pg_table)], chunk_rows=16).matching == 50


@pytest.mark.parametrize(
    "column",
    [
        "embedding::float8[] AS v",
        "embedding::text AS v",
        "v32 AS v",
        "'[' || array_to_string(embedding, ',') || ']' AS v",
    ],
    ids=["float8[]", "array-text", "bytea", "pgvector-text"],
)
def test_float8_bytea_and_text_vectors_from_a_query(
    make_index: Callable[..., Index], postgres_url: str, pg_table: str, column: str
) -> None:
    """--query: any SELECT; float8[], the text forms (pgvector's `[1,2]` included) and
    bytea of float32 little-endian values all give the same vectors."""
    vectors = table_of(postgres_url, pg_table, 20)
    sql(postgres_url, f"ALTER TABLE {pg_table} ADD COLUMN v32 bytea")
    with psycopg.connect(postgres_url) as conn:
        for i, row in enumerate(vectors):
            conn.execute(f"UPDATE {pg_table} SET v32 = %s WHERE id = %s", (row.tobytes(), i))
    index = make_index(dimension=4)
    query = f"SELECT id, {column}, year FROM {pg_table} WHERE id < 15;\n"  # as typed in psql
    read = PostgresSource(postgres_url, query=query, mapping=from_flags(vector_column="v"))
    assert load(index, [read], chunk_rows=4).vectors == 15
    got = index.get(list(range(20)))
    assert len(got) == 15
    np.testing.assert_allclose([p["vector"] for p in got], vectors[:15], rtol=1e-6)
    assert got[0]["metadata"] == {"year": 2000}


def test_named_dense_multi_and_sparse_vectors(
    client: Client, key: bytes, postgres_url: str, pg_table: str
) -> None:
    sql(
        postgres_url,
        f"CREATE TABLE {pg_table} (doc text PRIMARY KEY, emb real[], "
        "tokens real[][], bm_i int[], bm_v real[], body bytea)",
    )
    sql(
        postgres_url,
        f"INSERT INTO {pg_table} SELECT 'd' || g, ARRAY[g, 1, 2]::real[], "
        "CASE WHEN g % 3 = 0 THEN NULL ELSE ARRAY[[g, 0], [1, g]]::real[][] END, "
        "ARRAY[g, g + 100], ARRAY[0.5, g]::real[], convert_to('text ' || g, "
        "'UTF8') FROM generate_series(1, 12) g",
    )
    index = client.create_index(
        f"pg-{uuid.uuid4().hex[:8]}",
        key,
        shards=2,
        vectors={"text": VectorSpec(3, "dot"), "late": VectorSpec(2, "dot", multivector=True)},
        sparse_vectors={"bm25": SparseSpec()},
    )
    mapping = from_flags("doc", None, ["text=emb", "late=tokens"], ["bm25=bm_i,bm_v"], "", "body")
    load(index, [PostgresSource(postgres_url, table=pg_table, mapping=mapping)], chunk_rows=5)
    got = {p["id"]: p for p in index.get([f"d{g}" for g in range(1, 13)])}
    assert got["d4"]["vector"] == {
        "text": [4.0, 1.0, 2.0],
        "late": [[4.0, 0.0], [1.0, 4.0]],
        "bm25": {"indices": [4, 104], "values": [0.5, 4.0]},
    }
    assert "late" not in got["d3"]["vector"]  # NULL: the point leaves the vector out
    assert got["d4"]["item"] == b"text 4" and not got["d4"]["metadata"]  # none asked for


def test_a_rerun_resumes_after_the_last_committed_key_in_any_chunk_size(
    make_index: Callable[..., Index], postgres_url: str, pg_table: str
) -> None:
    """Cut short after two chunks; the next run (another chunk size) reads only the rest."""
    table_of(postgres_url, pg_table, 100)
    index = make_index(dimension=4)
    seen: list[int] = []

    def stop_after_two(n: int) -> None:
        seen.append(n)
        if len(seen) == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        ingest(index, [source(postgres_url, pg_table)], chunk_rows=15, on_progress=stop_after_two)
    again = load(index, [source(postgres_url, pg_table)], chunk_rows=40)
    assert (again.skipped_vectors, again.vectors) == (30, 70)
    assert (again.skipped_chunks, again.chunks) == (2, 4)  # 2 of 15 rows before, 2 of 40 now
    assert index.count() == 100
    sql(postgres_url, f"INSERT INTO {pg_table} (id, embedding) VALUES (500, '{{1,2,3,4}}')")
    later = load(index, [source(postgres_url, pg_table)], chunk_rows=40)
    assert (later.skipped_vectors, later.vectors) == (100, 1)  # only the new key
    fresh = load(index, [source(postgres_url, pg_table)], chunk_rows=40, resume=False)
    assert fresh.vectors == 101  # --restart: everything again


def test_since_column_reads_only_newer_rows_and_never_skips_equal_timestamps(
    make_index: Callable[..., Index], postgres_url: str, pg_table: str
) -> None:
    """Ten rows share one timestamp; a run cut after the first chunk of 3 resumes inside
    that timestamp. Later runs read only rows whose timestamp moved past the watermark."""
    table_of(postgres_url, pg_table, 10)
    index = make_index(dimension=4)
    incremental = source(postgres_url, pg_table, since_column="updated_at")
    with pytest.raises(KeyboardInterrupt):
        ingest(
            index,
            [incremental],
            chunk_rows=3,
            on_progress=lambda n: (_ for _ in ()).throw(KeyboardInterrupt),
        )
    assert index.count() <= 3
    rest = load(index, [incremental], chunk_rows=3)
    assert (rest.skipped_vectors, rest.vectors) == (3, 7)
    assert load(index, [incremental], chunk_rows=3).vectors == 0
    sql(
        postgres_url,
        f"UPDATE {pg_table} SET updated_at = '2026-02-01T00:00:00Z', "
        "embedding = '{9,9,9,9}' WHERE id IN (2, 8)",
    )
    sql(
        postgres_url,
        f"INSERT INTO {pg_table} (id, embedding, updated_at) VALUES "
        "(11, '{1,1,1,1}', '2026-01-01T00:00:00Z')",
    )  # equal to the old mark
    sql(
        postgres_url,
        f"INSERT INTO {pg_table} (id, embedding, updated_at) VALUES "
        "(0, '{1,1,1,1}', '2026-01-01T00:00:00Z') ON CONFLICT DO NOTHING",
    )
    changed = load(index, [incremental], chunk_rows=3)
    assert changed.vectors == 3  # 11 (same timestamp, greater id), then 2 and 8
    assert index.get([2])[0]["vector"] == [9.0] * 4 and index.count() == 11


def test_errors_name_the_source_and_row_and_never_the_password(
    make_index: Callable[..., Index], postgres_url: str, pg_table: str
) -> None:
    table_of(postgres_url, pg_table, 10)
    sql(postgres_url, f"UPDATE {pg_table} SET embedding = NULL WHERE id = 6")
    index = make_index(dimension=4)
    with pytest.raises(SourceError, match=r"row 6: column 'embedding' is null"):
        ingest(index, [source(postgres_url, pg_table)], chunk_rows=4)
    sql(postgres_url, f"UPDATE {pg_table} SET embedding = '{{1,2,3,4}}' WHERE id = 6")
    fixed = load(index, [source(postgres_url, pg_table)], chunk_rows=4)
    assert (fixed.skipped_vectors, fixed.vectors) == (4, 6)  # the chunk before it was kept
    sql(postgres_url, f"UPDATE {pg_table} SET embedding = '{{1,NULL,3,4}}' WHERE id = 6")
    with pytest.raises(SourceError, match=r"row 6: column 'embedding': an array element is NULL"):
        ingest(index, [source(postgres_url, pg_table)], chunk_rows=4, resume=False)
    sql(postgres_url, f"UPDATE {pg_table} SET embedding = '{{1,2,3}}' WHERE id = 6")
    with pytest.raises(SourceError, match=r"row 6: column 'embedding' has 3 values, row 4 has 4"):
        ingest(index, [source(postgres_url, pg_table)], chunk_rows=4, resume=False)
    with pytest.raises(SourceError, match="column 'vec' is missing"):
        source(postgres_url, pg_table, mapping=from_flags(vector_column="vec"))
    with pytest.raises(SourceError, match="--table or --query"):
        PostgresSource(postgres_url)
    with pytest.raises(SourceError, match="does not exist"):
        source(postgres_url, "no_such_table")
    secret = "postgresql://vecq:s3cr3t@127.0.0.1:1/nowhere"
    with pytest.raises(SourceUnreachable, match="cannot connect") as failed:
        PostgresSource(secret, table="t")
    assert "s3cr3t" not in str(failed.value) and "vecq:***@127.0.0.1:1" in str(failed.value)
    assert redact("postgresql://u@h/db") == "postgresql://u@h/db"


def test_open_sources_reads_one_url_with_table_or_query(postgres_url: str, pg_table: str) -> None:
    table_of(postgres_url, pg_table, 3)
    mapping = ColumnMap(vector="embedding")
    (found,) = open_sources([postgres_url], mapping=mapping, table=pg_table)
    assert isinstance(found, PostgresSource) and found.total() is None
    with pytest.raises(SourceError, match="one postgresql:// URL"):
        open_sources([postgres_url, "x.npy"], table=pg_table)
    with pytest.raises(SourceError, match="one postgresql:// URL"):
        open_sources(["x.parquet"], table=pg_table)


def test_a_dry_run_counts_a_table_and_a_mirror_deletes_vanished_rows(
    make_index: Callable[..., Index], postgres_url: str, pg_table: str
) -> None:
    table_of(postgres_url, pg_table, 40)
    sql(postgres_url, f"UPDATE {pg_table} SET embedding = '{{1,2,Infinity,4}}' WHERE id = 7")
    index = make_index(dimension=4)
    checked = dry_run(index, [source(postgres_url, pg_table)], chunk_rows=16)
    assert (checked.records, checked.valid, checked.rejected) == (40, 39, 1)
    assert "row 7" in checked.errors[0] and "id 7" in checked.errors[0]
    assert index.count() == 0
    sql(postgres_url, f"UPDATE {pg_table} SET embedding = '{{1,2,3,4}}' WHERE id = 7")
    load(index, [source(postgres_url, pg_table)], chunk_rows=16)
    sql(postgres_url, f"DELETE FROM {pg_table} WHERE id IN (3, 30)")
    done = delete_extras(index, [source(postgres_url, pg_table)], chunk_rows=16)
    assert (done.source_ids, done.deleted) == (38, 2)
    assert index.count() == 38 and index.get([3, 30]) == []


def testpgvector_values_binary_values_are_read_without_the_extension() -> None:
    """pgvector's binary `vector` (dimension, unused, big-endian float32s): the parser the
    loader registers where the database has the type (this server does not have pgvector)."""
    values = np.array([0.5, -1.25, 3.0], np.float32)
    raw = struct.pack(">HH", 3, 0) + values.astype(">f4").tobytes()
    np.testing.assert_array_equal(pgvector_values(raw), values)


def _scalar(url: str, statement: str) -> Any:
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(statement).fetchone()
    return None if row is None else row[0]


def test_a_query_cannot_change_the_database(
    make_index: Callable[..., Index], postgres_url: str, pg_table: str
) -> None:
    """--query runs read-only, one statement, nothing committed: a sequence it advances, a
    second statement it smuggles (however it closes the parentheses) and a row it would
    write all stay as they were, and the error names the source."""
    table_of(postgres_url, pg_table, 5)
    seq = f"{pg_table}_s"
    sql(postgres_url, f"CREATE SEQUENCE {seq}")
    attempts = [
        f"SELECT id, embedding, setval('{seq}', 100) AS s FROM {pg_table}",
        f"SELECT id, embedding FROM {pg_table}; DROP TABLE {pg_table}",
        f"SELECT 1 AS id, ARRAY[1,2,3,4]::real[] AS embedding) AS x; DROP TABLE {pg_table}; "
        "SELECT * FROM (SELECT 1",
        f"UPDATE {pg_table} SET year = 0 RETURNING id, embedding",
    ]
    index = make_index(dimension=4)
    mapping = from_flags(vector_column="embedding")
    for attempt in attempts:
        with pytest.raises(SourceError, match=r"\(query\)"):
            load(index, [PostgresSource(postgres_url, query=attempt, mapping=mapping)])
    assert _scalar(postgres_url, f"SELECT last_value FROM {seq}") == 1
    assert _scalar(postgres_url, f"SELECT count(*) FROM {pg_table}") == 5
    assert _scalar(postgres_url, f"SELECT count(*) FROM {pg_table} WHERE year = 0") == 0
