"""The index registry in Redis: each index's dimension, shards, metric, hash and key check."""

from __future__ import annotations

import json
import re
import time
import uuid
from dataclasses import asdict, dataclass
from typing import Any

import redis

from vecq.shared import keys
from vecq.shared.crypto import key_check, verify_key
from vecq.shared.errors import IndexExistsError, IndexNotLoadedError, InvalidIndexError
from vecq.shared.points.vector_schema import MAX_DIMENSION, METRICS, Schema
from vecq.shared.state.replies import text

MAX_SHARDS = 1024
# Letters, digits, '-' and single '_' (no '__': older vecq used it in collection names).
_NAME = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]|_(?!_)){0,62}$")


@dataclass(frozen=True)
class IndexInfo:
    """One index's registry entry. It never changes after creation."""

    name: str
    uid: str
    dimension: int
    shards: int
    metric: str
    shard_function: str
    key_check: str
    created_at: float
    layout: str = keys.INDEX_LAYOUT
    vectors: dict[str, Any] | None = None
    """Named dense vectors (``shared/points/vector_schema.py``'s JSON form); ``None``: the index
    holds one unnamed vector of ``dimension`` (then ``dimension`` is 0 if it has named)."""
    sparse_vectors: dict[str, Any] | None = None
    attached_to: str | None = None
    """The existing Qdrant collection this index writes into (``Client.attach_index``);
    ``None``: the collection vecq created, named after the index."""
    replace_foreign: bool = False
    """An attached collection's points without ``_vecq_seq`` (written by another tool) count
    as older than every vecq write: vecq's upserts replace them, its deletes remove them."""

    @property
    def schema(self) -> Schema | None:
        """The index's named vectors, or ``None`` for the one unnamed vector."""
        if self.vectors is None and self.sparse_vectors is None:
            return None
        return Schema.from_json(self.vectors, self.sparse_vectors)

    @property
    def width(self) -> int:
        """Float32 values per point, about (for sizing requests): the unnamed vector's
        dimension, or the named dense vectors' (a multivector's row counted 16 times, a
        sparse vector as 200 values: ~100 nonzeros with their indices)."""
        schema = self.schema
        if schema is None:
            return self.dimension
        dense = sum(s.size * (16 if s.multivector else 1) for s in schema.dense.values())
        return max(1, dense + 200 * len(schema.sparse))

    @property
    def uid_bytes(self) -> bytes:
        """The uid as the 16 bytes carried in every blob header."""
        return uuid.UUID(self.uid).bytes

    @property
    def collection(self) -> str:
        """The index's Qdrant collection: named after the index, or the one it attached to."""
        return self.attached_to or self.name


def check_name(name: object) -> str:
    """Return ``name`` if it is a valid index name, else raise :class:`InvalidIndexError`."""
    if not isinstance(name, str) or not _NAME.match(name):
        raise InvalidIndexError(
            f"index name {name!r} is invalid: use 1-63 letters, digits, '-' or '_' "
            "(no '__', not starting with '-' or '_')"
        )
    return name


def create(
    r: redis.Redis,
    name: str,
    *,
    dimension: int,
    shards: int,
    metric: str,
    key: bytes,
    schema: Schema | None = None,
    attached_to: str | None = None,
    replace_foreign: bool = False,
) -> IndexInfo:
    """Record a new index; raise :class:`IndexExistsError` if the name is taken.

    A bad name, dimension, shard count or metric raises :class:`InvalidIndexError`. With
    ``schema`` (named vectors) ``dimension`` is 0.
    """
    check_name(name)
    named: tuple[dict[str, Any] | None, dict[str, Any] | None] = (None, None)
    if schema is not None:
        named = schema.to_json()
    elif not isinstance(dimension, int) or not 1 <= dimension <= MAX_DIMENSION:
        raise InvalidIndexError(
            f"dimension must be an int in 1..{MAX_DIMENSION}, got {dimension!r}"
        )
    if not isinstance(shards, int) or not 1 <= shards <= MAX_SHARDS:
        raise InvalidIndexError(f"shards must be an int in 1..{MAX_SHARDS}, got {shards!r}")
    if metric not in METRICS:
        raise InvalidIndexError(f"metric must be one of {', '.join(METRICS)}, got {metric!r}")
    info = IndexInfo(
        name=name,
        uid=str(uuid.uuid4()),
        dimension=dimension,
        shards=shards,
        metric=metric,
        shard_function=keys.SHARD_FUNCTION,
        key_check=key_check(key, name),
        created_at=time.time(),
        vectors=named[0],
        sparse_vectors=named[1],
        attached_to=attached_to,
        replace_foreign=replace_foreign,
    )
    if not r.set(keys.index(name), json.dumps(asdict(info)), nx=True):
        raise IndexExistsError(
            f"index {name!r} already exists; use load_index, or delete_index it first"
        )
    r.sadd(keys.index_set(), name)
    return info


def get(r: redis.Redis, name: str) -> IndexInfo:
    """Return the entry of ``name``; raise :class:`IndexNotLoadedError` if there is none."""
    raw = r.get(keys.index(name))
    if raw is None:
        raise IndexNotLoadedError(
            f"index {name!r} does not exist (never created, or deleted); create_index it first"
        )
    entry = json.loads(raw)
    # Entries of vecq before 0.2 have no layout: one collection per shard, vecq__{name}__{k}.
    layout = entry.setdefault("layout", "collection-per-shard")
    if layout != keys.INDEX_LAYOUT:
        raise IndexNotLoadedError(
            f"index {name!r} was created by an older vecq, with one Qdrant collection per "
            f"shard ({layout!r}); this vecq keeps an index in one collection "
            f"({keys.INDEX_LAYOUT!r}). Re-create it and load the data again"
        )
    info = IndexInfo(**entry)
    if info.shard_function != keys.SHARD_FUNCTION:
        raise IndexNotLoadedError(
            f"index {name!r} uses shard function {info.shard_function!r}, which this vecq "
            f"version does not implement ({keys.SHARD_FUNCTION!r})"
        )
    return info


def load(r: redis.Redis, name: str, key: bytes) -> IndexInfo:
    """Return the entry of ``name`` after checking ``key`` against it."""
    info = get(r, name)
    verify_key(key, name, info.key_check)
    return info


def names(r: redis.Redis) -> list[str]:
    """Every registered index name, sorted."""
    return sorted(text(n) for n in r.smembers(keys.index_set()))


def delete(r: redis.Redis, name: str) -> None:
    """Remove the entry of ``name`` (a no-op if it is already gone)."""
    pipe = r.pipeline(transaction=True)
    pipe.delete(keys.index(name))
    pipe.srem(keys.index_set(), name)
    pipe.execute()
