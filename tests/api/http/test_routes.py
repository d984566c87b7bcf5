"""The HTTP API's routes, through a real HTTP client against uvicorn, real Redis and Qdrant."""

from __future__ import annotations

import base64
import json
import time

import httpx
import redis

from tests.support.http_server import Served, http
from vecq.shared import keys


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
        "/v1/indexes/{name}/delete",
        "/v1/indexes/{name}/metadata",
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
        assert negative.json()["error"] == "InvalidRequest"
        assert "body.items.0.id" in negative.json()["detail"]
        assert set(negative.json()) == {"error", "detail"}
    assert r.get(keys.sequence(name)) is None


def test_unknown_keys_are_refused_in_every_body(
    api: Served, index: tuple[str, bytes], r: redis.Redis
) -> None:
    """A key a body does not define ("payload" for "metadata", a typo) is a 422 naming it."""
    name, key = index
    bodies = [
        (
            f"/v1/indexes/{name}/upsert",
            {"items": [{"id": 5, "vector": [1, 2, 3], "payload": {"a": 1}}]},
            "items.0.payload",
        ),
        (
            f"/v1/indexes/{name}/upsert",
            {"items": [{"id": 5, "vector": [1, 2, 3]}], "wait": True},
            "body.wait",
        ),
        (f"/v1/indexes/{name}/delete", {"ids": [5], "idz": [6]}, "body.idz"),
        (
            f"/v1/indexes/{name}/metadata",
            {"items": [{"id": 5, "metadata": {}, "merge": False}]},
            "items.0.merge",
        ),
        (f"/v1/indexes/{name}/points", {"ids": [5], "with_vectors": False}, "body.with_vectors"),
        ("/v1/indexes", {"name": "h-other", "dimension": 3, "metrc": "dot"}, "body.metrc"),
    ]
    with http(api, "admin", key) as c:
        for path, body, where in bodies:
            answer = c.post(path, json=body)
            assert answer.status_code == 422, (path, answer.text)
            assert answer.json()["error"] == "InvalidRequest"
            assert where in answer.json()["detail"] and "Extra inputs" in answer.json()["detail"]
        assert c.get("/v1/indexes/h-other").status_code == 404
    assert r.get(keys.sequence(name)) is None


JSON = {"content-type": "application/json"}
TEXT = {"content-type": "text/plain"}


def test_every_error_has_the_documented_shape(api: Served, index: tuple[str, bytes]) -> None:
    """FastAPI's own errors (schema, unknown route, wrong method) answer {"error", "detail"}."""
    name, key = index
    with http(api, key=key) as c:
        answers = [
            c.post(f"/v1/indexes/{name}/delete", json={"ids": [-1]}),
            c.post(f"/v1/indexes/{name}/delete", json={"nope": []}),
            c.post(f"/v1/indexes/{name}/metadata", content=b"not json", headers=JSON),
            c.post(f"/v1/indexes/{name}/metadata", content=b"{}", headers=TEXT),
            c.get("/v1/no-such-route"),
            c.put(f"/v1/indexes/{name}/delete"),
        ]
    assert [a.status_code for a in answers] == [422, 422, 422, 415, 404, 405]
    for answer in answers:
        body = answer.json()
        assert set(body) == {"error", "detail"} and body["detail"], body


def test_delete_and_metadata_routes(api: Served, index: tuple[str, bytes]) -> None:
    """Delete by id (integers and strings) and merge metadata; unknown ids are reported."""
    name, key = index
    items = [
        {"id": 1, "vector": [1, 2, 3], "metadata": {"a": 1}},
        {"id": "doc", "vector": [4, 5, 6], "metadata": {"a": 2, "b": [1, {"c": None}]}},
        {"id": 3, "vector": [7, 8, 9]},
    ]
    with http(api, key=key) as c:
        assert (
            c.post(
                f"/v1/indexes/{name}/upsert", params={"wait": "true"}, json={"items": items}
            ).status_code
            == 200
        )
        updated = c.post(
            f"/v1/indexes/{name}/metadata",
            params={"wait": "true"},
            json={
                "items": [
                    {"id": "doc", "metadata": {"a": 5, "when": "2026-01-02T03:04:05Z"}},
                    {"id": 99, "metadata": {"a": 1}},
                ]
            },
        )
        assert updated.status_code == 200, updated.text
        view = updated.json()
        assert (view["status"], view["written"], view["failed"]) == ("failed", 1, 1)
        assert view["failures"][0]["ids"] == [99] and "not found" in view["failures"][0]["reason"]
        deleted = c.post(
            f"/v1/indexes/{name}/delete", params={"wait": "true"}, json={"ids": [1, "never-stored"]}
        )
        assert deleted.status_code == 200 and deleted.json()["status"] == "done"
        got = c.post(f"/v1/indexes/{name}/points", json={"ids": [1, "doc", 3]}).json()["points"]
    assert [p["id"] for p in got] == ["doc", 3]
    assert got[0]["metadata"] == {"a": 5, "b": [1, {"c": None}], "when": "2026-01-02T03:04:05Z"}
    with http(api, "reader", key) as reader:
        assert reader.post(f"/v1/indexes/{name}/delete", json={"ids": [3]}).status_code == 403
        update = {"items": [{"id": 3, "metadata": {"x": 1}}]}
        assert reader.post(f"/v1/indexes/{name}/metadata", json=update).status_code == 403


def test_create_twice_and_bad_names(api: Served, index: tuple[str, bytes]) -> None:
    """A taken name is 409, an invalid one 422, an unknown index 404."""
    name, key = index
    with http(api, "admin", key) as c:
        again = c.post("/v1/indexes", json={"name": name, "dimension": 3})
        assert again.status_code == 409 and again.json()["error"] == "IndexExistsError"
        assert c.post("/v1/indexes", json={"name": "h__x", "dimension": 3}).status_code == 422
        assert c.get("/v1/indexes/h-missing").status_code == 404


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


def test_vectors_of_true_false_or_strings_are_422(api: Served, index: tuple[str, bytes]) -> None:
    """JSON numbers only: [true, false, true] and ["1", "2", "3"] are refused as the library
    refuses them, and nothing is enqueued."""
    name, key = index
    with http(api, key=key) as c:
        for vector in ([True, False, True], ["1", "2", "3"]):
            got = c.post(
                f"/v1/indexes/{name}/upsert", json={"items": [{"id": 1, "vector": vector}]}
            )
            assert got.status_code == 422, got.text
            assert "valid number" in got.json()["detail"]


def test_a_json_route_refuses_other_content_types_with_415(
    api: Served, index: tuple[str, bytes]
) -> None:
    """text/plain (or no type) to a JSON route is 415 naming the type to send, not a 422
    about the body's shape; JSON with a charset, or a +json type, is JSON."""
    name, key = index
    body = json.dumps({"ids": [1]})
    with http(api, key=key) as c:
        for kind in ("text/plain", "application/x-www-form-urlencoded", None):
            headers = {} if kind is None else {"content-type": kind}
            got = c.post(f"/v1/indexes/{name}/points", content=body, headers=headers)
            assert got.status_code == 415, (kind, got.text)
            assert "application/json" in got.json()["detail"]
        for kind in ("application/json; charset=utf-8", "application/vnd.api+json"):
            got = c.post(f"/v1/indexes/{name}/points", content=body, headers={"content-type": kind})
            assert got.status_code == 200, (kind, got.text)
