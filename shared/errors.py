"""The one error tree of vecq, shared by the producer and the workers.

    VecqError
     ├── InvalidInputError ............ (also ValueError) the caller's data is wrong
     │    ├── DimensionMismatchError .. a vector's length is not the index dimension
     │    └── InvalidVectorError ...... NaN/inf, bad id, bad item, bad metadata, bad shape
     ├── IndexNotLoadedError .......... the index was never created/loaded, or was deleted
     ├── IndexExistsError ............. create_index on a name that is taken
     ├── InvalidKeyError .............. the index_key does not match the index
     ├── UpsertError .................. some vectors could not be written; names them
     ├── WaitTimeout .................. (also TimeoutError) a job did not finish in time
     ├── BackpressureTimeout .......... enqueue stayed blocked by the in-flight limit
     ├── BrokerUnavailable ............ Redis could not be reached to enqueue
     ├── StorageLocked ................ the embedded data directory is open elsewhere
     └── CorruptBlobError ............. a batch blob failed its format or checksum check

Nothing in this tree is retried by the workers: retries are only for the transient
transport errors of Redis and Qdrant (see ``workers/retry.py``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


class VecqError(Exception):
    """Root of every error vecq raises on purpose."""


class InvalidInputError(VecqError, ValueError):
    """The data passed to vecq is malformed; nothing of the call was enqueued."""


class DimensionMismatchError(InvalidInputError):
    """A vector's length differs from the index dimension."""


class InvalidVectorError(InvalidInputError):
    """A vector, id, item or metadata value breaks a validation rule."""


class IndexNotLoadedError(VecqError):
    """The index does not exist: never created, not loaded, or deleted."""


class IndexExistsError(VecqError):
    """An index with this name already exists."""


class InvalidKeyError(VecqError):
    """The index_key given does not match the key the index was created with."""


@dataclass(frozen=True)
class Failure:
    """One failed batch of a job: the ids it held and why it failed."""

    ids: tuple[int, ...]
    reason: str
    shard: int
    seq: int


class UpsertError(VecqError):
    """Some vectors of an upsert could not be written to Qdrant."""

    def __init__(self, message: str, failures: Sequence[Failure] = ()) -> None:
        super().__init__(message)
        self.failures: tuple[Failure, ...] = tuple(failures)

    @property
    def failed_ids(self) -> list[int]:
        """Every id that was not written, in batch order."""
        return [i for f in self.failures for i in f.ids]


class WaitTimeout(VecqError, TimeoutError):
    """Waiting for a job ended before every batch was settled."""


class BackpressureTimeout(VecqError):
    """Enqueue stayed blocked longer than allowed because too many bytes are in flight."""


class BrokerUnavailable(VecqError):
    """Redis (or the Celery broker) could not be reached or refused the write."""


class StorageLocked(VecqError):
    """The embedded data directory is in use by another process."""


class CorruptBlobError(VecqError):
    """A batch blob is truncated, of an unknown version, or fails its checksum."""
