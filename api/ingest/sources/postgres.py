"""A PostgreSQL table or query as a backfill source, read in key order and resumed by key.

``vecq ingest postgresql://user@host/db --table items`` (or ``--query "SELECT ..."``) reads
the rows ordered by the id column through a server-side cursor, ``chunk_rows`` at a time, in
binary: a ``real[]``/``float8[]`` or pgvector ``vector`` column arrives as its bytes and
becomes a NumPy row without a Python float per value (pgvector's binary form is read
directly, so its extension is never needed here); a ``bytea`` vector holds float32
little-endian values. Each chunk carries the key of its last row: once the chunk is
enqueued, the ingest records that key, and a re-run reads from the row after it.

With ``since_column`` (incremental schedules) the order and the key are the pair
``(since_column, id)``: rows come back as ``WHERE (since, id) > (watermark, last id)``, so
rows that share the watermark's timestamp but were not read yet are read, and none twice.
Rows whose ``since_column`` is NULL are never read in this mode.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from vecq.api.ingest.mapping import ColumnMap
from vecq.api.ingest.sources import Chunk, digest
from vecq.api.ingest.sources.pg_values import as_floats, dense, json_value, register_loaders
from vecq.shared.errors import SourceError, SourceUnreachable
from vecq.shared.redaction import redact

SCHEMES = ("postgresql://", "postgres://")
CONNECT_TIMEOUT = 10  # seconds
# Each statement of a read (the first look at the columns, the cursor's DECLARE, each FETCH)
# ends within this on the server: a query that hangs fails the run instead of holding it.
# The DECLARE of a large table's ORDER BY may sort for minutes; ten is ample.
STATEMENT_TIMEOUT_MS = 10 * 60 * 1000
# Every transaction of the session is read-only, and each statement bounded, from the start.
_SESSION = f"-c default_transaction_read_only=on -c statement_timeout={STATEMENT_TIMEOUT_MS}"


def is_postgres(location: str) -> bool:
    """True for a ``postgresql://`` (or ``postgres://``) URL."""
    return location.startswith(SCHEMES)


