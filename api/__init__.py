"""vecq's producer library: ``from api import Client``.

The names below are imported on first use (PEP 562), so a command that never opens a client
(``vecq --help``, ``vecq --version``) does not pay for Celery, redis-py and the engines.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # what type checkers and editors see; at run time, see __getattr__
    from api.client import Client as Client
    from api.index import Index as Index
    from api.jobs import (
        Progress as Progress,
    )
    from api.jobs import (
        UpsertJob as UpsertJob,
    )
    from shared.crypto import generate_key as generate_key
    from shared.errors import (
        BackpressureTimeout as BackpressureTimeout,
    )
    from shared.errors import (
        BrokerUnavailable as BrokerUnavailable,
    )
    from shared.errors import (
        CorruptBlobError as CorruptBlobError,
    )
    from shared.errors import (
        DimensionMismatchError as DimensionMismatchError,
    )
    from shared.errors import (
        EnqueueInterrupted as EnqueueInterrupted,
    )
    from shared.errors import (
        Failure as Failure,
    )
    from shared.errors import (
        IndexExistsError as IndexExistsError,
    )
    from shared.errors import (
        IndexNotLoadedError as IndexNotLoadedError,
    )
    from shared.errors import (
        InvalidIndexError as InvalidIndexError,
    )
    from shared.errors import (
        InvalidInputError as InvalidInputError,
    )
    from shared.errors import (
        InvalidKeyError as InvalidKeyError,
    )
    from shared.errors import (
        InvalidVectorError as InvalidVectorError,
    )
    from shared.errors import (
        MirrorRefused as MirrorRefused,
    )
    from shared.errors import (
        PointsNotFoundError as PointsNotFoundError,
    )
    from shared.errors import (
        ServiceError as ServiceError,
    )
    from shared.errors import (
        SourceError as SourceError,
    )
    from shared.errors import (
        StorageLocked as StorageLocked,
    )
    from shared.errors import (
        UpsertError as UpsertError,
    )
    from shared.errors import (
        VecqError as VecqError,
    )
    from shared.errors import (
        WaitTimeout as WaitTimeout,
    )
    from shared.settings import Settings as Settings
    from shared.vector_schema import SparseSpec as SparseSpec
    from shared.vector_schema import VectorSpec as VectorSpec

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
    "MirrorRefused",
    "PointsNotFoundError",
    "Progress",
    "ServiceError",
    "Settings",
    "SourceError",
    "SparseSpec",
    "StorageLocked",
    "UpsertError",
    "UpsertJob",
    "VecqError",
    "VectorSpec",
    "WaitTimeout",
    "generate_key",
]

# The module each public name lives in.
_ERRORS_HOME = "shared.errors"
_HOME = {
    "Client": "api.client",
    "Index": "api.index",
    "Progress": "api.jobs",
    "UpsertJob": "api.jobs",
    "Settings": "shared.settings",
    "generate_key": "shared.crypto",
    "SparseSpec": "shared.vector_schema",
    "VectorSpec": "shared.vector_schema",
}


def __getattr__(name: str) -> Any:
    if name not in __all__:
        raise AttributeError(f"module 'api' has no attribute {name!r}")
    value = getattr(importlib.import_module(_HOME.get(name, _ERRORS_HOME)), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
