"""Scheduled ETL: Celery beat runs ingestion of file globs on an interval or a cron.

``vecq schedule --config etl.toml`` runs two threads in one process: Celery's beat, which
publishes a run of each configured source to the ``vecq.etl`` queue when it is due, and a
runner consuming that queue, which ingests the source with :func:`api.ingest.backfill.ingest`. The
ingest ledger decides what is new: a file whose fingerprint (path, size, mtime) was
committed in full before is skipped without being read, a changed file is read again, and
a run cut short resumes where it stopped. Run exactly one ``vecq schedule`` per
deployment (beat must not run twice); a Redis lock per source keeps two runs of the same
source from overlapping anyway.

The config file::

    [[sources]]
    name = "products"                     # names the schedule entry and its run record
    index = "products"                    # the index to load into (it must exist)
    paths = ["/data/exports/*.parquet"]   # files, folders or globs; matching nothing is fine
    key_file = "/run/secrets/products.key"   # or key_env = "PRODUCTS_KEY" (hex)
    every = "15m"                         # 30s, 15m, 6h, 1d ... or:
    # cron = "0 2 * * *"                  # minute hour day-of-month month day-of-week (UTC)
    # mode = "mirror"                     # after a run fully written: delete ids not in files
    # max_delete_fraction = 0.1           # mirror: refuse to delete more of the index than this
    # [sources.columns]                   # Parquet/JSON Lines columns (vecq ingest's flags)
    # id = "doc_id"
    # vectors = { text = "text_emb" }     # named dense or multivectors; vector = "emb": unnamed
    # sparse = { bm25 = ["bm25_idx", "bm25_val"] }
    # metadata = ["lang", "year"]
    # item = "body"

``mode = "mirror"`` makes each run wait until everything it enqueued is written and then
delete the index's ids that the files do not hold (``api/ingest/mirror.py``); a run with a
failure deletes nothing.
"""

from __future__ import annotations

import json
import logging
import os
import re
import time
import tomllib
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from celery import Celery
from celery.beat import EmbeddedService
from celery.schedules import crontab

from api.ingest.backfill import ingest
from api.ingest.files import open_sources
from api.ingest.mapping import ColumnMap, from_flags
from api.ingest.mirror import DEFAULT_MAX_DELETE_FRACTION, delete_extras
from shared import keys, logs
from shared.celeryconf import celery_config
from shared.consumer import QueueConsumer, task_argument
from shared.crypto import key_from_hex, read_key_file
from shared.errors import InvalidKeyError, SourceError, VecqError
from shared.settings import Settings

if TYPE_CHECKING:
    from api.client import Client

log = logging.getLogger(__name__)

_EVERY = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d)\s*$")
_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400}
# A source's ingest ledger outlives at least this many of its intervals, so a file seen by
# every run is never read twice, however long the interval.
_LEDGER_INTERVALS = 4
# Beat wakes at least this often (so it stops promptly, and picks up short intervals).
_BEAT_MAX_SLEEP = 1.0
_POLL_SECONDS = 0.5


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
    max_delete_fraction: float = DEFAULT_MAX_DELETE_FRACTION

    @property
    def schedule(self) -> Any:
        """The Celery schedule: a ``timedelta`` or a ``crontab``."""
        if self.every is not None:
            return timedelta(seconds=self.every)
        assert self.cron is not None
        minute, hour, day, month, weekday = self.cron.split()
        return crontab(minute=minute, hour=hour, day_of_month=day, month_of_year=month,
                       day_of_week=weekday)  # fmt: skip

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
    unknown = set(e) - {"name", "index", "paths", "key_file", "key_env", "every", "cron",
                        "chunk_rows", "mode", "columns", "max_delete_fraction"}  # fmt: skip
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
    source = EtlSource(e["name"], e["index"], tuple(paths), _key(where, e, env), every, cron,
                       chunk_rows, _mode(where, e), _columns(where, e.get("columns")),
                       _fraction(where, e))  # fmt: skip
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
    unknown = set(table) - {"id", "vector", "vectors", "sparse", "metadata", "item"}
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
    if metadata is not None and (not isinstance(metadata, list)
                                 or not all(isinstance(c, str) for c in metadata)):  # fmt: skip
        raise ValueError(f"{where}.columns.metadata must be a list of column names")
    try:
        return from_flags(table.get("id"), table.get("vector"),
                          [f"{n}={c}" for n, c in vectors.items()],
                          [f"{n}={i},{v}" for n, (i, v) in sparse.items()],
                          ",".join(metadata) if metadata is not None else None,
                          table.get("item"))  # fmt: skip
    except SourceError as exc:
        raise ValueError(f"{where}.columns: {exc}") from None


def _fraction(where: str, e: dict[str, Any]) -> float:
    fraction = e.get("max_delete_fraction", DEFAULT_MAX_DELETE_FRACTION)
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


@dataclass
class RunRecord:
    """What one run of a source did (kept in Redis; shown by ``vecq schedule --list``)."""

    source: str
    started_at: float
    finished_at: float = 0.0
    files: int = 0
    enqueued: int = 0
    skipped: int = 0
    jobs: list[str] = field(default_factory=list)
    error: str | None = None
    deleted: int = 0
    """Mirror mode: ids deleted because the files no longer hold them."""