class PostgresSource:
    """The rows of ``table`` (or of ``query``) at ``url``, mapped to points by ``mapping``;
    ``scope`` (a schedule's name) gives it a resume key and watermark of its own."""

    carries_ids = True
    stdin = False

    def __init__(
        self,
        url: str,
        *,
        table: str | None = None,
        query: str | None = None,
        mapping: ColumnMap | None = None,
        since_column: str | None = None,
        scope: str | None = None,
    ) -> None:
        if (table is None) == (query is None):
            raise SourceError(f"{redact(url)}: name what to read with --table or --query")
        self.url = url
        self.table = table
        self.query = query.strip().rstrip(";").rstrip() if query is not None else None
        self.mapping = mapping or ColumnMap()
        self.since_column = since_column
        self.scope = scope
        self.name = f"{redact(url)} ({f'table {table}' if table else 'query'})"
        self.path = Path(self.name)
        self.key_columns = [since_column, self.mapping.id] if since_column else [self.mapping.id]
        with self._reading() as conn, conn.cursor() as cur:
            cur.execute(self._select(limit=0), binary=True)  # binary: one statement only
            names = [c.name for c in cur.description or ()]
        self._meta_columns = [
            c
            for c in self.mapping.check(names, self.name)
            if c != since_column or self.mapping.metadata
        ]
        if since_column is not None and since_column not in names:
            raise SourceError(
                f"{self.name}: --since-column {since_column!r} is missing (columns: {names})"
            )
        self._columns = list(
            dict.fromkeys([*self.key_columns, *self.mapping.used(), *self._meta_columns])
        )

    def fingerprint(self, chunk_rows: int) -> str:
        """What is read, not how many rows at a time: a key resumes in any chunk size."""
        what = self.table or self.query
        return digest(
            "postgresql",
            redact(self.url),
            what,
            self.since_column,
            self.mapping.key(),
            self.scope or "",
        )

    def total(self) -> int | None:
        return None  # counting would read the table once more

    def chunks(self, chunk_rows: int, after: list[str] | None = None) -> Iterator[Chunk]:
        """The rows after the key ``after`` (all rows: ``None``), ``chunk_rows`` at a time."""
        first = 0
        with self._reading() as conn:
            register_loaders(conn)
            with conn.cursor(name="vecq_ingest", binary=True) as cur:
                cur.itersize = chunk_rows
                cur.execute(self._select(after), after or None)
                at = {d.name: i for i, d in enumerate(cur.description or ())}
                number = 0
                while rows := cur.fetchmany(chunk_rows):
                    yield self._chunk(number, first, rows, at)
                    number, first = number + 1, first + len(rows)

    @contextlib.contextmanager
    def _failing(self) -> Iterator[None]:
        """The database's errors (a missing table, bad SQL, a lost connection) as a
        :class:`SourceError` naming the source; its first line says what."""
        psycopg = self._psycopg()
        try:
            yield
        except psycopg.Error as exc:
            what = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise SourceError(f"{self.name}: {what}") from None

    @contextlib.contextmanager
    def _reading(self) -> Iterator[Any]:
        """A connection for one read of the user's table or query, which cannot change the
        database: every transaction read-only (set for the session and for psycopg's own
        BEGIN), one statement per execute (the extended protocol refuses a second), each
        statement bounded by :data:`STATEMENT_TIMEOUT_MS`, and nothing ever committed: the
        transaction is rolled back however the read ends."""
        with self._failing():
            conn = self._connect()
            try:
                conn.read_only = True
                yield conn
            finally:
                with contextlib.suppress(Exception):
                    conn.rollback()
                conn.close()

    def _psycopg(self) -> Any:
        try:
            import psycopg
        except ImportError:
            raise SourceError(
                f"{self.name}: reading PostgreSQL needs psycopg: pip install 'vecq[postgres]'"
            ) from None
        return psycopg

    def _connect(self) -> Any:
        psycopg = self._psycopg()
        try:
            given = psycopg.conninfo.conninfo_to_dict(self.url).get("options") or ""
            options = f"{given} {_SESSION}".strip()
            conn = psycopg.connect(self.url, connect_timeout=CONNECT_TIMEOUT, options=options)
        except psycopg.Error as exc:
            said = " ".join(str(exc).split())  # libpq's hint is on a line of its own
            raise SourceUnreachable(f"{self.name}: cannot connect: {said}".strip()) from None
        return conn

    def _select(self, after: list[str] | None = None, limit: int | None = None) -> Any:
        from psycopg import sql

        source: Any = sql.Identifier(*(self.table or "").split("."))
        if self.query is not None:  # the user's own SQL, as they wrote it
            source = sql.SQL("({}) AS vecq_query").format(sql.SQL(self.query))
        wanted = getattr(self, "_columns", None)  # none yet: the first look at the columns
        columns = sql.SQL(", ").join(map(sql.Identifier, wanted)) if wanted else sql.SQL("*")
        query = sql.SQL("SELECT {} FROM {}").format(columns, source)
        if limit is not None:
            return query + sql.SQL(" LIMIT {}").format(limit)
        keys = sql.SQL(", ").join(map(sql.Identifier, self.key_columns))
        conditions = []
        if self.since_column:
            conditions.append(sql.SQL("{} IS NOT NULL").format(sql.Identifier(self.since_column)))
        if after is not None:
            marks = sql.SQL(", ").join(sql.Placeholder() * len(after))
            conditions.append(sql.SQL("({}) > ({})").format(keys, marks))
        if conditions:
            query += sql.SQL(" WHERE ") + sql.SQL(" AND ").join(conditions)
        return query + sql.SQL(" ORDER BY {}").format(keys)

    def _chunk(
        self, number: int, first: int, rows: list[tuple[Any, ...]], at: dict[str, int]
    ) -> Chunk:
        m, n = self.mapping, len(rows)
        ids = self._ids([row[at[m.id]] for row in rows], first)
        key = [str(rows[-1][at[c]]) for c in self.key_columns]
        metadata = None
        if self._meta_columns:
            metadata = [
                {c: json_value(row[at[c]]) for c in self._meta_columns if row[at[c]] is not None}
                or None
                for row in rows
            ]
        items = [row[at[m.item]] for row in rows] if m.item else None
        if not m.has_named:
            vectors = dense([row[at[m.vector]] for row in rows], first, self.name, m.vector)
            return Chunk(
                number, first, n, ids=ids, vectors=vectors, metadata=metadata, items=items, key=key
            )
        named: dict[str, Any] = {}
        for name, column in m.named:
            named[name] = [
                self._cell(row[at[column]], first + i, column) for i, row in enumerate(rows)
            ]
        for name, indices, values in m.sparse:
            named[name] = [
                None
                if row[at[indices]] is None and row[at[values]] is None
                else (row[at[indices]], self._cell(row[at[values]], first + i, values))
                for i, row in enumerate(rows)
            ]
        return Chunk(
            number,
            first,
            n,
            ids=ids,
            vectors=np.empty((n, 0), np.float32),
            metadata=metadata,
            named=named,
            items=items,
            key=key,
        )

    def _cell(self, value: Any, row: int, column: str) -> Any:
        if value is None:
            return None
        try:
            return as_floats(value)
        except SourceError as exc:
            raise SourceError(f"{self.name}: row {row}: column {column!r}: {exc}") from None

    def _ids(self, values: list[Any], first: int) -> npt.NDArray[Any]:
        for row, value in enumerate(values):
            if value is None:
                raise SourceError(
                    f"{self.name}: row {first + row}: column {self.mapping.id!r} is null"
                )
        if values and isinstance(values[0], uuid.UUID):
            values = [str(v) for v in values]
        return np.asarray(values)
