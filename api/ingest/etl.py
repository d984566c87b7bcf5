"""Scheduled ETL: Celery beat runs ingestion of file globs on an interval or a cron.

``vecq schedule --config etl.toml`` runs two threads in one process: Celery's beat, which
publishes a run of each configured source to the ``vecq.etl`` queue when it is due, and a
runner consuming that queue, which ingests the source with
:func:`vecq.api.ingest.backfill.ingest`. The
ingest ledger decides what is new: a file whose fingerprint (path, size, mtime) was
committed in full before is skipped without being read, a changed file is read again, and
a run cut short resumes where it stopped. Run exactly one ``vecq schedule`` per
deployment (beat must not run twice); a Redis lock per source keeps two runs of the same
source from overlapping anyway.

The config file (read by ``api/ingest/etl_config.py``)::

    [[sources]]
    name = "products"                     # names the schedule entry and its run record
    index = "products"                    # the index to load into (it must exist)
    paths = ["/data/exports/*.parquet"]   # files, folders, globs, s3://b/prefix/; none is fine
    key_file = "/run/secrets/products.key"   # or key_env = "PRODUCTS_KEY" (hex)
    every = "15m"                         # 30s, 15m, 6h, 1d ... or:
    # cron = "0 2 * * *"                  # minute hour day-of-month month day-of-week (UTC)
    # mode = "mirror"                     # after a run fully written: delete ids not in files
    # max_delete_fraction = 0.1           # mirror: refuse to delete more of the index than this
    # [sources.columns]                   # Parquet/JSON Lines/table columns (vecq ingest's flags)
    # id = "doc_id"
    # vectors = { text = "text_emb" }     # named dense or multivectors; vector = "emb": unnamed
    # sparse = { bm25 = ["bm25_idx", "bm25_val"] }
    # metadata = ["lang", "year"]
    # item = "body"

A PostgreSQL source names one URL in ``paths`` and ``table = "items"`` or ``query =
"SELECT ..."``; ``since_column = "updated_at"`` makes each run read only the rows past this
schedule's watermark (``api/ingest/sources/postgres.py``), kept in Redis per schedule name.

``mode = "mirror"`` makes each run wait until everything it enqueued is written and then
delete the index's ids that the files do not hold (``api/ingest/mirror.py``); a run with a
failure deletes nothing.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from celery import Celery
from celery.beat import EmbeddedService

from vecq.api.ingest.backfill import ingest
from vecq.api.ingest.etl_config import EtlSource
from vecq.api.ingest.mirror import delete_extras
from vecq.api.ingest.sources.files import open_sources
from vecq.shared import keys, logs
from vecq.shared.config.celery_config import celery_config
from vecq.shared.config.settings import Settings
from vecq.shared.errors import SourceError, VecqError
from vecq.shared.wire.consumer import QueueConsumer, task_argument

if TYPE_CHECKING:
    from vecq.api.client import Client

log = logging.getLogger(__name__)

# Beat wakes at least this often (so it stops promptly, and picks up short intervals).
_BEAT_MAX_SLEEP = 1.0
_POLL_SECONDS = 0.5


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
        client.redis.set(
            keys.etl_run(source.name), json.dumps(record.__dict__), ex=keys.JOB_TTL_SECONDS
        )
    return record


def _ingest(client: Client, source: EtlSource, record: RunRecord) -> None:
    try:
        files = open_sources(
            list(source.paths),
            missing_ok=True,
            mapping=source.mapping,
            table=source.table,
            query=source.query,
            since_column=source.since_column,
            scope=source.name,
        )
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
                index,
                files,
                chunk_rows=source.chunk_rows,
                max_delete_fraction=source.max_delete_fraction,
            ).deleted
    except VecqError as exc:
        record.error = str(exc)
        log.error("etl %s: run failed: %s", source.name, exc)
        return
    record.files = report.files
    record.enqueued = report.vectors
    record.skipped = report.skipped_vectors
    record.jobs = [j.job_id for j in report.jobs]
    log.info(
        "etl %s: %d file(s): enqueued %d records in %d job(s), skipped %d already "
        "committed; deleted %d",
        source.name,
        report.files,
        report.vectors,
        len(report.jobs),
        report.skipped_vectors,
        record.deleted,
    )


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
            self.app,
            keys.QUEUE_ETL,
            self._handle,
            name="vecq-etl-runner",
            most=1000,
            poll=_POLL_SECONDS,
        )
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

    @property
    def alive(self) -> bool:
        """True while beat and the runner both run."""
        return self._beat.is_alive() and not self._runner.stopping

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
