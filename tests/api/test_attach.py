"""attach_index: writing with every guarantee into a collection someone else created.

The collections are made with qdrant-client itself (local mode: the stand-in for a server's
client calls) and read back with it; Edge refuses, as documented.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
from qdrant_client import models

from vecq import Client, IndexNotLoadedError, InvalidIndexError, SparseSpec, VecqError, VectorSpec
from vecq.shared import keys

pytestmark = pytest.mark.engines("local", "edge")


def qdrant(client: Client) -> Any:
    """The engine's own qdrant-client (local mode)."""
    if client.engine.kind == "edge":
        pytest.skip("attach_index needs a server or local mode")
    return client.engine.client  # type: ignore[attr-defined]


def fresh() -> str:
    return f"c-{uuid.uuid4().hex[:10]}"


def test_a_collection_of_named_vectors_keeps_its_settings(client: Client, key: bytes) -> None:
    q = qdrant(client)
    name = fresh()
    q.create_collection(
        name,
        vectors_config={
            "text": models.VectorParams(size=4, distance=models.Distance.DOT),
            "late": models.VectorParams(
                size=2,
                distance=models.Distance.COSINE,
                multivector_config=models.MultiVectorConfig(
                    comparator=models.MultiVectorComparator.MAX_SIM
                ),
            ),
        },
        sparse_vectors_config={"bm25": models.SparseVectorParams(modifier=models.Modifier.IDF)},
        hnsw_config=models.HnswConfigDiff(m=32, ef_construct=200),
    )
    before = q.get_collection(name).config
    index = client.attach_index("products", key, collection=name)
    assert index.info.collection == name and index.name == "products"
    assert index.vectors == {
        "text": VectorSpec(4, "dot"),
        "late": VectorSpec(2, "cosine", multivector=True),
        "bm25": SparseSpec("idf"),
    }
    index.upsert(
        [
            {
                "id": 7,
                "vector": {"text": [1, 2, 3, 4], "bm25": ([3], [0.5])},
                "metadata": {"lang": "en"},
            }
        ]
    )
    (point,) = q.retrieve(name, [7], with_vectors=True)
    assert point.vector["text"] == [1, 2, 3, 4]
    assert point.payload["lang"] == "en" and point.payload[keys.PAYLOAD_SEQ] >= 1
    assert q.get_collection(name).config == before  # HNSW, optimizers, vectors: unchanged
    assert client.load_index("products", key).info.collection == name
    client.delete_index("products", key)
    assert q.collection_exists(name) and q.count(name).count == 1  # the collection stays


def test_points_written_by_another_tool_are_refused_or_replaced(client: Client, key: bytes) -> None:
    q = qdrant(client)
    name = fresh()
    q.create_collection(
        name, vectors_config=models.VectorParams(size=3, distance=models.Distance.DOT)
    )
    q.upsert(
        name,
        [
            models.PointStruct(id=i, vector=[9.0, 9.0, 9.0], payload={"src": "etl"})
            for i in (1, 2, 3)
        ],
    )
    with pytest.raises(InvalidIndexError, match=r"holds 3 points written without vecq"):
        client.attach_index(name, key)
    assert name not in client.list_indexes()  # nothing recorded
    index = client.attach_index(name, key, existing="replace")
    assert (index.dimension, index.metric) == (3, "dot")
    index.upsert([(1, [1.0, 1.0, 1.0])])
    index.delete([2])
    index.update_metadata([(3, {"seen": True})])
    points = {p.id: p for p in q.retrieve(name, [1, 2, 3], with_vectors=True)}
    assert points[1].vector == [1.0, 1.0, 1.0] and "src" not in points[1].payload
    assert 2 not in points
    assert points[3].payload == {"src": "etl", "seen": True}
    index.upsert([(1, [2.0, 2.0, 2.0])])  # vecq's own points keep their order
    assert q.retrieve(name, [1], with_vectors=True)[0].vector == [2.0, 2.0, 2.0]


def test_an_empty_collection_attaches_without_ado(client: Client, key: bytes) -> None:
    q = qdrant(client)
    name = fresh()
    q.create_collection(
        name, vectors_config=models.VectorParams(size=2, distance=models.Distance.EUCLID)
    )
    index = client.attach_index(name, key)
    assert not index.info.replace_foreign
    index.upsert([("doc", [0.5, 0.25])])
    assert index.get(["doc"])[0]["vector"] == [0.5, 0.25]


def test_what_cannot_be_attached_says_why(client: Client, key: bytes) -> None:
    if client.engine.kind == "edge":
        with pytest.raises(VecqError, match="attach_index writes into an existing collection"):
            client.attach_index(fresh(), key)
        return
    with pytest.raises(IndexNotLoadedError, match="Qdrant has no collection"):
        client.attach_index(fresh(), key)
    q = qdrant(client)
    name = fresh()
    q.create_collection(
        name,
        vectors_config=models.VectorParams(size=2, distance=models.Distance.DOT),
        sparse_vectors_config={"bm25": models.SparseVectorParams()},
    )
    with pytest.raises(InvalidIndexError, match="mixes the unnamed dense vector with sparse"):
        client.attach_index(name, key)
    with pytest.raises(ValueError, match='existing must be "refuse" or "replace"'):
        client.attach_index(name, key, existing="overwrite")


def test_the_command_line_attaches_and_describes(
    redis_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`vecq index attach` on local mode: refused with foreign points, then replaced."""
    from qdrant_client import QdrantClient

    path = tmp_path / "qdrant"
    local = QdrantClient(path=str(path))
    name = fresh()
    local.create_collection(
        name, vectors_config={"t": models.VectorParams(size=2, distance=models.Distance.DOT)}
    )
    local.upsert(name, [models.PointStruct(id=1, vector={"t": [1.0, 2.0]})])
    local.close()
    env = {**os.environ, "VECQ_REDIS_URL": redis_url, "VECQ_QDRANT_PATH": str(path)}

    def vecq(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "vecq.api.cli", *args],
            capture_output=True,
            text=True,
            timeout=120,
            env=env,
            cwd=tmp_path,
        )

    refused = vecq("index", "attach", name)
    assert refused.returncode != 0 and "holds 1 points written without vecq" in refused.stderr
    assert not (tmp_path / f"{name}.key").exists()
    made = vecq("index", "attach", name, "--replace-existing", "--key-file", "k.key")
    assert made.returncode == 0, made.stderr
    assert f"to collection {name!r}: vectors t: 2-d dot" in made.stdout
    described = json.loads(vecq("index", "describe", name, "--json").stdout)
    assert described["attached_to"] == name and described["replace_foreign"] is True
    assert described["points"] == 1
