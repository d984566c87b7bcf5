"""The producer's read side of Qdrant: an index's points by id, its count, dropping it."""

from __future__ import annotations

import base64
from collections.abc import Sequence
from typing import Any

import numpy as np
from qdrant_client.http.exceptions import UnexpectedResponse

from shared import keys
from shared.crypto import ItemCipher
from shared.qdrant import is_missing_collection
from shared.registry import IndexInfo
from shared.sharding import shard_of
from shared.validation import check_id_array


def get_points(
    qdrant: Any, info: IndexInfo, cipher: ItemCipher, ids: Sequence[int] | Any
) -> list[dict[str, Any]]:
    """Points with these ids, in request order, items decrypted; missing ids left out."""
    id_array = check_id_array(ids)
    found: dict[int, dict[str, Any]] = {}
    shards = shard_of(id_array, info.shards)
    for shard in np.unique(shards):
        wanted = [int(i) for i in np.unique(id_array[shards == shard])]
        try:
            records = qdrant.retrieve(
                keys.collection(info.name, int(shard)), wanted, with_payload=True, with_vectors=True
            )
        except (UnexpectedResponse, ValueError) as exc:
            if is_missing_collection(exc):
                continue  # nothing was ever written to this shard
            raise
        for record in records:
            found[int(record.id)] = _to_point(int(record.id), record.vector, record.payload, cipher)
    return [found[int(i)] for i in id_array if int(i) in found]


def _to_point(
    point_id: int, vector: Any, payload: dict[str, Any] | None, cipher: ItemCipher
) -> dict[str, Any]:
    payload = payload or {}
    item_b64 = payload.get(keys.PAYLOAD_ITEM)
    item = cipher.decrypt(point_id, base64.b64decode(item_b64)) if item_b64 else None
    metadata = {k: v for k, v in payload.items() if not k.startswith(keys.RESERVED_PREFIX)}
    return {"id": point_id, "vector": list(vector), "item": item, "metadata": metadata}


def count_points(qdrant: Any, info: IndexInfo) -> int:
    """Points stored across every shard collection of the index."""
    total = 0
    for name in info.collections():
        try:
            total += qdrant.count(name, exact=True).count
        except (UnexpectedResponse, ValueError) as exc:
            if not is_missing_collection(exc):
                raise
    return total


def drop_collections(qdrant: Any, info: IndexInfo) -> None:
    """Delete every shard collection of the index that exists."""
    for name in info.collections():
        if qdrant.collection_exists(name):
            qdrant.delete_collection(name)
