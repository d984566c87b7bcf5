"""Indexes beyond one vector over HTTP: payload indexes, and named dense, multi and sparse
vectors written as JSON and as .npz bodies, then read back."""

from __future__ import annotations

import io

import numpy as np

from tests.support.http_server import Served, http


def test_an_index_is_created_with_payload_indexes(api: Served) -> None:
    """POST /v1/indexes takes payload_indexes; a bad one is a 422 naming the field, and
    creates nothing."""
    with http(api) as client:
        wrong = {"name": "h-pi", "dimension": 3, "payload_indexes": {"lang": "keywords"}}
        bad = client.post("/v1/indexes", json=wrong)
        assert bad.status_code == 422
        assert "'lang': type 'keywords'" in bad.json()["detail"]
        assert "h-pi" not in client.get("/v1/indexes").json()["indexes"]
        made = client.post(
            "/v1/indexes",
            json={
                "name": "h-pi",
                "dimension": 3,
                "payload_indexes": {"lang": "keyword", "t": {"type": "keyword", "is_tenant": True}},
            },
        )
        assert made.status_code == 201, made.text
        assert "h-pi" in client.get("/v1/indexes").json()["indexes"]


def test_named_vectors_over_json_and_npz(api: Served) -> None:
    """An index of named vectors: created with vectors/sparse_vectors, written as JSON dicts
    and as an .npz body (vector.NAME, multi.NAME.rows/offsets, sparse.NAME.*), read back."""
    with http(api) as client:
        both = client.post(
            "/v1/indexes", json={"name": "h-nv", "dimension": 3, "vectors": {"t": {"size": 2}}}
        )
        assert both.status_code == 422 and "one of the two" in both.json()["detail"]
        empty = client.post("/v1/indexes", json={"name": "h-nv", "vectors": {}})
        assert empty.status_code == 422 and "at least one vector" in empty.json()["detail"]
        made = client.post(
            "/v1/indexes",
            json={
                "name": "h-nv",
                "vectors": {
                    "t": {"size": 2, "distance": "dot"},
                    "m": {"size": 2, "distance": "dot", "multivector": True},
                },
                "sparse_vectors": {"s": {"modifier": "idf"}},
            },
        )
        assert made.status_code == 201, made.text
        assert made.json()["vectors"]["m"] == {"size": 2, "distance": "dot", "multivector": True}
        key = made.json()["index_key"]
    with http(api, key=bytes.fromhex(key)) as c:
        items = [
            {
                "id": 1,
                "vector": {
                    "t": [1.0, 2.0],
                    "m": [[1.0, 0.0], [0.0, 1.0]],
                    "s": {"indices": [4, 2], "values": [0.5, 1.0]},
                },
            }
        ]
        done = c.post("/v1/indexes/h-nv/upsert", params={"wait": "true"}, json={"items": items})
        assert done.status_code == 200, done.text
        bad = [{"id": 2, "vector": {"t": [1.0, 2.0, 3.0]}}]
        refused = c.post("/v1/indexes/h-nv/upsert", json={"items": bad})
        assert refused.status_code == 422 and "vector 't' has 3 dimensions" in refused.text
        body = io.BytesIO()
        np.savez(
            body,
            ids=np.array([5, 6]),
            **{
                "vector.t": np.array([[1, 2], [3, 4]], np.float32),
                "multi.m.rows": np.ones((3, 2), np.float32),
                "multi.m.offsets": np.array([0, 3, 3]),
                "sparse.s.indices": np.array([7, 1, 9]),
                "sparse.s.values": np.array([1.0, 2, 3]),
                "sparse.s.offsets": np.array([0, 1, 3]),
            },
        )
        npz = {"content-type": "application/x-npz"}
        sent = c.post(
            "/v1/indexes/h-nv/vectors",
            params={"wait": "true"},
            content=body.getvalue(),
            headers=npz,
        )
        assert sent.status_code == 200, sent.text
        got = {
            p["id"]: p["vector"]
            for p in c.post("/v1/indexes/h-nv/points", json={"ids": [1, 5, 6]}).json()["points"]
        }
        assert got[1] == {
            "t": [1.0, 2.0],
            "m": [[1.0, 0.0], [0.0, 1.0]],
            "s": {"indices": [2, 4], "values": [1.0, 0.5]},
        }
        assert got[5] == {
            "t": [1.0, 2.0],
            "m": [[1.0, 1.0]] * 3,
            "s": {"indices": [7], "values": [1.0]},
        }
        assert got[6] == {"t": [3.0, 4.0], "s": {"indices": [1, 9], "values": [2.0, 3.0]}}
