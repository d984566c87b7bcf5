"""The engine of an attached process: every call answered by the embedded service.

The service's process is the only one that may open the data directory's Edge shards, so
an attached ``Client`` reads (``get``, ``count``, ``verify``'s scroll) and creates, drops
and bulk-loads indexes through it: a request in Redis, the reply in Redis (see
``shared/wire/service_protocol.py``). Writes never come here; they go through the queue as always.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import redis

from vecq.shared.engines import CollectionShape, Kind, StoredPoint, Write, scroll_pages
from vecq.shared.errors import CollectionMissing, ServiceError, VecqError
from vecq.shared.points.payload_indexes import PayloadIndex
from vecq.shared.state.registry import IndexInfo
from vecq.shared.wire import service_protocol as wire

# How long a call waits for its reply before it gives up (seconds); the service's liveness
# is checked every second meanwhile, so a dead service fails a call at once.
CALL_TIMEOUT = 120.0


class RemoteEngine:
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
        return f"<RemoteEngine {self.kind} via the vecq service pid {self._state.pid}>"

    def _call(
        self, op: str, info: IndexInfo | None, *, timeout: float | None = CALL_TIMEOUT,
        **args: Any,
    ) -> tuple[Any, list[tuple[Any, list[float], dict[str, Any]]] | None]:  # fmt: skip
        state = self._state
        reply_to = wire.send(self._r, op, info, **args)
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            taken = self._r.blpop([reply_to], timeout=1)
            if taken is not None:
                return wire.parse_reply(taken[1])  # type: ignore[arg-type]  # bytes replies
            if not state.alive():
                raise ServiceError(
                    f"the vecq service (pid {state.pid}) stopped before answering {op!r}; it is "
                    "started again by this client, or by the next command: try again"
                )
            if deadline is not None and time.monotonic() > deadline:
                raise ServiceError(
                    f"the vecq service (pid {state.pid}) did not answer {op!r} within {timeout:g} s"
                )

    def create(self, info: IndexInfo, *, indexing: bool = True) -> None:
        self._call("create", info, indexing=indexing)

    def ensure(self, info: IndexInfo) -> None:
        self._call("ensure", info)

    def write(self, info: IndexInfo, request: Write) -> None:
        raise VecqError("an attached client writes through the queue, not to the engine")

    def delete(self, info: IndexInfo, ids: Sequence[int | str], below: int) -> None:
        raise VecqError("an attached client deletes through the queue, not in the engine")

    def set_payload(
        self, info: IndexInfo, ids: Sequence[int | str], payload: dict[str, Any], below: int
    ) -> None:
        raise VecqError("an attached client updates through the queue, not in the engine")

    def request_points(self, dimension: int, payload_bytes: int) -> int:
        raise VecqError("the service's worker sizes its own requests")

    def is_missing(self, exc: BaseException) -> bool:
        return isinstance(exc, CollectionMissing)

    def retrieve(
        self, info: IndexInfo, ids: Sequence[int | str], *, vectors: bool = True
    ) -> list[StoredPoint]:
        if not ids:
            return []
        _, points = self._call("retrieve", info, ids=list(ids), vectors=vectors)
        return [StoredPoint(*p) for p in points or []]

    def count(self, info: IndexInfo) -> int:
        result, _ = self._call("count", info)
        return int(result)

    def scroll(
        self, info: IndexInfo, page: int = 1000, *, vectors: bool = True
    ) -> Iterator[StoredPoint]:
        yield from scroll_pages(self, info, page, vectors=vectors)

    def scroll_page(
        self, info: IndexInfo, offset: Any, page: int = 1000, *, vectors: bool = True
    ) -> tuple[list[StoredPoint], Any]:
        following, points = self._call(
            "scroll_page", info, offset=offset, page=page, vectors=vectors
        )
        return [StoredPoint(*p) for p in points or []], following

    def create_payload_index(self, info: IndexInfo, index: PayloadIndex) -> None:
        self._call("create_payload_index", info, index=index.to_dict())

    def payload_indexes(self, info: IndexInfo) -> list[PayloadIndex]:
        result, _ = self._call("payload_indexes", info)
        return [PayloadIndex(**found) for found in result]

    def drop(self, info: IndexInfo) -> None:
        self._call("drop", info)

    def pause_indexing(self, info: IndexInfo) -> int:
        result, _ = self._call("pause_indexing", info)
        return int(result)

    def resume_indexing(self, info: IndexInfo, saved: int, deadline: float | None) -> None:
        seconds = None if deadline is None else max(0.0, deadline - time.monotonic())
        # Building the graph can take long: wait as long as the service lives.
        self._call("resume_indexing", info, timeout=None, saved=saved, seconds=seconds)

    def backlog(self, info: IndexInfo) -> tuple[int, str] | None:
        result, _ = self._call("backlog", info)
        return None if result is None else (int(result[0]), str(result[1]))

    def describe_collection(self, collection: str) -> CollectionShape:
        raise VecqError(_NO_ATTACH)

    def prepare_attached(self, info: IndexInfo) -> None:
        raise VecqError(_NO_ATTACH)

    def ping(self) -> None:
        self._call("ping", None, timeout=30)

    def close(self) -> None:
        """Nothing to release: the connection is the client's."""


# Embedded indexes are Edge shards vecq creates; an existing collection lives on a server.
_NO_ATTACH = (
    "attach_index writes into an existing collection of a Qdrant server (VECQ_QDRANT_URL) or "
    "local mode (VECQ_QDRANT_PATH); an embedded index is created by vecq: create_index"
)
