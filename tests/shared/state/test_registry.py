"""The registry on a real Redis."""

from __future__ import annotations

import json
import uuid

import pytest
import redis

from vecq.shared import keys
from vecq.shared.crypto import generate_key
from vecq.shared.errors import IndexExistsError, IndexNotLoadedError, InvalidKeyError
from vecq.shared.state import registry


def test_create_get_load_delete(r: redis.Redis) -> None:
    """An entry records its parameters and shard function, and never stores the key."""
    name, key = f"reg-{uuid.uuid4().hex[:8]}", generate_key()
    info = registry.create(r, name, dimension=12, shards=3, metric="euclid", key=key)
    raw = r.get(keys.index(name))
    assert raw is not None and key.hex() not in raw.decode()
    assert json.loads(raw)["shard_function"] == keys.SHARD_FUNCTION
    assert registry.get(r, name) == info
    assert registry.load(r, name, key) == info
    assert info.collection == name and json.loads(raw)["layout"] == keys.INDEX_LAYOUT
    with pytest.raises(InvalidKeyError):
        registry.load(r, name, generate_key())
    with pytest.raises(IndexExistsError):
        registry.create(r, name, dimension=12, shards=3, metric="euclid", key=key)
    registry.delete(r, name)
    with pytest.raises(IndexNotLoadedError):
        registry.get(r, name)


def test_unknown_shard_function_is_refused(r: redis.Redis) -> None:
    """An entry written with another shard function is not silently used with this one."""
    name = f"reg-{uuid.uuid4().hex[:8]}"
    registry.create(r, name, dimension=2, shards=2, metric="dot", key=generate_key())
    entry = json.loads(r.get(keys.index(name)) or b"{}")
    r.set(keys.index(name), json.dumps(dict(entry, shard_function="modulo")))
    with pytest.raises(IndexNotLoadedError, match="modulo"):
        registry.get(r, name)


def test_an_entry_of_the_older_layout_is_refused_with_what_to_do(r: redis.Redis) -> None:
    """An index created by vecq 0.1 (one collection per shard) is not loaded silently."""
    name, key = f"old-{uuid.uuid4().hex[:8]}", generate_key()
    registry.create(r, name, dimension=4, shards=2, metric="dot", key=key)
    entry = json.loads(r.get(keys.index(name)) or b"{}")
    del entry["layout"]
    r.set(keys.index(name), json.dumps(entry))
    with pytest.raises(IndexNotLoadedError, match=r"one Qdrant collection per shard.*Re-create"):
        registry.load(r, name, key)
    registry.delete(r, name)
