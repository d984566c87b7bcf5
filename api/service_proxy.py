"""The engine of an attached process: every call answered by the embedded service.

The service's process is the only one that may open the data directory's Edge shards, so
an attached ``Client`` reads (``get``, ``query``, ``count``, ``verify``'s scroll) and creates, drops
and bulk-loads indexes through it: a request in Redis, the reply in Redis (see
``shared/wire/service_protocol.py``). It is an :class:`~vecq.shared.engines.Engine` and no
more: writes never come here, they go through the queue as always.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import redis

from vecq.shared.engines import Hit, Kind, StoredPoint
from vecq.shared.errors import ServiceError
from vecq.shared.points.payload_indexes import PayloadIndex
from vecq.shared.points.query import Search
from vecq.shared.state.registry import IndexInfo
from vecq.shared.wire import service_protocol as wire

# How long a call waits for its reply before it gives up (seconds); the service's liveness
# is checked every second meanwhile, so a dead service fails a call at once.
CALL_TIMEOUT = 120.0
# A ping answers at once, or the service is not well.
PING_TIMEOUT = 30.0


class ServiceProxy:
    """:class:`~vecq.shared.engines.Engine` calls sent to the data directory's service."""

    def __init__(self, r: redis.Redis, state: Callable[[], wire.ServiceState | None]) -> None:
        self._r = r
        self._current = state
        self.kind: Kind = self._state.engine  # type: ignore[assignment]  # "edge" or "local"

    @property
    def _state(self) -> wire.ServiceState:
        state = self._current()
        if state is None:
            raise ServiceError("this client is not attached to a vecq service")
        return state

    def __repr__(self) -> str:
        return f"<ServiceProxy {self.kind} via the vecq service pid {self._state.pid}>"

    def _call(self, op: str, *, wait: float | None = CALL_TIMEOUT, **args: Any) -> Any:
        """Send engine call ``op`` and return its result, waiting at most ``wait`` s."""
        state = self._state
        try:
            reply_to = wire.send(self._r, op, **args)
        except redis.RedisError as exc:
            raise _refused(state, op, exc) from exc
        deadline = None if wait is None else time.monotonic() + wait
        while True:
            try:
                taken = self._r.blpop([reply_to], timeout=1)
            except redis.RedisError as exc:
                raise _refused(state, op, exc) from exc
            if taken is not None:
                return wire.decode_result(op, taken[1])  # type: ignore[arg-type]  # bytes
            if not state.alive():
                raise ServiceError(
                    f"the vecq service (pid {state.pid}) stopped before answering {op!r}; it is "
                    "started again by this client, or by the next command: try again"
                )
            if deadline is not None and time.monotonic() > deadline:
                raise ServiceError(
                    f"the vecq service (pid {state.pid}) did not answer {op!r} within {wait:g} s"
                )

    def create(self, info: IndexInfo, *, indexing: bool = True) -> None:
        self._call("create", info=info, indexing=indexing)

    def drop(self, info: IndexInfo) -> None:
        self._call("drop", info=info)

    def retrieve(
        self, info: IndexInfo, ids: Sequence[int | str], *, vectors: bool = True
    ) -> list[StoredPoint]:
        if not ids:
            return []
        points: list[StoredPoint] = self._call(
            "retrieve", info=info, ids=list(ids), vectors=vectors
        )
        return points

    def count(self, info: IndexInfo) -> int:
        return int(self._call("count", info=info))

    def query(self, info: IndexInfo, search: Search) -> list[Hit]:
        hits: list[Hit] = self._call("query", info=info, search=search)
        return hits

    def scroll_page(
        self, info: IndexInfo, offset: Any, page: int = 1000, *, vectors: bool = True
    ) -> tuple[list[StoredPoint], Any]:
        found: tuple[list[StoredPoint], Any] = self._call(
            "scroll_page", info=info, offset=offset, page=page, vectors=vectors
        )
        return found

    def create_payload_index(self, info: IndexInfo, index: PayloadIndex) -> None:
        self._call("create_payload_index", info=info, index=index)

    def payload_indexes(self, info: IndexInfo) -> list[PayloadIndex]:
        found: list[PayloadIndex] = self._call("payload_indexes", info=info)
        return found

    def pause_indexing(self, info: IndexInfo) -> int:
        return int(self._call("pause_indexing", info=info))

    def resume_indexing(self, info: IndexInfo, saved: int, timeout: float | None) -> None:
        # Building the graph can take long: wait as long as the service lives.
        self._call("resume_indexing", wait=None, info=info, saved=saved, timeout=timeout)

    def ping(self) -> None:
        self._call("ping", wait=PING_TIMEOUT)

    def close(self) -> None:
        """Nothing to release: the connection is the client's."""


def _refused(state: wire.ServiceState, op: str, exc: redis.RedisError) -> ServiceError:
    """The error for a call the service's Redis would not take (a full disk, a stop)."""
    hint = " (its disk is full: free some space)" if str(exc).startswith("MISCONF") else ""
    return ServiceError(
        f"the vecq service's Redis (pid {state.pid}) did not take {op!r}: {exc}{hint}"
    )
