"""Payload indexes: declared at creation or added later, checked whole, made by each engine."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
from qdrant_edge import EdgeShard

from vecq import Client, InvalidInputError
from vecq.api import launcher
from vecq.shared.points.payload_indexes import PayloadIndex, parse, parse_flag
from vecq.shared.state import registry

pytestmark = pytest.mark.engines("edge", "local")

DECLARED = {
    "lang": "keyword",
    "year": {"type": "integer", "is_principal": True},
    "tenant": {"type": "keyword", "is_tenant": True},
    "seen": "datetime",
}
EXPECTED = {
    "lang": {"type": "keyword", "is_tenant": False, "is_principal": False},
    "seen": {"type": "datetime", "is_tenant": False, "is_principal": False},
    "tenant": {"type": "keyword", "is_tenant": True, "is_principal": False},
    "year": {"type": "integer", "is_tenant": False, "is_principal": True},
}


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"lang": "keywords"}, r"'lang': type 'keywords' is not one of keyword, integer"),
        ({"year": {"type": "integer", "is_tenant": True}}, "'year': is_tenant applies to keyword"),
        ({"lang": {"type": "keyword", "is_principal": True}}, "'lang': is_principal applies"),
        ({"_vecq_seq": "integer"}, "'_vecq_seq': fields starting with '_vecq' are vecq's own"),
        ({"": "keyword"}, "payload index field '': use a non-empty string"),
        ({"lang": {"kind": "keyword"}}, "'lang': give a type name or a dict with 'type'"),
        ({"lang": {"type": "keyword", "tenant": True}}, r"unknown option\(s\) \['tenant'\]"),
        (["lang"], "payload_indexes must map field names to types, not list"),
    ],
)
def test_a_bad_spec_is_refused_naming_the_field(spec: Any, message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        parse(spec)


def test_the_command_line_form() -> None:
    assert parse_flag("lang:keyword") == PayloadIndex("lang", "keyword")
    assert parse_flag("t:uuid:tenant") == PayloadIndex("t", "uuid", is_tenant=True)
    assert parse_flag("at:datetime:principal").describe() == "at:datetime:principal"
    for bad in ("lang", "lang:keyword:fast", ":keyword", "a:b:c:d"):
        with pytest.raises(InvalidInputError, match="--payload-index"):
            parse_flag(bad)


def test_declared_at_creation_and_added_later(client: Client, key: bytes) -> None:
    """Edge holds each index as declared (read back through Edge's own shard info); local
    mode has none, as qdrant-client documents, and accepts the same calls."""
    name = f"p-{uuid.uuid4().hex[:10]}"
    index = client.create_index(name, key, 3, payload_indexes=DECLARED)
    index.upsert(
        [(i, [1.0, 0.5, float(i)], None, {"lang": "en", "year": 2000 + i}) for i in range(20)]
    )
    index.create_payload_index("city", "text")
    if client.settings.engine == "local":
        assert index.payload_indexes() == {}
        return
    assert index.payload_indexes() == {
        **EXPECTED,
        "city": {"type": "text", "is_tenant": False, "is_principal": False},
    }
    shard = client.engine.shard(index.info)  # type: ignore[attr-defined]  # Edge's own object
    schema = shard.info().payload_schema
    assert set(schema) == {"_vecq_seq", "lang", "year", "tenant", "seen", "city"}
    assert schema["year"].points == 20 and schema["tenant"].params.is_tenant


def test_a_bad_spec_creates_nothing(client: Client, key: bytes) -> None:
    name = f"p-{uuid.uuid4().hex[:10]}"
    with pytest.raises(InvalidInputError, match="'year': is_tenant"):
        client.create_index(
            name,
            key,
            3,
            payload_indexes={"lang": "keyword", "year": {"type": "integer", "is_tenant": True}},
        )
    assert name not in client.list_indexes()
    assert name not in registry.names(client.redis)


def test_through_the_embedded_service_and_the_command_line(data_dir: Path, tmp_path: Path) -> None:
    """`vecq index create --payload-index`, then describe; the library's calls go through
    the service; once it is down Edge itself shows the indexes in the shard folder."""

    def vecq(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "vecq.api.cli", *args],
            capture_output=True,
            text=True,
            timeout=120,
        )

    key_file = tmp_path / "shop.key"
    bad = vecq(
        "index",
        "create",
        "shop",
        "--dimension",
        "3",
        "--key-file",
        str(key_file),
        "--payload-index",
        "lang:keywords",
    )
    assert bad.returncode == 2 and "'lang': type 'keywords'" in bad.stderr, bad.stderr
    made = vecq(
        "index",
        "create",
        "shop",
        "--dimension",
        "3",
        "--key-file",
        str(key_file),
        "--payload-index",
        "lang:keyword",
        "--payload-index",
        "t:keyword:tenant",
    )
    assert made.returncode == 0, made.stderr
    described = json.loads(vecq("index", "describe", "shop", "--json").stdout)
    assert described["payload_indexes"] == ["lang:keyword", "t:keyword:tenant"]
    with Client() as client:
        index = client.load_index("shop", key_file=key_file)
        index.create_payload_index("year", {"type": "integer", "is_principal": True})
        assert set(index.payload_indexes()) == {"lang", "t", "year"}
    launcher.stop(data_dir)
    shard = EdgeShard.load(str(data_dir / "edge" / "shop"))
    try:
        assert set(shard.info().payload_schema) == {"_vecq_seq", "lang", "t", "year"}
    finally:
        shard.close()
