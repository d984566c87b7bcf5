"""The schedule file of ``vecq schedule``: its sources, checked field by field.

See :mod:`vecq.api.ingest.etl` for the file's format and what a run does.
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from vecq.api import defaults
from vecq.api.ingest.mapping import ColumnMap, from_flags
from vecq.api.ingest.schedule_keys import COLUMN_KEYS, SOURCE_KEYS
from vecq.shared import keys
from vecq.shared.crypto import key_from_hex, read_key_file
from vecq.shared.errors import InvalidKeyError, SourceError

_EVERY = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d)\s*$")
_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400}
# A source's ingest ledger outlives at least this many of its intervals, so a file seen by
# every run is never read twice, however long the interval.
_LEDGER_INTERVALS = 4


@dataclass(frozen=True)
class EtlSource:
    """One scheduled ingestion: a glob of files into an index, on an interval or a cron."""

    name: str
    index: str
    paths: tuple[str, ...]
    key: bytes = field(repr=False)
    every: float | None = None
    cron: str | None = None
    chunk_rows: int | None = None
    mode: str = "ingest"
    """``ingest`` (add and update), or ``mirror`` (then delete what the files do not hold)."""
    mapping: ColumnMap = field(default_factory=ColumnMap)
    max_delete_fraction: float = defaults.MAX_DELETE_FRACTION
    table: str | None = None
    """A ``postgresql://`` source (its URL is the one path): the table to read, or ..."""
    query: str | None = None
    """... the SELECT to read."""
    since_column: str | None = None
    """Read only rows past this schedule's watermark on this column (and the id)."""

    @property
    def schedule(self) -> Any:
        """The Celery schedule: a ``timedelta`` or a ``crontab``."""
        from celery.schedules import crontab  # here: `vecq schedule --help` reads this module

        if self.every is not None:
            return timedelta(seconds=self.every)
        assert self.cron is not None
        minute, hour, day, month, weekday = self.cron.split()
        return crontab(
            minute=minute, hour=hour, day_of_month=day, month_of_year=month, day_of_week=weekday
        )

    @property
    def ledger_ttl(self) -> int:
        """How long the ingest ledger of this source's files lives."""
        period = self.every if self.every is not None else 31 * 86400
        return int(max(keys.JOB_TTL_SECONDS, _LEDGER_INTERVALS * period))


def parse_every(text: str) -> float:
    """Seconds in ``30s``, ``15m``, ``6h`` or ``1d``; ``ValueError`` otherwise."""
    m = _EVERY.match(text)
    if not m or float(m[1]) <= 0:
        raise ValueError(f"every = {text!r}: use a positive number with s, m, h or d (e.g. 15m)")
    return float(m[1]) * _UNIT[m[2]]


def load_config(path: str | Path, env: dict[str, str] | None = None) -> list[EtlSource]:
    """Read a schedule file; ``ValueError`` saying which entry and field is wrong."""
    path = Path(path)
    env = dict(os.environ) if env is None else env
    try:
        data = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ValueError(f"{path}: cannot read the schedule: {exc}") from exc
    entries = data.get("sources")
    if not isinstance(entries, list) or not entries:
        raise ValueError(f"{path}: no [[sources]] entries")
    sources = [_source(path, i, e, env) for i, e in enumerate(entries)]
    names = [s.name for s in sources]
    if len(set(names)) != len(names):
        raise ValueError(f"{path}: source names must be unique, got {names}")
    return sources


def _source(path: Path, i: int, e: Any, env: dict[str, str]) -> EtlSource:
    where = f"{path}: sources[{i}]"
    if not isinstance(e, dict):
        raise ValueError(f"{where} must be a table")
    unknown = set(e) - set(SOURCE_KEYS)
    if unknown:
        raise ValueError(f"{where}: unknown field(s) {', '.join(sorted(unknown))}")
    for name in ("name", "index"):
        if not isinstance(e.get(name), str) or not e[name]:
            raise ValueError(f"{where}.{name} must be a non-empty string")
    paths = e.get("paths")
    if isinstance(paths, str):
        paths = [paths]
    if not isinstance(paths, list) or not paths or not all(isinstance(p, str) for p in paths):
        raise ValueError(f"{where}.paths must be a list of files, folders or globs")
    if ("every" in e) == ("cron" in e):
        raise ValueError(f"{where}: give exactly one of every (e.g. '15m') or cron")
    every = parse_every(str(e["every"])) if "every" in e else None
    cron = e.get("cron")
    if cron is not None and (not isinstance(cron, str) or len(cron.split()) != 5):
        raise ValueError(f"{where}.cron must have 5 fields: minute hour day month weekday")
    chunk_rows = e.get("chunk_rows")
    if chunk_rows is not None and (not isinstance(chunk_rows, int) or chunk_rows < 1):
        raise ValueError(f"{where}.chunk_rows must be a positive integer")
    source = EtlSource(
        e["name"],
        e["index"],
        tuple(paths),
        _key(where, e, env),
        every,
        cron,
        chunk_rows,
        _mode(where, e),
        _columns(where, e.get("columns")),
        _fraction(where, e),
        *_database(where, e, paths),
    )
    if cron is not None:
        try:
            source.schedule  # noqa: B018 - parse the cron now, not at the first run
        except ValueError as exc:
            raise ValueError(f"{where}.cron {cron!r}: {exc}") from None
    return source


