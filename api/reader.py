"""The producer's read side of Qdrant: an index's points by id, and its count."""

from __future__ import annotations

import base64
from collections.abc import Sequence
from typing import Any

import numpy as np

from shared import keys
from shared.crypto import ItemCipher
from shared.engines import Engine
from shared.registry import IndexInfo
from shared.validation import check_id_array


def get_points(
    engine: Engine, info: IndexInfo, cipher: ItemCipher, ids: Sequence[int] | Any
) -> list[dict[str, Any]]:
    """Points with these ids, in request order, items decrypted; missing ids left out."""
    id_array = check_id_array(ids)
    wanted = np.unique(id_array).tolist()
    found = {
        int(p.id): _to_point(int(p.id), p.vector, p.payload, cipher)
        for p in engine.retrieve(info, wanted)
    }
    return [found[i] for i in id_array.tolist() if i in found]


def count_points(engine: Engine, info: IndexInfo) -> int:
    """Points stored in the index."""
    return engine.count(info)


def _to_point(
    point_id: int, vector: Any, payload: dict[str, Any] | None, cipher: ItemCipher
) -> dict[str, Any]:
    payload = payload or {}
    item_b64 = payload.get(keys.PAYLOAD_ITEM)
    item = cipher.decrypt(point_id, base64.b64decode(item_b64)) if item_b64 else None
    metadata = {k: v for k, v in payload.items() if not k.startswith(keys.RESERVED_PREFIX)}
    return {"id": point_id, "vector": list(vector), "item": item, "metadata": metadata}
