"""Reading what an engine holds with that engine's own API, not vecq's: Edge or qdrant-client.

The set checks judge vecq's writes by these reads, so a bug in vecq's read side cannot hide
one in its write side.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from vecq.shared.state.registry import IndexInfo

# The engines the tests run on: Qdrant Edge (the default) and qdrant-client's local mode
# (the stand-in for a server's client calls); and a real server where one is given
# (VECQ_TEST_QDRANT_BIN, see tests/support/qdrant_server.py), for the ordering guarantees.
ENGINES = ("edge", "local")
WITH_SERVER = (*ENGINES, "server")


def engine_settings(engine: str, folder: Path | None, request: Any) -> dict[str, Any]:
    """Client or worker settings writing to ``engine``: Edge in ``folder``, local mode in
    memory, or the session's Qdrant server (the ``qdrant_server`` fixture, through the
    test's ``request``: skipped where no server binary is given)."""
    if engine == "server":
        settings: dict[str, Any] = request.getfixturevalue("qdrant_server").settings()
        return settings
    if engine == "local":
        return {"qdrant_path": ":memory:"}
    return {"data_dir": str(folder)}


Stored = tuple[Any, list[float], dict[str, Any]]


def location(engine: str, data_dir: Path) -> dict[str, str]:
    """Client or worker settings that put ``engine``'s files under ``data_dir`` (persisted)."""
    if engine == "edge":
        return {"data_dir": str(data_dir)}
    return {"qdrant_path": str(data_dir / "qdrant")}


def stored_points(engine: str, data_dir: Path, info: IndexInfo) -> list[Stored]:
    """Every point of the index as ``(id, vector, payload)``, read with the engine's own API.

    The engine's files must be closed by vecq first (workers stopped, clients closed).
    """
    if engine == "edge":
        return _edge_points(data_dir / "edge" / info.name)
    return _local_points(data_dir / "qdrant", info.name)


def _edge_points(path: Path) -> list[Stored]:
    from qdrant_edge import EdgeShard, ScrollRequest

    if not path.exists():
        return {}
    shard = EdgeShard.load(str(path))
    found: list[Stored] = []
    try:
        offset = None
        while True:
            request = ScrollRequest(offset=offset, limit=1000, with_payload=True, with_vector=True)
            records, offset = shard.scroll(request)
            for r in records:
                found.append((r.id, plain(r.vector), dict(r.payload or {})))
            if offset is None:
                return found
    finally:
        shard.close()


def _local_points(path: Path, collection: str) -> list[Stored]:
    from qdrant_client import QdrantClient

    client = QdrantClient(path=str(path))
    found: list[Stored] = []
    try:
        if not client.collection_exists(collection):
            return found
        offset = None
        while True:
            records, offset = client.scroll(
                collection, limit=1000, offset=offset, with_vectors=True, with_payload=True
            )
            for r in records:
                found.append((r.id, plain(r.vector), dict(r.payload or {})))
            if offset is None:
                return found
    finally:
        client.close()


def held_points(engine: Any, info: IndexInfo) -> list[Stored]:
    """Every point of the index through the engine library's own objects that vecq holds open
    (the open Edge shard, or the qdrant-client), for engines that cannot be reopened meanwhile."""
    found: list[Stored] = []
    offset = None
    if engine.kind == "edge":
        from qdrant_edge import ScrollRequest

        shard = engine.shard(info)
        while shard is not None:
            request = ScrollRequest(offset=offset, limit=1000, with_payload=True, with_vector=True)
            records, offset = shard.scroll(request)
            found += [(r.id, plain(r.vector), dict(r.payload or {})) for r in records]
            if offset is None:
                break
        return found
    while engine.client.collection_exists(info.collection):
        records, offset = engine.client.scroll(
            info.collection, limit=1000, offset=offset, with_vectors=True, with_payload=True
        )
        found += [(r.id, plain(r.vector), dict(r.payload or {})) for r in records]
        if offset is None:
            break
    return found


def plain(vector: Any) -> Any:
    """An engine library's vector as plain lists: named vectors as a dict, a sparse one as
    ``(indices, values)`` sorted by index."""
    if not isinstance(vector, dict):
        return list(vector)
    out: dict[str, Any] = {}
    for name, value in vector.items():
        if hasattr(value, "indices"):
            pairs = sorted(zip(value.indices, value.values, strict=True))
            out[name] = ([int(i) for i, _ in pairs], [float(v) for _, v in pairs])
        else:
            out[name] = [list(v) if isinstance(v, list) else v for v in value]
    return out


def collection_exists(engine: Any, info: IndexInfo) -> bool:
    """True if the engine holds a collection (an Edge shard folder) for the index."""
    if engine.kind == "edge":
        return (engine.root / info.name).exists()
    return bool(engine.client.collection_exists(info.collection))