def run_source(client: Client, source: EtlSource) -> RunRecord:
    """Ingest whatever of ``source`` is new or changed; record and return what happened."""
    record = RunRecord(source.name, time.time())
    lock = client.redis.lock(keys.etl_lock(source.name), timeout=3600, blocking=False)
    if not lock.acquire():
        record.error = "skipped: a run of this source is still in progress"
        log.info("etl %s: %s", source.name, record.error)
        return record
    try:
        with logs.scope(source=source.name, index=source.index):
            _ingest(client, source, record)
    finally:
        lock.release()
        record.finished_at = time.time()
        client.redis.set(keys.etl_run(source.name), json.dumps(record.__dict__),
                         ex=keys.JOB_TTL_SECONDS)  # fmt: skip
    return record


def _ingest(client: Client, source: EtlSource, record: RunRecord) -> None:
    try:
        files = open_sources(list(source.paths), missing_ok=True, mapping=source.mapping)
        counted = [f.path for f in files if not f.carries_ids]
        if counted:
            raise SourceError(
                f"{counted[0]}: a scheduled source must carry its ids (Parquet, JSON Lines, "
                ".npz with 'ids'); ids counted from a start would shift as files arrive"
            )
        index = client.load_index(source.index, source.key)
        report = ingest(index, files, chunk_rows=source.chunk_rows, ledger_ttl=source.ledger_ttl)
        if source.mode == "mirror":
            for job in report.jobs:  # UpsertError: a failure, and nothing is deleted
                job.wait()
            record.deleted = delete_extras(
                index, files, chunk_rows=source.chunk_rows,
                max_delete_fraction=source.max_delete_fraction,
            ).deleted  # fmt: skip
    except VecqError as exc:
        record.error = str(exc)
        log.error("etl %s: run failed: %s", source.name, exc)
        return
    record.files = report.files
    record.enqueued = report.vectors
    record.skipped = report.skipped_vectors
    record.jobs = [j.job_id for j in report.jobs]
    log.info("etl %s: %d file(s): enqueued %d records in %d job(s), skipped %d already "
             "committed; deleted %d", source.name, report.files, report.vectors,
             len(report.jobs), report.skipped_vectors, record.deleted)  # fmt: skip


def last_run(client: Client, name: str) -> RunRecord | None:
    """The record of the latest run of source ``name``, if one is kept."""
    raw = client.redis.get(keys.etl_run(name))
    return None if raw is None else RunRecord(**json.loads(raw))


def beat_app(settings: Settings, sources: list[EtlSource], state_dir: Path) -> Celery:
    """A Celery app whose beat schedule publishes a run of each source when due.

    Beat remembers when each entry last ran in ``state_dir``, so a restart does not run
    every source again at once.
    """
    app = Celery("vecq-etl", set_as_current=False)
    app.conf.update(celery_config(settings))
    app.conf.update(
        beat_schedule={
            f"vecq-etl:{s.name}": {
                "task": keys.TASK_ETL_RUN,
                "schedule": s.schedule,
                "args": [s.name],
                "options": {"queue": keys.QUEUE_ETL},
            }
            for s in sources
        },
        beat_schedule_filename=str(state_dir / "etl-beat-schedule"),
        timezone="UTC",
    )
    return app


class Scheduler:
    """Beat and the runner of its ETL messages, as two daemon threads of this process."""

    def __init__(
        self, client: Client, sources: list[EtlSource], state_dir: str | Path | None = None
    ) -> None:
        state = Path(state_dir or client.settings.data_dir)
        state.mkdir(parents=True, exist_ok=True)
        self._client = client
        self._sources = {s.name: s for s in sources}
        self.app = beat_app(client.settings, sources, state)
        self._beat = EmbeddedService(self.app, max_interval=_BEAT_MAX_SLEEP, thread=True)
        self._runner = QueueConsumer(
            self.app, keys.QUEUE_ETL, self._handle, name="vecq-etl-runner", most=1000,
            poll=_POLL_SECONDS,
        )  # fmt: skip
        self.runs = 0
        """Source runs finished so far."""

    def start(self) -> Scheduler:
        self._runner.start()
        self._beat.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self._runner.stop(timeout)
        self._beat.stop()
        self._beat.join(timeout)

    def _handle(self, taken: list[Any]) -> None:
        """Acknowledge every waiting run message, then run each named source once."""
        # Acknowledged first: a run lost to a crash is redone by the next tick, and resumes.
        for message in taken:
            message.ack()
        names: list[str] = []
        for message in taken:
            name = _source_name(message)
            if name is not None and name not in names:
                names.append(name)
        for name in names:
            source = self._sources.get(name)
            if source is None:
                log.warning("etl runner: no source named %r in this schedule; ignored", name)
                continue
            run_source(self._client, source)
            self.runs += 1


def _source_name(message: Any) -> str | None:
    try:
        name = task_argument(message)
    except ValueError as exc:
        log.warning("etl runner: %s; dropped", exc)
        return None
    return name if isinstance(name, str) else None
