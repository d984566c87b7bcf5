"""``Session``: what a client and its indexes work through (Redis, the publisher, the Qdrant
engine reads go to, the settings), owned and closed by the :class:`~vecq.api.client.Client`."""

from __future__ import annotations

from collections.abc import Callable

import redis

from vecq.api.jobs import UpsertJob
from vecq.api.publisher import Publisher
from vecq.shared import keys
from vecq.shared.config.settings import Settings
from vecq.shared.engines import Engine
from vecq.shared.errors import VecqError
from vecq.shared.state import job_state


class Session:
    """The connections of one client. An :class:`~vecq.api.index.Index` holds its client's session
    (not the client), so it can be built and used without the client module."""

    def __init__(
        self,
        settings: Settings,
        r: redis.Redis,
        publisher: Publisher,
        open_engine: Callable[[Settings], Engine],
    ) -> None:
        self.settings = settings
        self._redis: redis.Redis | None = r
        self._publisher: Publisher | None = publisher
        self._open_engine = open_engine
        self._engine: Engine | None = None
        self.service_stopped: Callable[[], bool] = lambda: False
        """Whether the embedded service this client uses was stopped on purpose (``vecq down``):
        a wait then ends at once rather than at the stall timeout."""
        self.encode_ahead = True
        """Encode the next batch while one is sent (off when a worker shares the process)."""

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
    def engine(self) -> Engine:
        """The Qdrant engine reads go to, opened on first use."""
        if self._redis is None:
            raise VecqError("this Client is closed")
        if self._engine is None:
            self._engine = self._open_engine(self.settings)
        return self._engine

    def job(self, job_id: str) -> UpsertJob:
        """Reopen a job by its id (see :meth:`vecq.api.client.Client.job`)."""
        state = job_state.read(self.redis, job_id)
        if state is None:
            days = keys.JOB_TTL_SECONDS / 86400
            raise VecqError(
                f"no job {job_id!r} in Redis: never created, or expired ({days:g} days after it)"
            )
        return UpsertJob(
            self.redis,
            job_id,
            state.index,
            state.total,
            self.settings.stall_timeout,
            op=state.op,
            service_stopped=self.service_stopped,
        )

    def close(self) -> None:
        """Close the publisher, the engine and Redis (in that order)."""
        if self._publisher is not None:
            self._publisher.close()
            self._publisher = None
        if self._engine is not None:
            self._engine.close()
            self._engine = None
        if self._redis is not None:
            self._redis.close()
            self._redis = None
