"""vecq: distributed ingestion of vector embeddings into Qdrant.

    from vecq import Client

This is the public surface. The code lives in three sub-packages (the repository's top-level
folders): ``vecq.api`` (the producer library, the HTTP service, ingestion, the command
line), ``vecq.workers`` (the Celery workers) and ``vecq.shared`` (the contract both share).

The names below are imported on first use (PEP 562), so a command that never opens a client
(``vecq --help``, ``vecq --version``) does not pay for Celery, redis-py and the engines.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # what type checkers and editors see; at run time, see __getattr__
    from vecq.api.client import Client as Client
    from vecq.api.index import Index as Index
    from vecq.api.jobs import Progress as Progress
    from vecq.api.jobs import UpsertJob as UpsertJob
    from vecq.shared.config.settings import Settings as Settings
    from vecq.shared.crypto import generate_key as generate_key
    from vecq.shared.errors import BackpressureTimeout as BackpressureTimeout
    from vecq.shared.errors import BrokerUnavailable as BrokerUnavailable
    from vecq.shared.errors import CorruptBlobError as CorruptBlobError
    from vecq.shared.errors import DimensionMismatchError as DimensionMismatchError
    from vecq.shared.errors import EnqueueInterrupted as EnqueueInterrupted
    from vecq.shared.errors import Failure as Failure
    from vecq.shared.errors import IndexExistsError as IndexExistsError
    from vecq.shared.errors import IndexNotLoadedError as IndexNotLoadedError
    from vecq.shared.errors import InvalidIndexError as InvalidIndexError
    from vecq.shared.errors import InvalidInputError as InvalidInputError
    from vecq.shared.errors import InvalidKeyError as InvalidKeyError
    from vecq.shared.errors import InvalidQueryError as InvalidQueryError
    from vecq.shared.errors import InvalidVectorError as InvalidVectorError
    from vecq.shared.errors import MirrorRefused as MirrorRefused
    from vecq.shared.errors import PointsNotFoundError as PointsNotFoundError
    from vecq.shared.errors import ServiceError as ServiceError
    from vecq.shared.errors import SourceError as SourceError
    from vecq.shared.errors import SourceUnreachable as SourceUnreachable
    from vecq.shared.errors import StorageLocked as StorageLocked
    from vecq.shared.errors import UpsertError as UpsertError
    from vecq.shared.errors import VecqError as VecqError
    from vecq.shared.errors import WaitTimeout as WaitTimeout
    from vecq.shared.points.query import Stage as Stage
    from vecq.shared.points.vector_schema import SparseSpec as SparseSpec
    from vecq.shared.points.vector_schema import VectorSpec as VectorSpec

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
    "InvalidQueryError",
    "InvalidVectorError",
    "MirrorRefused",
    "PointsNotFoundError",
    "Progress",
    "ServiceError",
    "Settings",
    "SourceError",
    "SourceUnreachable",
    "SparseSpec",
    "Stage",
    "StorageLocked",
    "UpsertError",
    "UpsertJob",
    "VecqError",
    "VectorSpec",
    "WaitTimeout",
    "generate_key",
]

# The module each public name lives in (the errors: vecq.shared.errors).
_ERRORS_HOME = "vecq.shared.errors"
_HOME = {
    "Client": "vecq.api.client",
    "Index": "vecq.api.index",
    "Progress": "vecq.api.jobs",
    "UpsertJob": "vecq.api.jobs",
    "Settings": "vecq.shared.config.settings",
    "generate_key": "vecq.shared.crypto",
    "SparseSpec": "vecq.shared.points.vector_schema",
    "Stage": "vecq.shared.points.query",
    "VectorSpec": "vecq.shared.points.vector_schema",
}


def __getattr__(name: str) -> Any:
    if name not in __all__:
        raise AttributeError(f"module 'vecq' has no attribute {name!r}")
    value = getattr(importlib.import_module(_HOME.get(name, _ERRORS_HOME)), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
