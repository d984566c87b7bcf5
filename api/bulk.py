"""Bulk mode: HNSW indexing off while a backfill loads, built once and waited for at the end.

Building the HNSW graph while points stream in costs a Qdrant server most of its write
throughput; a backfill is faster loaded flat and indexed once. Inside ``with index.bulk():``
the index's collection does not index (a server's ``indexing_threshold: 0``; Qdrant Edge
indexes only when told to). On leaving, vecq waits for the index's in-flight batches to
settle, restores indexing and waits until it is built (a server reports the collection
green; Edge runs ``optimize()``). The threshold to restore is kept in Redis, so a block cut
short by a crash is finished by the next ``bulk()`` on the index.

Local mode has no HNSW index at all: the calls are accepted and change nothing.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

from vecq.shared import keys
from vecq.shared.errors import VecqError
from vecq.shared.state import job_state

if TYPE_CHECKING:
    from vecq.api.index import Index

log = logging.getLogger(__name__)

# Pause between two looks at the in-flight counter.
_POLL_SECONDS = 0.2
# The field of the bulk-mode hash holding the threshold to restore.
_SAVED = "indexing_threshold"


@contextlib.contextmanager
def bulk_mode(index: Index, timeout: float | None = None) -> Iterator[Index]:
    """Turn indexing off for ``index``; on exit drain, restore indexing and wait until built."""
    session = index.session
    r, engine, info = session.redis, session.engine, index.info
    saved_key = keys.bulk(info.name)
    threshold = engine.pause_indexing(info)
    # An earlier block cut short saved the collection's own value: that one is the truth.
    r.hsetnx(saved_key, _SAVED, threshold)
    saved = int(r.hget(saved_key, _SAVED) or threshold)
    log.info("bulk mode: indexing off for %s", info.name)
    deadline = None if timeout is None else time.monotonic() + timeout
    failed = True
    try:
        yield index
        failed = False
    finally:
        if not failed:
            _drain(r, info.name, deadline)
        try:
            left = None if failed or deadline is None else max(0.0, deadline - time.monotonic())
            engine.resume_indexing(info, saved, left)
        except TimeoutError as exc:
            raise VecqError(f"bulk mode: {exc} at the timeout") from exc
        finally:
            r.delete(saved_key)
        log.info("bulk mode: %s indexed", info.name)


def _drain(r: object, index: str, deadline: float | None) -> None:
    while job_state.inflight(r, index) > 0:  # type: ignore[arg-type]  # a redis.Redis
        if deadline is not None and time.monotonic() > deadline:
            raise VecqError(
                f"bulk mode: index {index!r} still has batches in flight at the timeout; "
                "indexing is restored, but the load is not finished (are workers running?)"
            )
        time.sleep(_POLL_SECONDS)
