"""The producer's read side of Qdrant: an index's points by id, its count, and searches."""

from __future__ import annotations

import base64
from collections.abc import Sequence
from typing import Any

from vecq.shared import keys
from vecq.shared.crypto import ItemCipher
from vecq.shared.engines import Engine
from vecq.shared.errors import PointsNotFoundError
from vecq.shared.points import ids as idrules
from vecq.shared.points import query as queries
from vecq.shared.points import validation
from vecq.shared.state.registry import IndexInfo


def get_points(
    engine: Engine,
    info: IndexInfo,
    cipher: ItemCipher,
    ids: Sequence[idrules.Id] | Any,
    missing: str = "skip",
) -> list[dict[str, Any]]:
    """Points with these ids (integers or strings), in request order, items decrypted; missing
    ids left out (``missing="skip"``) or raised as :class:`PointsNotFoundError`. Each answers
    with the caller's id."""
    if missing not in ("skip", "raise"):
        raise ValueError(f'missing must be "skip" or "raise", not {missing!r}')
    wanted = validation.deletions(ids)  # the same id rules, deduplicated
    by_point = dict(zip(wanted.point_ids(), wanted.caller_ids(), strict=True))
    found = {
        caller: _to_point(caller, p.vector, p.payload, cipher)
        for p in engine.retrieve(info, list(by_point))
        if (caller := by_point.get(p.id)) is not None
    }
    asked = ids.tolist() if hasattr(ids, "tolist") else list(ids)
    if missing == "raise":
        given = [i if isinstance(i, str) else int(i) for i in asked]
        absent = [i for i in dict.fromkeys(given) if i not in found]
        if absent:
            shown = ", ".join(map(repr, absent[:10])) + (", ..." if len(absent) > 10 else "")
            raise PointsNotFoundError(
                f"{len(absent)} of {len(given)} ids not stored in {info.name!r}: {shown}", absent
            )
    return [found[i] for i in asked if i in found]


def count_points(engine: Engine, info: IndexInfo) -> int:
    """Points stored in the index."""
    return engine.count(info)


def search_points(
    engine: Engine,
    info: IndexInfo,
    cipher: ItemCipher,
    search: queries.Search,
    *,
    with_items: bool = False,
) -> list[dict[str, Any]]:
    """A checked search's results, best first: ``{"id", "score", "metadata"}`` each (the
    caller's id), with ``"item"`` (decrypted) if ``with_items`` and ``"vector"`` if the search
    asked for vectors."""
    results = []
    for hit in engine.query(info, search):
        point_id = queries.caller_id(hit.id, hit.payload)
        point = _to_point(point_id, hit.vector, hit.payload, cipher if with_items else None)
        result = {"id": point_id, "score": hit.score, "metadata": point["metadata"]}
        if with_items:
            result["item"] = point["item"]
        if search.with_vectors:
            result["vector"] = point["vector"]
        results.append(result)
    return results


def _to_point(
    point_id: idrules.Id, vector: Any, payload: dict[str, Any] | None, cipher: ItemCipher | None
) -> dict[str, Any]:
    payload = payload or {}
    item_b64 = payload.get(keys.PAYLOAD_ITEM)
    item = None
    if item_b64 and cipher is not None:
        item = cipher.decrypt(point_id, base64.b64decode(item_b64))
    metadata = {k: v for k, v in payload.items() if not k.startswith(keys.RESERVED_PREFIX)}
    vector = vector if isinstance(vector, dict) else list(vector)
    return {"id": point_id, "vector": vector, "item": item, "metadata": metadata}
