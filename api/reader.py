"""The producer's read side of Qdrant: an index's points by id, and its count."""

from __future__ import annotations

import base64
from collections.abc import Sequence
from typing import Any

from vecq.shared import keys
from vecq.shared.crypto import ItemCipher
from vecq.shared.engines import Engine
from vecq.shared.points import ids as idrules
from vecq.shared.points import validation
from vecq.shared.state.registry import IndexInfo


def get_points(
    engine: Engine, info: IndexInfo, cipher: ItemCipher, ids: Sequence[idrules.Id] | Any
) -> list[dict[str, Any]]:
    """Points with these ids (integers or strings), in request order, items decrypted; missing
    ids left out. Each answers with the caller's id."""
    wanted = validation.deletions(ids)  # the same id rules, deduplicated
    by_point = dict(zip(wanted.point_ids(), wanted.caller_ids(), strict=True))
    found = {
        caller: _to_point(caller, p.vector, p.payload, cipher)
        for p in engine.retrieve(info, list(by_point))
        if (caller := by_point.get(p.id)) is not None
    }
    asked = ids.tolist() if hasattr(ids, "tolist") else list(ids)
    return [found[i] for i in asked if i in found]


def count_points(engine: Engine, info: IndexInfo) -> int:
    """Points stored in the index."""
    return engine.count(info)


def _to_point(
    point_id: idrules.Id, vector: Any, payload: dict[str, Any] | None, cipher: ItemCipher
) -> dict[str, Any]:
    payload = payload or {}
    item_b64 = payload.get(keys.PAYLOAD_ITEM)
    item = cipher.decrypt(point_id, base64.b64decode(item_b64)) if item_b64 else None
    metadata = {k: v for k, v in payload.items() if not k.startswith(keys.RESERVED_PREFIX)}
    vector = vector if isinstance(vector, dict) else list(vector)
    return {"id": point_id, "vector": vector, "item": item, "metadata": metadata}
