"""POST /v1/indexes/{name}/query: searches over HTTP, as the library answers them."""

from __future__ import annotations

import base64

import httpx

from tests.support.http_server import Served, http


def _fill(api: Served, name: str, key: bytes) -> None:
    items = [
        {
            "id": 1,
            "vector": [1.0, 0.0, 0.0],
            "item": base64.b64encode(b"one").decode(),
            "metadata": {"lang": "en"},
        },
        {"id": "doc-2", "vector": [0.5, 0.5, 0.0], "metadata": {"lang": "fr"}},
        {"id": 3, "vector": [0.0, 0.0, 1.0], "metadata": {"lang": "en"}},
    ]
    with http(api, key=key) as c:
        done = c.post(f"/v1/indexes/{name}/upsert", params={"wait": "true"}, json={"items": items})
        assert done.status_code == 200, done.text


def test_a_reader_searches_best_first_with_filters_and_items(
    api: Served, index: tuple[str, bytes]
) -> None:
    name, key = index
    _fill(api, name, key)
    with http(api, "reader", key=key) as c:
        got = c.post(f"/v1/indexes/{name}/query", json={"vector": [2.0, 1.0, 0.0], "limit": 2})
        assert got.status_code == 200, got.text
        assert got.json() == {
            "results": [
                {"id": 1, "score": 2.0, "metadata": {"lang": "en"}, "item": None, "vector": None},
                {
                    "id": "doc-2",
                    "score": 1.5,
                    "metadata": {"lang": "fr"},
                    "item": None,
                    "vector": None,
                },
            ]
        }
        body = {"vector": [2.0, 1.0, 0.0], "filter": {"lang": "en"}, "with_items": True}
        found = c.post(f"/v1/indexes/{name}/query", json=body).json()["results"]
        assert [r["id"] for r in found] == [1, 3]
        assert base64.b64decode(found[0]["item"]) == b"one" and found[1]["item"] is None
        fused = c.post(
            f"/v1/indexes/{name}/query",
            json={"prefetch": [{"vector": [1.0, 0.0, 0.0]}, {"vector": [0.0, 0.0, 1.0]}]},
        )
        assert fused.status_code == 200, fused.text
        assert {r["id"] for r in fused.json()["results"]} == {1, "doc-2", 3}


def test_a_bad_search_is_422_saying_what(api: Served, index: tuple[str, bytes]) -> None:
    name, key = index
    with http(api, "reader", key=key) as c:
        short = c.post(f"/v1/indexes/{name}/query", json={"vector": [1.0, 0.0]})
        assert short.status_code == 422
        assert "has 2 values; the index's has 3" in short.text
        for body in (
            {"vector": [True, False, True]},
            {"vector": ["1", "2", "3"]},
            {"vector": [1.0, 0.0, 0.0], "limit": 0},
            {"vector": [1.0, 0.0, 0.0], "limit": "5"},
            {"vector": [1.0, 0.0, 0.0], "unknown": 1},
            {"vector": [1.0, 0.0, 0.0], "filter": {"must": 7}},
            {"vector": [1.0, 0.0, 0.0], "fusion": "max"},
            {},
        ):
            refused = c.post(f"/v1/indexes/{name}/query", json=body)
            assert refused.status_code == 422, (body, refused.text)


def test_searching_needs_a_token_allowed_to_read_the_index(
    api: Served, index: tuple[str, bytes]
) -> None:
    name, key = index
    anonymous = httpx.post(f"{api.url}/v1/indexes/{name}/query", json={"vector": [1, 0, 0]})
    assert anonymous.status_code == 401
    with http(api, "reader", key=bytes(32)) as c:
        wrong_key = c.post(f"/v1/indexes/{name}/query", json={"vector": [1.0, 0.0, 0.0]})
        assert wrong_key.status_code == 403
    with http(api, "stranger", key=key) as c:
        not_granted = c.post(f"/v1/indexes/{name}/query", json={"vector": [1.0, 0.0, 0.0]})
        assert not_granted.status_code == 403, not_granted.text


def test_a_body_nested_past_any_parser_is_refused_not_a_crash(
    api: Served, index: tuple[str, bytes]
) -> None:
    """A filter nested 50,000 deep (under the size limit) is a client error, and the API lives."""
    name, key = index
    deep = '{"vector": [1, 0, 0], "filter": ' + '{"must": [' * 50_000 + "{}" + "]}" * 50_000 + "}"
    with http(api, "reader", key=key) as c:
        refused = c.post(
            f"/v1/indexes/{name}/query", content=deep, headers={"content-type": "application/json"}
        )
        assert refused.status_code == 400, refused.text
        still = c.post(f"/v1/indexes/{name}/query", json={"vector": [1.0, 0.0, 0.0]})
        assert still.status_code == 200
