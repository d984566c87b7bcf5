"""Bulk mode: HNSW indexing off while a backfill loads, restored and waited for at the end.

Building the HNSW graph while points stream in costs a Qdrant server most of its write
throughput; a backfill is faster loaded flat and indexed once. Inside ``with index.bulk():``
every shard collection has ``indexing_threshold: 0`` (no indexing). On leaving, vecq waits
for the index's in-flight batches to settle, puts each collection's own threshold back and
waits until Qdrant reports it green (optimised). The original thresholds are kept in Redis,
so a block cut short by a crash is finished by the next ``bulk()`` on the index.

Local mode has no HNSW index at all: the calls are accepted and change nothing.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from shared import keys, ledger
from shared.errors import VecqError
from shared.qdrant import create_collection
from shared.replies import text

if TYPE_CHECKING:
    from api.index import Index

log = logging.getLogger(__name__)

# Qdrant's indexing_threshold (KB of vectors in a segment before it is indexed); 0 turns
# indexing off. A collection that reports none gets this back (Qdrant's default).
DEFAULT_INDEXING_THRESHOLD = 20_000
# Pause between two looks at the in-flight counter or a collection's status.
_POLL_SECONDS = 0.2


@contextlib.contextmanager
def bulk_mode(index: Index, timeout: float | None = None) -> Iterator[Index]:
    """Turn indexing off for ``index``'s collections; on exit drain, restore and wait green."""
    client = index.client
    r, qdrant, info = client.redis, client.qdrant, index.info
    saved_key = keys.bulk(info.name)
    saved = {text(k): int(v) for k, v in r.hgetall(saved_key).items()}
    for shard, name in enumerate(info.collections()):
        threshold = _threshold_before(qdrant, info, name, client.settings.local_qdrant)
        if name not in saved:  # else an earlier block was cut short: its values are the truth
            saved[name] = threshold
            r.hset(saved_key, name, saved[name])  # before switching off: a crash can undo it
        _set_threshold(qdrant, name, 0)
        log.info("bulk mode: indexing off for %s (shard %d)", name, shard)
    deadline = None if timeout is None else time.monotonic() + timeout
    failed = True
    try:
        yield index
        failed = False
    finally:
        if not failed:
            _drain(r, info.name, deadline)
        for name, threshold in saved.items():
            _set_threshold(qdrant, name, threshold)
        r.delete(saved_key)
        if not failed:
            for name in saved:
                _wait_green(qdrant, name, deadline)
            log.info("bulk mode: %s indexed", info.name)


def _threshold_before(qdrant: Any, info: Any, name: str, local: bool) -> int:
    """The collection's own threshold, creating the collection (indexing off) if it is new."""
    if not qdrant.collection_exists(name):
        with contextlib.suppress(Exception):  # a worker may create it at the same moment
            create_collection(qdrant, info, name, local=local, indexing_threshold=0)
    config = qdrant.get_collection(name).config.optimizer_config
    threshold = getattr(config, "indexing_threshold", None)
    return int(threshold) if threshold else DEFAULT_INDEXING_THRESHOLD


def _set_threshold(qdrant: Any, name: str, threshold: int) -> None:
    from qdrant_client import models

    qdrant.update_collection(
        name, optimizers_config=models.OptimizersConfigDiff(indexing_threshold=threshold)
    )


def _drain(r: Any, index: str, deadline: float | None) -> None:
    while ledger.inflight(r, index) > 0:
        if deadline is not None and time.monotonic() > deadline:
            raise VecqError(
                f"bulk mode: index {index!r} still has batches in flight at the timeout; "
                "indexing is restored, but the load is not finished (are workers running?)"
            )
        time.sleep(_POLL_SECONDS)


def _wait_green(qdrant: Any, name: str, deadline: float | None) -> None:
    from qdrant_client import models

    while qdrant.get_collection(name).status != models.CollectionStatus.GREEN:
        if deadline is not None and time.monotonic() > deadline:
            raise VecqError(f"bulk mode: collection {name} is still being indexed at the timeout")
        time.sleep(_POLL_SECONDS)
