"""``Client``: the entry point of the producer library."""

from __future__ import annotations

import dataclasses
import logging
from types import TracebackType
from typing import Any

import redis

from api import reader
from api.embedded_redis import EmbeddedRedis
from api.index import Index
from api.publisher import CeleryPublisher, Publisher
from shared import crypto, keys, registry
from shared.errors import BrokerUnavailable, StorageLocked, VecqError
from shared.qdrant import open_qdrant
from shared.settings import Settings, redact_url

log = logging.getLogger(__name__)


class Client:
    """Connects to Redis, the broker and Qdrant; creates, loads and deletes indexes.

    ``Client()`` with no URLs (and no ``VECQ_REDIS_URL``) runs embedded: a private Redis
    server and Qdrant local mode under ``./.vecq`` (or ``VECQ_DATA_DIR``), with a worker in
    this process. With ``redis_url`` (and usually ``qdrant_url``) it is a producer only:
    run workers with ``vecq worker``. Any other setting of :class:`Settings` may be passed
    as a keyword; ``worker=True`` starts an in-process worker in any mode.
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
        self._qdrant: Any | None = None
        self._worker: Any | None = None
        self._redis: redis.Redis | None = None
        self._publisher: Publisher | None = None
        try:
            self._connect(start_worker=worker if worker is not None else self.embedded)
        except BaseException:
            self.close()
            raise

    def _connect(self, *, start_worker: bool) -> None:
        settings = self.settings
        if self.embedded:
            self._embedded_redis = EmbeddedRedis(settings.data_dir)
            settings = self.settings = dataclasses.replace(
                settings,
                redis_url=self._embedded_redis.redis_url,
                broker_url=settings.broker_url or self._embedded_redis.broker_url,
            )
        self._redis = settings.redis_client()
        self._check_redis()
        self._publisher = CeleryPublisher(settings)
        if start_worker:
            self._start_worker()

    @property
    def redis(self) -> redis.Redis:
        """The Redis connection for blobs, ledgers and the registry."""
        if self._redis is None:
            raise VecqError("this Client is closed")
        return self._redis

    @property
    def publisher(self) -> Publisher:
        """Publishes batch references to the broker."""
        if self._publisher is None:
            raise VecqError("this Client is closed")
        return self._publisher

    @property
    def worker(self) -> Any | None:
        """The worker this client runs in its own process (embedded, or ``worker=True``)."""
        return self._worker

    @property
    def celery(self) -> Any:
        """The producer's Celery app, for asking the broker (queue depths, worker pings)."""
        publisher = self.publisher
        if not isinstance(publisher, CeleryPublisher):
            raise VecqError("this Client publishes without Celery")
        return publisher.app

    def __repr__(self) -> str:
        mode = "embedded" if self.embedded else "server"
        return f"<Client {mode} redis={redact_url(self.settings.redis_url)!r}>"

    def _check_redis(self) -> None:
        try:
            self.redis.ping()
        except redis.RedisError as exc:
            raise BrokerUnavailable(
                f"cannot reach Redis at {redact_url(self.settings.redis_url)}: {exc}"
            ) from exc

    def _start_worker(self) -> None:
        # Imported here: the producer never needs worker code except to run one in-process.
        from workers.thread_worker import ThreadWorker

        self._worker = ThreadWorker(self.settings, self.qdrant).start()

    @property
    def qdrant(self) -> Any:
        """The Qdrant client used for reads (and shared with an in-process worker)."""
        if self._qdrant is None:
            try:
                self._qdrant = open_qdrant(self.settings)
            except RuntimeError as exc:  # local mode: the folder is locked by another process
                raise StorageLocked(
                    f"Qdrant storage {self.settings.resolved_qdrant_path} is in use by another "
                    f"process ({exc}); read through that process, or set VECQ_QDRANT_URL"
                ) from exc
        return self._qdrant

    @staticmethod
    def generate_key() -> bytes:
        """32 random bytes to use as an ``index_key``."""
        return crypto.generate_key()

    def create_index(
        self,
        index_name: str,
        index_key: bytes,
        dimension: int,
        shards: int = 4,
        metric: str = "cosine",
    ) -> Index:
        """Register a new index of ``dimension``-d vectors split over ``shards`` collections."""
        key = crypto.check_key_shape(index_key)
        info = registry.create(
            self.redis, index_name, dimension=dimension, shards=shards, metric=metric, key=key
        )
        return Index(self, info, key)

    def load_index(self, index_name: str, index_key: bytes) -> Index:
        """Open an existing index; raises ``InvalidKeyError`` if the key does not match."""
        key = crypto.check_key_shape(index_key)
        return Index(self, registry.load(self.redis, index_name, key), key)

    def list_indexes(self) -> list[str]:
        """Names of every index, sorted."""
        return registry.names(self.redis)

    def delete_index(self, index_name: str, index_key: bytes) -> None:
        """Delete an index: its registry entry, then its Qdrant collections."""
        key = crypto.check_key_shape(index_key)
        info = registry.load(self.redis, index_name, key)
        registry.delete(self.redis, index_name)
        self.redis.delete(keys.sequence(index_name), keys.inflight(index_name))
        reader.drop_collections(self.qdrant, info)

    def close(self) -> None:
        """Stop the in-process worker, close connections, stop the embedded Redis."""
        if self._worker is not None:
            self._worker.stop()
            self._worker = None
        if self._publisher is not None:
            self._publisher.close()
            self._publisher = None
        if self._qdrant is not None:
            self._qdrant.close()
            self._qdrant = None
        if self._redis is not None:
            self._redis.close()
            self._redis = None
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
