"""Point ids: the caller's integers and strings, and where each sits in Qdrant.

An integer id ``0 <= id < 2**63`` is the Qdrant point id itself. A string id is stored
under a deterministic UUID, so any Qdrant client can compute where ``"doc-42"`` is::

    import uuid
    uuid.uuid5(uuid.UUID("724cdcbb-be4a-521f-9bef-3aa8ca6eab94"), "doc-42")

and the string itself is kept in the point's payload under ``_vecq_id``.

Every id also has a 63-bit *key*: the integer itself, or for a string the first 8 bytes of
its UUID (big-endian) with the top bit cleared. Keys travel in the batch blob as int64 and
feed the stable shard hash, so strings shard exactly like integers. Two different ids can
share a key only if a string's UUID prefix equals an integer id: ids are compared as
(key, string) pairs, never by key alone.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from vecq.shared.errors import InvalidVectorError

# The UUID namespace of string ids (uuid5 of the DNS name "ids.vecq"). Never change it:
# every stored string id's point id derives from it.
NAMESPACE = uuid.UUID("724cdcbb-be4a-521f-9bef-3aa8ca6eab94")
MAX_ID = 2**63  # exclusive: Qdrant point ids are unsigned 64-bit, we keep them int64-safe
# Longest string id, in UTF-8 bytes: ids are for looking up, not for carrying data.
MAX_STRING_ID_BYTES = 512
_KEY_MASK = MAX_ID - 1

Id = int | str


def point_uuid(name: str) -> str:
    """The Qdrant point id (a UUID, as text) under which the string id ``name`` is stored."""
    return str(uuid.uuid5(NAMESPACE, name))


def string_key(name: str) -> int:
    """The 63-bit key of a string id: the first 8 bytes of its UUID with the top bit cleared."""
    return int.from_bytes(uuid.uuid5(NAMESPACE, name).bytes[:8], "big") & _KEY_MASK


def check_id(value: Any, row: int) -> Id:
    """Return ``value`` as an ``int`` or ``str`` if it is a valid point id, else raise."""
    if isinstance(value, (str, np.str_)):
        return check_string_id(str(value), row)
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise InvalidVectorError(
            f"row {row}: id {value!r} is a {type(value).__name__}; ids must be integers or "
            "non-empty strings",
            row=row,
        )
    as_int = int(value)
    if not 0 <= as_int < MAX_ID:
        raise InvalidVectorError(f"row {row}: id {as_int} is outside 0 <= id < 2**63", row=row)
    return as_int


def check_string_id(value: str, row: int) -> str:
    """Return ``value`` if it is a valid string id, else raise."""
    if not value:
        raise InvalidVectorError(f"row {row}: id is an empty string", row=row)
    try:
        size = len(value.encode())
    except UnicodeEncodeError:
        raise InvalidVectorError(
            f"row {row}: id {value!r} is not valid Unicode (it holds a lone surrogate)", row=row
        ) from None
    if size > MAX_STRING_ID_BYTES:
        raise InvalidVectorError(
            f"row {row}: id of {size} bytes is longer than {MAX_STRING_ID_BYTES} (UTF-8)", row=row
        )
    return value


def split(values: Sequence[Id]) -> tuple[npt.NDArray[np.int64], list[str | None] | None]:
    """Checked ids as (keys, names): names hold each string id (``None`` for an integer), or
    are ``None`` altogether when every id is an integer."""
    n = len(values)
    if not any(isinstance(v, str) for v in values):
        return np.array(values, dtype=np.int64) if n else np.empty(0, np.int64), None
    keys = np.fromiter(
        (string_key(v) if isinstance(v, str) else v for v in values), dtype=np.int64, count=n
    )
    return keys, [v if isinstance(v, str) else None for v in values]


def check_id_array(ids: Any) -> tuple[npt.NDArray[np.int64], list[str | None] | None]:
    """Validate a 1-D id array: integers (returned as int64 keys, a view when already int64),
    or strings and integers in a ``str``/``object`` array; returns (keys, names)."""
    if isinstance(ids, (list, tuple)) and any(isinstance(v, str) for v in ids):
        # NumPy would turn [1, "a"] into strings: keep each id's own type.
        return split([check_id(v, row) for row, v in enumerate(ids)])
    arr = np.asarray(ids)
    if arr.ndim != 1:
        raise InvalidVectorError(f"ids must be a 1-D array, got shape {arr.shape}")
    if arr.size == 0:
        return np.empty(0, dtype=np.int64), None
    if arr.dtype.kind in "UO":
        return split([check_id(v, row) for row, v in enumerate(arr.tolist())])
    if arr.dtype.kind not in "iu":
        raise InvalidVectorError(
            f"ids must have an integer dtype (or hold strings), got {arr.dtype} "
            "(booleans and floats are rejected)"
        )
    if arr.dtype.kind == "u" and arr.dtype.itemsize == 8:
        big = np.flatnonzero(arr >= np.uint64(MAX_ID))
        if big.size:
            row = int(big[0])
            raise InvalidVectorError(
                f"row {row}: id {int(arr[row])} is outside 0 <= id < 2**63", row=row
            )
    out = arr.astype(np.int64, copy=False)
    negative = np.flatnonzero(out < 0)
    if negative.size:
        row = int(negative[0])
        raise InvalidVectorError(
            f"row {row}: id {int(out[row])} is outside 0 <= id < 2**63", row=row
        )
    return out, None


def caller_ids(keys: npt.NDArray[np.int64], names: Sequence[str | None] | None) -> list[Id]:
    """The caller's ids back from (keys, names)."""
    if names is None:
        out: list[Id] = list(keys.tolist())
        return out
    return [
        name if name is not None else key for key, name in zip(keys.tolist(), names, strict=True)
    ]


def point_ids(keys: npt.NDArray[np.int64], names: Sequence[str | None] | None) -> list[int | str]:
    """The Qdrant point ids of (keys, names): integers, or UUIDs as text for string ids."""
    if names is None:
        out: list[int | str] = list(keys.tolist())
        return out
    return [
        point_uuid(name) if name is not None else key
        for key, name in zip(keys.tolist(), names, strict=True)
    ]


def mark_key(point_id: int | str) -> str:
    """A point id as text: the field name of its tombstones and patches in Redis."""
    return str(point_id)
