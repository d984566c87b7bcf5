"""The HTTP API's bearer tokens and index keys: who may do what, and what a wrong one gets."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.support.http_server import Served, http
from vecq.api.http.auth import Tokens


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


def test_index_key_is_checked(api: Served, index: tuple[str, bytes]) -> None:
    """No key or a malformed one is 400; a wrong key is 403."""
    name, _ = index
    with http(api) as c:
        assert c.get(f"/v1/indexes/{name}").json()["error"] == "MissingIndexKey"
        malformed = c.get(f"/v1/indexes/{name}", headers={"X-Index-Key": "zz"})
        assert malformed.status_code == 400
        wrong = c.get(f"/v1/indexes/{name}", headers={"X-Index-Key": "00" * 32})
        assert wrong.status_code == 403 and wrong.json()["error"] == "InvalidKeyError"


def test_tokens_file_errors_name_the_entry(tmp_path: Path) -> None:
    """A bad tokens file raises ValueError naming the entry and field."""
    path = tmp_path / "t.toml"
    path.write_text(f'[tokens.etl]\nsha256 = "{"a" * 64}"\nindexes = ["*"]\naccess = "admin"\n')
    with pytest.raises(ValueError, match=r"tokens\.etl\.access"):
        Tokens.from_file(path)
    path.write_text(f'[tokens.etl]\nsha256 = "{"a" * 64}"\nindexes = "*"\naccess = "read"\n')
    with pytest.raises(ValueError, match=r"tokens\.etl\.indexes"):
        Tokens.from_file(path)
