"""``Client``: the entry point of the producer library."""

from __future__ import annotations

import contextlib
import dataclasses
import logging
from collections.abc import Callable, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any, cast

import redis

from vecq.api import defaults
from vecq.api.index import Index
from vecq.api.jobs import UpsertJob
from vecq.api.publisher import CeleryPublisher, Publisher
from vecq.api.service_proxy import ServiceProxy
from vecq.api.session import Session
from vecq.shared import crypto
from vecq.shared.config.embedded_redis import EmbeddedRedis
from vecq.shared.config.redis_client import connect
from vecq.shared.config.settings import Settings
from vecq.shared.engines import Engine, Writer, open_engine
from vecq.shared.errors import BrokerUnavailable, VecqError
from vecq.shared.points import vector_schema
from vecq.shared.points.payload_indexes import parse as payload_index_specs
from vecq.shared.points.vector_schema import SparseSpec, VectorSpec
from vecq.shared.redaction import redact_url
from vecq.shared.state import deadletters, marks, registry
from vecq.shared.wire.service_protocol import CLIENT_NAME, ServiceState

log = logging.getLogger(__name__)


class Client:
    """Connects to Redis, the broker and Qdrant; creates, loads and deletes indexes.

    ``Client()`` with no URLs (and no ``VECQ_REDIS_URL``) runs embedded: it attaches to the
    data directory's service (``./.vecq`` or ``VECQ_DATA_DIR``), starting it if none runs:
    a Redis server and a worker owning the Qdrant Edge shards, shared by every process on
    the machine (see ``api/launcher.py``). With ``redis_url`` (and usually ``qdrant_url``) it
    is a producer only: run workers with ``vecq worker``. Any other setting of
    :class:`Settings` may be passed as a keyword. ``worker=True`` starts a worker in this
    process instead, in any mode (embedded: with a private Redis, the data directory then
    closed to every other process).
    """

    def __init__(
        self,
        redis_url: str | None = None,
        qdrant_url: str | None = None,
        *,
        worker: bool | None = None,
        **options: Any,
    ) -> None:
        settings = Settings.from_env(redis_url=redis_url, qdrant_url=qdrant_url, **options)
        self.embedded = settings.embedded
        self.settings = settings
        self._embedded_redis: EmbeddedRedis | None = None
        self._worker: Any | None = None
        self._session: Session | None = None
        self.service: ServiceState | None = None
        """The embedded service this client is attached to (``None`` if it is not)."""
        self._watch: Any | None = None
        try:
            self._connect(start_worker=bool(worker))
        except BaseException:
            self.close()
            raise

    def _connect(self, *, start_worker: bool) -> None:
        settings = self.settings
        engine: Callable[[Settings], Engine] = open_engine
        if self.embedded and start_worker:
            self._embedded_redis = EmbeddedRedis(settings.data_dir, settings.redis_server)
            redis_url, broker_url = self._embedded_redis.redis_url, self._embedded_redis.broker_url
        elif self.embedded:
            from vecq.api import launcher

            self.service = state = launcher.attach(settings)
            redis_url, broker_url = state.redis_url, state.broker_url
        if self.embedded:
            settings = self.settings = dataclasses.replace(
                settings, redis_url=redis_url, broker_url=settings.broker_url or broker_url
            )
        r = connect(settings, client_name=CLIENT_NAME if self.service else None)
        if self.service is not None:
            engine = lambda _: ServiceProxy(r, lambda: self.service)  # noqa: E731 - one use
        try:
            _check_redis(r, settings)
            publisher = CeleryPublisher(settings)
        except BaseException:
            r.close()
            raise
        self._session = Session(settings, r, publisher, engine)
        if self.service is not None:
            from vecq.api import launcher

            watch = self._watch = launcher.Watch(settings, self.service, self._restarted).start()
            self._session.service_stopped = lambda: watch.stopped
        if start_worker:
            self._start_worker()

    @property
    def session(self) -> Session:
        """The connections this client and its indexes work through."""
        if self._session is None:
            raise VecqError("this Client is closed")
        return self._session

    @property
    def redis(self) -> redis.Redis:
        """The Redis connection for blobs, ledgers and the registry."""
        return self.session.redis

    @property
    def publisher(self) -> Publisher:
        """Publishes batch references to the broker."""
        return self.session.publisher

    @property
    def worker(self) -> Any | None:
        """The worker this client runs in its own process (``worker=True``)."""
        return self._worker

    @property
    def celery(self) -> Any:
        """The producer's Celery app, for asking the broker (queue depths, worker pings)."""
        publisher = self.publisher
        if not isinstance(publisher, CeleryPublisher):
            raise VecqError("this Client publishes without Celery")
        return publisher.app

    def queue_depths(self) -> dict[str, int | None]:
        """Messages waiting in each of vecq's queues: the lists' lengths when the broker is
        this client's Redis (no Celery imported), else asked of the broker through Celery."""
        from vecq.shared.state import stats

        s = self.settings
        own = dataclasses.replace(s, broker_url=None).resolved_broker_url
        if s.resolved_broker_url == own:
            return stats.list_depths(self.redis)
        return stats.queue_depths(self.celery)

    def __repr__(self) -> str:
        mode = "server" if not self.embedded else "embedded" if self.service else "in-process"
        return f"<Client {mode} redis={redact_url(self.settings.redis_url)!r}>"

    def _start_worker(self) -> None:
        # Imported here: the producer never needs worker code except to run one in-process.
        from vecq.workers.thread_worker import ThreadWorker

        # worker=True opens the engine in this process (open_engine, never the proxy): a Writer.
        writer = cast(Writer, self.engine)
        self._worker = ThreadWorker(self.settings, writer).start()
        self.session.encode_ahead = False  # the worker's thread shares the GIL

    @property
    def engine(self) -> Engine:
        """The Qdrant engine reads go to (and, embedded, the in-process worker writes to)."""
        return self.session.engine

    @staticmethod
    def generate_key() -> bytes:
        """32 random bytes to use as an ``index_key``."""
        return crypto.generate_key()

    def create_index(
        self,
        index_name: str,
        index_key: bytes | str | None = None,
        dimension: int | None = None,
        shards: int = defaults.SHARDS,
        metric: str = "cosine",
        max_write_rate: float | None = None,
        *,
        key_file: str | Path | None = None,
        payload_indexes: Mapping[str, Any] | None = None,
        vectors: Mapping[str, VectorSpec | Mapping[str, Any]] | None = None,
        sparse_vectors: Mapping[str, SparseSpec | Mapping[str, Any] | None] | None = None,
    ) -> Index:
        """Create an index: one Qdrant collection of ``dimension``-d vectors, ``shards`` shards.

        Or, instead of ``dimension``, named vectors: ``vectors={"text": VectorSpec(768,
        "cosine"), "image": VectorSpec(512, "dot"), "colbert": VectorSpec(128,
        multivector=True)}`` and/or ``sparse_vectors={"bm25": SparseSpec(modifier="idf")}``;
        each point then carries any of them by name (``metric`` is not used).

        The key is ``index_key`` (32 bytes, or the 64 hex digits of a key file) or the
        contents of ``key_file``.

        The collection is created now when this client can reach the engine (a server, or
        the embedded engine its own worker writes to); else the first write creates it.
        ``max_write_rate`` caps the fleet's writes into it in points/s (see
        :meth:`Index.set_max_write_rate`). ``payload_indexes`` maps metadata fields to the
        Qdrant index each gets: a type (``"keyword"``, ``"integer"``, ``"float"``, ``"bool"``,
        ``"geo"``, ``"text"``, ``"datetime"``, ``"uuid"``) or ``{"type": ..., "is_tenant":
        True}`` (keyword, uuid) or ``{"type": ..., "is_principal": True}`` (integer, float,
        datetime); all are checked before anything is created.
        """
        key = crypto.resolve_key(index_key, key_file)
        dimension, schema = vector_schema.index_shape(dimension, vectors, sparse_vectors)
        if max_write_rate is not None and max_write_rate < 0:
            raise ValueError(f"max_write_rate must be >= 0 points/s, not {max_write_rate}")
        fields = payload_index_specs(payload_indexes)
        reachable = self._worker is not None or self.service or not self.settings.in_process_engine
        if fields and not reachable:
            raise VecqError(
                "payload indexes are created in the engine, which another process holds here "
                "(a `vecq worker` with Edge or local mode): create the index where the engine is"
            )
        info = registry.create(
            self.redis,
            index_name,
            dimension=dimension,
            shards=shards,
            metric=metric,
            key=key,
            schema=schema,
        )
        if reachable:
            try:
                self.engine.create(info)
                for field in fields:
                    self.engine.create_payload_index(info, field)
            except BaseException:
                with contextlib.suppress(Exception):
                    self.engine.drop(info)
                registry.delete(self.redis, index_name)
                raise
        index = Index(self.session, info, key)
        if max_write_rate:
            index.set_max_write_rate(max_write_rate)
        return index

    def attach_index(
        self,
        index_name: str,
        index_key: bytes | str | None = None,
        *,
        collection: str | None = None,
        key_file: str | Path | None = None,
        shards: int = defaults.SHARDS,
        existing: str = "refuse",
    ) -> Index:
        """Write into an existing Qdrant collection (``collection``, default ``index_name``)
        with every guarantee of an index vecq created (``api/attach.py`` says how).

        The vector schema is read from Qdrant; ``_vecq_seq`` gets its payload index if it has
        none; nothing else of the collection changes (``bulk()`` restores what it turns off).
        Points written without vecq refuse the attach unless ``existing="replace"`` counts
        them older than every vecq write. ``shards`` is vecq's own split of the work. Needs a
        server or local mode; :meth:`delete_index` of an attached index keeps the collection.
        """
        from vecq.api.attach import attach

        key = crypto.resolve_key(index_key, key_file)
        return attach(self, index_name, key, collection or index_name, shards, existing)

    def load_index(
        self,
        index_name: str,
        index_key: bytes | str | None = None,
        *,
        key_file: str | Path | None = None,
    ) -> Index:
        """Open an existing index; raises ``InvalidKeyError`` if the key does not match.

        The key is ``index_key`` (32 bytes, or the 64 hex digits of a key file) or the
        contents of ``key_file``.
        """
        key = crypto.resolve_key(index_key, key_file)
        return Index(self.session, registry.load(self.redis, index_name, key), key)

    def job(self, job_id: str) -> UpsertJob:
        """Reopen a job by its id: ``EnqueueInterrupted.job_id``, ``vecq status``, the HTTP API.

        Its ``wait()``, ``progress``, ``status`` and ``failures`` read the ledger, which Redis
        keeps for seven days after the job finishes.
        """
        return self.session.job(job_id)

    def list_indexes(self) -> list[str]:
        """Names of every index, sorted."""
        return registry.names(self.redis)

    def delete_index(
        self,
        index_name: str,
        index_key: bytes | str | None = None,
        *,
        key_file: str | Path | None = None,
    ) -> None:
        """Delete an index: its Qdrant collection, then its registry entry and its dead
        letters. An attached index (:meth:`attach_index`) leaves its collection and the
        points in it.

        With Edge or local mode in another process (a separate ``vecq worker``; not the
        embedded service, which drops it), this raises
        :class:`~vecq.shared.errors.StorageLocked` and deletes nothing: delete it there.
        """
        key = crypto.resolve_key(index_key, key_file)
        info = registry.load(self.redis, index_name, key)
        if info.attached_to is None:
            self.engine.drop(info)
        registry.delete(self.redis, index_name)
        letters = deadletters.entries(self.redis, index=index_name)
        deadletters.purge(self.redis, [letter.entry_id for letter in letters])
        marks.drop(self.redis, index_name)

    def _restarted(self, state: ServiceState) -> None:
        self.service = state

    def close(self) -> None:
        """Stop the in-process worker, close connections, stop the embedded Redis."""
        if self._watch is not None:
            self._watch.stop()
            self._watch = None
        if self._worker is not None:
            self._worker.stop()
            self._worker = None
        if self._session is not None:
            self._session.close()
            self._session = None
        if self._embedded_redis is not None:
            self._embedded_redis.close()
            self._embedded_redis = None

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _check_redis(r: redis.Redis, settings: Settings) -> None:
    try:
        r.ping()
    except redis.RedisError as exc:
        raise BrokerUnavailable(
            f"cannot reach Redis at {redact_url(settings.redis_url)}: {exc}"
        ) from exc
