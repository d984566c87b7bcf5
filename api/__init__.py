"""vecq's producer library: ``from api import Client``."""

from api.client import Client
from api.index import Index
from api.jobs import Progress, UpsertJob
from shared.crypto import generate_key
from shared.errors import (
    BackpressureTimeout,
    BrokerUnavailable,
    CorruptBlobError,
    DimensionMismatchError,
    EnqueueInterrupted,
    Failure,
    IndexExistsError,
    IndexNotLoadedError,
    InvalidIndexError,
    InvalidInputError,
    InvalidKeyError,
    InvalidVectorError,
    SourceError,
    StorageLocked,
    UpsertError,
    VecqError,
    WaitTimeout,
)
from shared.settings import Settings

__all__ = [
    "BackpressureTimeout",
    "BrokerUnavailable",
    "Client",
    "CorruptBlobError",
    "DimensionMismatchError",
    "EnqueueInterrupted",
    "Failure",
    "Index",
    "IndexExistsError",
    "IndexNotLoadedError",
    "InvalidIndexError",
    "InvalidInputError",
    "InvalidKeyError",
    "InvalidVectorError",
    "Progress",
    "Settings",
    "SourceError",
    "StorageLocked",
    "UpsertError",
    "UpsertJob",
    "VecqError",
    "WaitTimeout",
    "generate_key",
]
