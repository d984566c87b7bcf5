"""The one error tree of vecq, shared by the producer and the workers.

    VecqError
     ├── InvalidInputError ............ (also ValueError) the caller's data is wrong
     │    ├── DimensionMismatchError .. a vector's length is not the index dimension
     │    ├── InvalidVectorError ...... NaN/inf, bad id, bad item, bad metadata, bad shape
     │    ├── InvalidIndexError ....... a bad index name, dimension, shard count or metric
     │    ├── InvalidQueryError ....... a search's vector, filter, limit or fusion is wrong
     │    └── SourceError ............. a backfill file or request body is malformed
     ├── SourceUnreachable ............ a source's server (PostgreSQL, S3, HTTP) did not answer
     ├── MirrorRefused ................ a mirror pass stopped before deleting: empty source
     │                                  or more deletes than max_delete_fraction
     ├── IndexNotLoadedError .......... the index was never created/loaded, or was deleted
     ├── PointsNotFoundError .......... (also KeyError) get(missing="raise"): ids not stored
     ├── IndexExistsError ............. create_index on a name that is taken
     ├── InvalidKeyError .............. the index_key does not match the index
     ├── UpsertError .................. some vectors could not be written; names them
     ├── WaitTimeout .................. (also TimeoutError) a job did not finish in time
     ├── EnqueueInterrupted ........... enqueue stopped part-way; says what was enqueued
     │    ├── BackpressureTimeout ..... enqueue stayed blocked by the in-flight limit
     │    └── BrokerUnavailable ....... Redis or the broker is down or out of memory
     ├── StorageLocked ................ the embedded data directory is open elsewhere
     ├── CollectionMissing ............ the index's collection is not in the engine (yet)
     ├── CorruptBlobError ............. a batch blob failed its format or checksum check
     └── ServiceError ................. the embedded service cannot be reached or started

Nothing in this tree is retried by the workers: retries are only for the transient
transport errors of Redis and Qdrant (see ``workers/retry.py``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt


class VecqError(Exception):
    """Root of every error vecq raises on purpose."""


class InvalidInputError(VecqError, ValueError):
    """The data passed to vecq is malformed; nothing of the call was enqueued."""

    def __init__(self, message: str, *, row: int | None = None) -> None:
        super().__init__(message)
        self.row = row
        """The offending row of the call (0-based), when one row is to blame."""


class DimensionMismatchError(InvalidInputError):
    """A vector's length differs from the index dimension."""


class InvalidVectorError(InvalidInputError):
    """A vector, id, item or metadata value breaks a validation rule."""


class InvalidIndexError(InvalidInputError):
    """An index cannot be created as asked: bad name, dimension, shard count or metric."""


class InvalidQueryError(InvalidInputError):
    """A search cannot run as asked: its vector, ``using``, filter, limit or fusion is wrong."""


class SourceError(InvalidInputError):
    """A backfill file or request body is malformed; says which file, row or line, and field."""


class SourceUnreachable(VecqError):
    """A source's server (PostgreSQL, an object store, an HTTP server) did not answer; says
    which, and the setting that names it. Not the input's fault: the same run may succeed
    later."""


class MirrorRefused(VecqError):
    """A mirror pass stopped before deleting anything: its source held no records, or it
    would delete more of the index than its ``max_delete_fraction`` allows."""


class IndexNotLoadedError(VecqError):
    """The index does not exist: never created, not loaded, or deleted."""


class PointsNotFoundError(VecqError, KeyError):
    """``get(..., missing="raise")`` asked for ids the index does not hold (in ``.ids``)."""

    def __init__(self, message: str, ids: list[int | str]) -> None:
        super().__init__(message)
        self.ids = ids

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


class IndexExistsError(VecqError):
    """An index with this name already exists."""


class InvalidKeyError(VecqError):
    """The index_key given does not match the key the index was created with."""


@dataclass(frozen=True)
class Failure:
    """One failed batch of a job: the ids it held (the caller's: integers or strings) and why."""

    ids: tuple[int | str, ...]
    reason: str
    shard: int
    seq: int


class UpsertError(VecqError):
    """Some ids of a job (an upsert, delete or metadata update) could not be applied."""

    def __init__(self, message: str, failures: Sequence[Failure] = ()) -> None:
        super().__init__(message)
        self.failures: tuple[Failure, ...] = tuple(failures)

    @property
    def failed_ids(self) -> list[int | str]:
        """Every id that was not written (or updated), in batch order."""
        return [i for f in self.failures for i in f.ids]


class WaitTimeout(VecqError, TimeoutError):
    """Waiting for a job ended before every batch was settled."""


class EnqueueInterrupted(VecqError):
    """A call stopped before every batch was enqueued; ``enqueued_ids`` were, the rest not.

    ``job_id`` names the job (``None`` if none was opened); once settled, its ledger lists
    exactly the batches that were enqueued, and they are written as usual. When Redis
    itself went away, one batch may have been stored unconfirmed: ``uncertain_ids`` (the
    job's ledger says, once Redis is back). Calling ``upsert`` again with the same data is
    safe: writes are idempotent and the newer call wins. The ids are an int64 array, or an
    object array when the call had string ids.
    """

    def __init__(
        self,
        message: str,
        *,
        job_id: str | None = None,
        enqueued_ids: Sequence[int | str] | npt.NDArray[Any] | None = None,
        uncertain_ids: Sequence[int | str] | npt.NDArray[Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.job_id = job_id
        self.enqueued_ids = _id_array(enqueued_ids)
        self.uncertain_ids = _id_array(uncertain_ids)


def _id_array(ids: Sequence[int | str] | npt.NDArray[Any] | None) -> npt.NDArray[Any]:
    if ids is None or len(ids) == 0:
        return np.empty(0, np.int64)
    if isinstance(ids, np.ndarray):
        return ids
    if any(isinstance(i, str) for i in ids):
        return np.array(list(ids), dtype=object)
    return np.asarray(ids, np.int64)


class BackpressureTimeout(EnqueueInterrupted):
    """Enqueue stayed blocked longer than allowed because too many bytes are in flight."""


class BrokerUnavailable(EnqueueInterrupted):
    """Redis (or the Celery broker) could not be reached or refused the write."""


class StorageLocked(VecqError):
    """The embedded data directory is in use by another process."""


class CollectionMissing(VecqError):
    """The index's collection (or Edge shard) does not exist in the engine."""


class CorruptBlobError(VecqError):
    """A batch blob is truncated, of an unknown version, or fails its checksum."""


class ServiceError(VecqError):
    """The embedded service of a data directory could not be started, reached or stopped, or
    runs another vecq version."""
