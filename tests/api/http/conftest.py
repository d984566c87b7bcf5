"""Fixtures of the HTTP API tests: the API served on loopback with test tokens, and an index."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from tests.support.http_server import Served, http, serve, tokens_file
from vecq import Client
from vecq.api.http.auth import Tokens


@pytest.fixture(scope="module")
def api(client: Client, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """The API with the test tokens, over the module's worker client."""
    path = tokens_file(tmp_path_factory.mktemp("tokens") / "tokens.toml")
    with serve(client, Tokens.from_file(path), max_body_bytes=1024 * 1024) as served:
        yield served


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
