"""The engine seam on its own: Edge's shard folders, and the calls vecq makes of qdrant-client."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from qdrant_client import QdrantClient

from vecq.shared import keys
from vecq.shared.engines import Write
from vecq.shared.engines.edge import EdgeEngine
from vecq.shared.engines.server import ServerEngine
from vecq.shared.errors import IndexExistsError, StorageLocked
from vecq.shared.state.registry import IndexInfo


def _info(name: str = "idx", shards: int = 3) -> IndexInfo:
    return IndexInfo(
        name=name,
        uid=str(uuid.uuid4()),
        dimension=4,
        shards=shards,
        metric="dot",
        shard_function=keys.SHARD_FUNCTION,
        key_check="",
        created_at=0.0,
    )


def _write(engine: Any, info: IndexInfo, ids: list[int], seq: int) -> None:
    vectors = np.full((len(ids), 4), float(seq), dtype=np.float32)
    payloads = [{keys.PAYLOAD_SEQ: seq} for _ in ids]
    engine.write(info, Write(ids, vectors, payloads, np.full(len(ids), seq, dtype=np.int64)))


def test_an_edge_folder_left_by_a_deleted_index_is_never_taken_for_a_new_one(
    tmp_path: Path,
) -> None:
    """A crash between deleting an index and its folder: the new index of that name is empty."""
    old, new = _info("reused"), _info("reused")
    first = EdgeEngine(tmp_path)
    first.create(old)
    _write(first, old, [1, 2, 3], seq=1)
    first.close()  # the process ends; the folder stays behind
    second = EdgeEngine(tmp_path)
    assert second.count(new) == 0  # not its folder: nothing to read
    second.ensure(new)
    assert second.count(new) == 0
    _write(second, new, [9], seq=2)
    assert [p.id for p in second.retrieve(new, [1, 9])] == [9]
    assert second.count(old) == 0  # and the old uid no longer owns it
    second.close()


def test_an_edge_shard_held_by_another_process_is_storage_locked(tmp_path: Path) -> None:
    """Edge admits one process per folder: reading or dropping from another says so, and drops
    nothing."""
    info = _info("held")
    engine = EdgeEngine(tmp_path)
    engine.create(info)
    _write(engine, info, [1], seq=1)
    engine.close()
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(f"""
            import sys, time
            from qdrant_edge import EdgeShard
            shard = EdgeShard.load({str(tmp_path / "held")!r})
            print("holding", flush=True)
            sys.stdin.read()
            shard.close()
        """),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "holding"
        other = EdgeEngine(tmp_path)
        with pytest.raises(StorageLocked, match="another process"):
            other.count(info)
        with pytest.raises(StorageLocked):
            other.drop(info)
        assert (tmp_path / "held").exists()
    finally:
        holder.communicate("", timeout=30)
    reopened = EdgeEngine(tmp_path)
    assert reopened.count(info) == 1
    reopened.drop(info)
    assert not (tmp_path / "held").exists()


class Recording:
    """A real local-mode client that records the collection calls vecq makes of a server.

    A server's payload index call is recorded and not forwarded: local mode has no payload
    indexes and warns about them.
    """

    def __init__(self) -> None:
        self.real = QdrantClient(location=":memory:")
        self.calls: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = []

    def create_collection(self, *args: Any, **kwargs: Any) -> Any:
        self.calls.append(("create_collection", args, kwargs))
        return self.real.create_collection(*args, **kwargs)

    def create_payload_index(self, *args: Any, **kwargs: Any) -> None:
        self.calls.append(("create_payload_index", args, kwargs))

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)


def test_a_server_collection_is_sharded_by_qdrant_and_indexed_on_seq_before_writes() -> None:
    """One collection named after the index, shard_number = the index's shards, no shard keys,
    an integer payload index on _vecq_seq; an existing collection of that name is refused."""
    recording = Recording()
    engine = ServerEngine(recording, "server")
    info = _info("products", shards=6)
    engine.create(info)
    (create, args, kwargs), (index_call, index_args, _) = recording.calls
    assert create == "create_collection" and args == ("products",)
    assert kwargs["shard_number"] == 6 and "sharding_method" not in kwargs
    assert kwargs["vectors_config"].size == 4
    assert index_call == "create_payload_index"
    assert index_args[:2] == ("products", keys.PAYLOAD_SEQ) and index_args[2].value == "integer"
    with pytest.raises(IndexExistsError, match="already has a collection named 'products'"):
        engine.create(_info("products"))
    recording.real.close()
