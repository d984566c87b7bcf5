"""Helpers of the ordering tests: vectors that say which call wrote them, and what is stored."""

from __future__ import annotations

from typing import Any

import numpy as np

from tests.support.engines import held_points
from vecq import Index
from vecq.shared import keys


def vectors(n: int, value: float) -> np.ndarray:
    return np.full((n, 4), value, dtype=np.float32)


def stored(index: Index) -> dict[Any, tuple[float, dict[str, Any]]]:
    """caller id -> (first vector component, metadata), read through the engine's own API."""
    out = {}
    for point_id, vector, payload in held_points(index.session.engine, index.info):
        caller = payload.get(keys.PAYLOAD_ID, point_id)
        meta = {k: v for k, v in payload.items() if not k.startswith(keys.RESERVED_PREFIX)}
        out[caller] = (vector[0], meta)
    return out
