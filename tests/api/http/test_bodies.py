"""The HTTP API's binary upsert bodies: .npy, .npz and Arrow, and the bad ones."""

from __future__ import annotations

import io

import numpy as np
import pyarrow as pa
import redis

from tests.support.http_server import Served, http
from vecq.shared import keys


def test_npy_body_with_ids_from_a_start(api: Served, index: tuple[str, bytes]) -> None:
    """A .npy body (Fortran order here) with ?id_start writes ids start.. with the exact vectors."""
    name, key = index
    vectors = np.asfortranarray(np.random.default_rng(1).standard_normal((300, 3), np.float32))
    body = io.BytesIO()
    np.save(body, vectors)
    with http(api, key=key) as c:
        got = c.post(
            f"/v1/indexes/{name}/vectors",
            params={"id_start": 1000, "wait": "true"},
            content=body.getvalue(),
            headers={"Content-Type": "application/x-npy"},
        )
        assert got.status_code == 200 and got.json()["written"] == 300, got.text
        back = c.post(f"/v1/indexes/{name}/points", json={"ids": [1000, 1299]}).json()["points"]
    assert [p["id"] for p in back] == [1000, 1299]
    np.testing.assert_array_equal(
        np.array([p["vector"] for p in back], np.float32), vectors[[0, 299]]
    )


def test_npz_and_arrow_bodies(api: Served, index: tuple[str, bytes]) -> None:
    """An .npz with ids and an Arrow stream with metadata columns are both written."""
    name, key = index
    npz = io.BytesIO()
    np.savez(npz, ids=np.array([5, 6]), vectors=np.array([[1, 2, 3], [4, 5, 6]], np.float64))
    table = pa.table(
        {
            "id": pa.array([8, 9], pa.int64()),
            "vector": pa.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]], pa.list_(pa.float32(), 3)),
            "lang": ["en", None],
        }
    )
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    with http(api, key=key) as c:
        for content, kind in [
            (npz.getvalue(), "application/x-npz"),
            (sink.getvalue().to_pybytes(), "application/vnd.apache.arrow.stream"),
        ]:
            got = c.post(
                f"/v1/indexes/{name}/vectors",
                params={"wait": "true"},
                content=content,
                headers={"Content-Type": kind},
            )
            assert got.status_code == 200, got.text
        back = c.post(f"/v1/indexes/{name}/points", json={"ids": [5, 6, 8, 9]}).json()["points"]
    assert [p["vector"] for p in back] == [[1, 2, 3], [4, 5, 6], [1, 0, 0], [0, 1, 0]]
    assert [p["metadata"] for p in back] == [{}, {}, {"lang": "en"}, {}]


def test_bad_binary_bodies(api: Served, index: tuple[str, bytes], r: redis.Redis) -> None:
    """Garbage is 400, a .npy without id_start is 400, a JSON body on /vectors is 415."""
    name, key = index
    vectors = io.BytesIO()
    np.save(vectors, np.ones((2, 3), np.float32))
    with http(api, key=key) as c:
        garbage = c.post(
            f"/v1/indexes/{name}/vectors",
            content=b"\x93NUMPYjunk",
            headers={"Content-Type": "application/x-npy"},
        )
        assert garbage.status_code == 400 and "not a .npy" in garbage.json()["detail"]
        truncated = c.post(
            f"/v1/indexes/{name}/vectors",
            params={"id_start": 0},
            content=vectors.getvalue()[:-5],
            headers={"Content-Type": "application/x-npy"},
        )
        assert truncated.status_code == 400 and "not a .npy" in truncated.json()["detail"]
        objects = io.BytesIO()
        np.save(objects, np.array([[1, "a", None]], dtype=object), allow_pickle=True)
        pickled = c.post(
            f"/v1/indexes/{name}/vectors",
            params={"id_start": 0},
            content=objects.getvalue(),
            headers={"Content-Type": "application/x-npy"},
        )
        assert pickled.status_code == 400 and "pickle" in pickled.json()["detail"]
        no_ids = c.post(
            f"/v1/indexes/{name}/vectors",
            content=vectors.getvalue(),
            headers={"Content-Type": "application/x-npy"},
        )
        assert no_ids.status_code == 400 and "id_start" in no_ids.json()["detail"]
        wrong_type = c.post(f"/v1/indexes/{name}/vectors", json={"items": []})
        assert wrong_type.status_code == 415
    assert r.get(keys.sequence(name)) is None


def test_body_over_the_limit_is_413(api: Served, index: tuple[str, bytes]) -> None:
    """A binary body over max_body_bytes (1 MiB here) is refused before it is decoded."""
    name, key = index
    big = io.BytesIO()
    np.save(big, np.ones((100_000, 3), np.float32))  # 1.2 MB
    with http(api, key=key) as c:
        got = c.post(
            f"/v1/indexes/{name}/vectors",
            params={"id_start": 0},
            content=big.getvalue(),
            headers={"Content-Type": "application/x-npy"},
        )
    assert got.status_code == 413