def _columns(where: str, table: Any) -> ColumnMap:
    """A source's ``[sources.columns]`` table as a column map (the defaults if absent)."""
    if table is None:
        return ColumnMap()
    if not isinstance(table, dict):
        raise ValueError(f"{where}.columns must be a table")
    unknown = set(table) - set(COLUMN_KEYS)
    if unknown:
        raise ValueError(f"{where}.columns: unknown field(s) {', '.join(sorted(unknown))}")
    vectors, sparse = table.get("vectors", {}), table.get("sparse", {})
    metadata = table.get("metadata")
    if not isinstance(vectors, dict) or not all(isinstance(v, str) for v in vectors.values()):
        raise ValueError(f"{where}.columns.vectors must map vector names to column names")
    if not isinstance(sparse, dict) or not all(
        isinstance(v, list) and len(v) == 2 and all(isinstance(c, str) for c in v)
        for v in sparse.values()
    ):
        raise ValueError(f"{where}.columns.sparse must map names to [indices, values] columns")
    if metadata is not None and (
        not isinstance(metadata, list) or not all(isinstance(c, str) for c in metadata)
    ):
        raise ValueError(f"{where}.columns.metadata must be a list of column names")
    try:
        return from_flags(
            table.get("id"),
            table.get("vector"),
            [f"{n}={c}" for n, c in vectors.items()],
            [f"{n}={i},{v}" for n, (i, v) in sparse.items()],
            ",".join(metadata) if metadata is not None else None,
            table.get("item"),
        )
    except SourceError as exc:
        raise ValueError(f"{where}.columns: {exc}") from None


def _database(where: str, e: dict[str, Any], paths: list[str]) -> tuple[str | None, ...]:
    """``table``, ``query`` and ``since_column`` of a ``postgresql://`` source."""
    named = {f: e.get(f) for f in ("table", "query", "since_column")}
    for name, value in named.items():
        if value is not None and (not isinstance(value, str) or not value):
            raise ValueError(f"{where}.{name} must be a non-empty string")
    database = any(p.startswith(("postgresql://", "postgres://")) for p in paths)
    if database and (len(paths) != 1 or (named["table"] is None) == (named["query"] is None)):
        raise ValueError(
            f"{where}: a postgresql:// source is one URL in paths, with exactly "
            "one of table or query"
        )
    if not database and any(v is not None for v in named.values()):
        raise ValueError(f"{where}: table, query and since_column need a postgresql:// path")
    return named["table"], named["query"], named["since_column"]


def _fraction(where: str, e: dict[str, Any]) -> float:
    fraction = e.get("max_delete_fraction", defaults.MAX_DELETE_FRACTION)
    if isinstance(fraction, bool) or not isinstance(fraction, (int, float)):
        raise ValueError(f"{where}.max_delete_fraction must be a number in 0..1")
    if not 0 <= fraction <= 1:
        raise ValueError(f"{where}.max_delete_fraction must be a number in 0..1")
    return float(fraction)


def _mode(where: str, e: dict[str, Any]) -> str:
    mode = e.get("mode", "ingest")
    if mode not in ("ingest", "mirror"):
        raise ValueError(f"{where}.mode must be 'ingest' or 'mirror', got {mode!r}")
    return str(mode)


def _key(where: str, e: dict[str, Any], env: dict[str, str]) -> bytes:
    if ("key_file" in e) == ("key_env" in e):
        raise ValueError(f"{where}: give exactly one of key_file or key_env")
    try:
        if "key_file" in e:
            return read_key_file(e["key_file"])
        value = env.get(str(e["key_env"]))
        if not value:
            raise ValueError(f"{where}: environment variable {e['key_env']} is not set")
        return key_from_hex(value, str(e["key_env"]))
    except InvalidKeyError as exc:
        raise ValueError(f"{where}: {exc}") from None
