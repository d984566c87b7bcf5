"""PostgreSQL as a source: the read stage against ``COPY ... TO STDOUT``, and end to end.

    .venv/bin/python -m bench.postgres --n 200000 --dim 384

A table of ``n`` rows (``id bigint``, ``embedding real[]`` of ``dim`` random values) is made
once in the database at ``--url`` and kept for the next run. Side by side in alternating
rounds (the best of each):

1. ``COPY (SELECT id, embedding FROM t ORDER BY id) TO STDOUT``, text and binary, its bytes
   read by psycopg and dropped: the fastest the server hands these rows out.
2. vecq's read stage: :class:`~vecq.api.ingest.sources.postgres.PostgresSource` yielding every
   chunk (ids and a float32 array per chunk, what the ingest validates and enqueues). Goal:
   >= 0.5x the text COPY's rows/s.
3. End to end, embedded: ``ingest()`` of the table into a fresh index of a fresh data
   directory (the service started before the clock) until every row is written.
"""

from __future__ import annotations

import sys
import tempfile
import time
from typing import Any

from bench.common import arguments, verdict
from vecq import Client
from vecq.api import launcher
from vecq.api.ingest.backfill import chunk_rows_for, ingest
from vecq.api.ingest.mapping import ColumnMap
from vecq.api.ingest.sources.postgres import PostgresSource

GOAL_READ = 0.5
URL = "postgresql://postgres@127.0.0.1:5432/test"


def table(url: str, n: int, dim: int) -> str:
    """The bench table of ``n`` x ``dim``, made if it is missing or of another size."""
    import psycopg

    name = f"vecq_bench_{n}_{dim}"
    with psycopg.connect(url, autocommit=True) as conn:
        found = conn.execute("SELECT to_regclass(%s)", [name]).fetchone()
        if found and found[0] and conn.execute(f"SELECT count(*) FROM {name}").fetchone() == (n,):
            return name
        print(f"making {name} ({n:,} rows of {dim} random real values)...", flush=True)
        conn.execute(f"DROP TABLE IF EXISTS {name}")
        conn.execute(f"CREATE TABLE {name} (id bigint PRIMARY KEY, embedding real[])")
        conn.execute(
            f"INSERT INTO {name} SELECT g, (SELECT array_agg(random()::real) FROM "
            f"generate_series(1, {dim}) WHERE g > 0) FROM generate_series(1, {n}) g"
        )
        conn.execute(f"VACUUM ANALYZE {name}")
    return name


def copy_rate(url: str, name: str, n: int, binary: bool) -> tuple[float, int]:
    """Rows/s and bytes of ``COPY ... TO STDOUT`` of the rows in key order."""
    import psycopg

    form = " (FORMAT binary)" if binary else ""
    size = 0
    with psycopg.connect(url) as conn, conn.cursor() as cur:
        start = time.perf_counter()
        with cur.copy(f"COPY (SELECT id, embedding FROM {name} ORDER BY id) TO STDOUT{form}") as cp:
            for block in cp:
                size += len(block)
        seconds = time.perf_counter() - start
    return n / seconds, size


def read_rate(url: str, name: str, n: int, chunk_rows: int) -> float:
    """Rows/s of vecq's read stage: every chunk of the table as arrays."""
    source = PostgresSource(url, table=name, mapping=ColumnMap(vector="embedding"))
    start = time.perf_counter()
    rows = 0
    for chunk in source.chunks(chunk_rows):
        assert chunk.vectors is not None and chunk.vectors.dtype.kind == "f"
        rows += chunk.rows
    seconds = time.perf_counter() - start
    assert rows == n, (rows, n)
    return n / seconds


def end_to_end(url: str, name: str, n: int, dim: int) -> float:
    """Rows/s of ``ingest()`` into a fresh embedded index until everything is written."""
    with tempfile.TemporaryDirectory() as data_dir:
        try:
            with Client(data_dir=data_dir) as client:
                key = client.generate_key()
                index = client.create_index("pg", index_key=key, dimension=dim)
                source = PostgresSource(url, table=name, mapping=ColumnMap(vector="embedding"))
                start = time.perf_counter()
                report = ingest(index, [source])
                for job in report.jobs:
                    job.wait(600)
                seconds = time.perf_counter() - start
                assert index.count() == n
        finally:
            launcher.stop(data_dir)
    return n / seconds


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = arguments(__doc__, n=200_000, rounds=2)
    parser.set_defaults(dim=384)
    parser.add_argument("--url", default=URL, help=f"the database (default {URL})")
    args = parser.parse_args(argv)
    try:
        name = table(args.url, args.n, args.dim)
    except Exception as exc:  # no server, no psycopg: say so and measure nothing
        print(f"bench.postgres: skipped: cannot use {args.url}: {exc}")
        return {}
    mapping = ColumnMap(vector="embedding")
    chunk_rows = chunk_rows_for(PostgresSource(args.url, table=name, mapping=mapping), args.dim)
    best: dict[str, float] = {}
    sizes: dict[str, int] = {}
    for round_ in range(args.rounds):
        for label, measure in (
            ("copy text", lambda: copy_rate(args.url, name, args.n, False)),
            ("copy binary", lambda: copy_rate(args.url, name, args.n, True)),
            ("vecq read", lambda: (read_rate(args.url, name, args.n, chunk_rows), 0)),
            ("vecq end to end", lambda: (end_to_end(args.url, name, args.n, args.dim), 0)),
        ):
            rate, size = measure()
            best[label] = max(best.get(label, 0.0), rate)
            sizes[label] = size
            print(f"round {round_ + 1}: {label}: {rate:,.0f} rows/s", flush=True)
    ratio = best["vecq read"] / best["copy text"]
    print(
        f"\ncommand: python -m bench.postgres --n {args.n} --dim {args.dim} --rounds "
        f"{args.rounds} (chunks of {chunk_rows:,} rows; best of each)"
    )
    for label, rate in best.items():
        extra = f" ({sizes[label] / 2**20:,.0f} MiB)" if sizes.get(label) else ""
        print(f"  {label:16} {rate:>10,.0f} rows/s{extra}")
    print(
        f"  read stage vs COPY text: {ratio:.2f}x (goal >= {GOAL_READ}: "
        f"{verdict(ratio >= GOAL_READ)}); vs COPY binary: "
        f"{best['vecq read'] / best['copy binary']:.2f}x"
    )
    return {"ratio": ratio, **best}


if __name__ == "__main__":
    main(sys.argv[1:])
