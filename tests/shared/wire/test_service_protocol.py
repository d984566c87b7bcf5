"""The embedded service's calls: found from the Engine protocol, framed by its annotations."""

from __future__ import annotations

import inspect
import re
import uuid

import pytest

from vecq.api.service_proxy import ServiceProxy
from vecq.shared.engines import Attacher, Engine, Hit, StoredPoint, Writer
from vecq.shared.engines.edge import EdgeEngine
from vecq.shared.engines.server import ServerEngine
from vecq.shared.errors import IndexNotLoadedError, VecqError
from vecq.shared.points import query
from vecq.shared.points.payload_indexes import PayloadIndex
from vecq.shared.state.registry import IndexInfo
from vecq.shared.wire import service_protocol as wire


def _methods(cls: type) -> set[str]:
    return {n for n, v in vars(cls).items() if inspect.isfunction(v) and not n.startswith("_")}


def _info() -> IndexInfo:
    return IndexInfo(
        name="docs",
        uid=uuid.uuid4().hex,
        dimension=3,
        shards=2,
        metric="cosine",
        shard_function="jump",
        key_check="check",
        created_at=1.5,
    )


def test_the_service_answers_every_engine_call_and_no_other() -> None:
    """The calls served are the Engine protocol's methods (close aside), none hand-listed."""
    assert wire.engine_calls() == _methods(Engine) - {"close"}
    assert "retrieve" in wire.engine_calls() and "write" not in wire.engine_calls()


def test_the_proxy_is_an_engine_and_no_more() -> None:
    """ServiceProxy has exactly the Engine protocol's methods: none that exists only to raise."""
    assert _methods(ServiceProxy) == _methods(Engine)


def test_both_engines_implement_reads_writes_and_only_a_server_attaches() -> None:
    """Edge and the qdrant-client engine implement Engine and Writer; only the latter attaches."""
    for engine in (EdgeEngine, ServerEngine):
        assert _methods(Engine) | _methods(Writer) <= _methods(engine), engine
    assert _methods(Attacher) <= _methods(ServerEngine)
    assert not _methods(Attacher) & _methods(EdgeEngine)


def test_records_travel_as_their_fields_and_come_back_as_records() -> None:
    """An IndexInfo and a PayloadIndex argument arrive on the service side as themselves."""
    info, index = _info(), PayloadIndex("lang", "keyword", False, False)
    raw = wire.request("create_payload_index", "reply-key", info=info, index=index)
    op, reply_to, args = wire.parse_request(raw)
    assert (op, reply_to) == ("create_payload_index", "reply-key")
    assert wire.decode_args(op, args) == {"info": info, "index": index}


@pytest.mark.parametrize(
    ("op", "value"),
    [
        ("count", 42),
        ("pause_indexing", 20_000),
        ("create", None),
        ("retrieve", [StoredPoint(7, [0.5, 0.25, 1.0], {"lang": "en"})]),
        ("scroll_page", ([StoredPoint("a-uuid", [1.0, 2.0, 3.0], {})], 8)),
        ("scroll_page", ([], None)),
        ("payload_indexes", [PayloadIndex("tenant", "keyword", True, False)]),
        ("query", [Hit(7, 0.75, [], {"lang": "en"}), Hit("a-uuid", -0.5, [1.0, 2.0], {})]),
        ("query", [Hit(1, 2.0, {"d": [1.0], "s": {"indices": [4], "values": [0.5]}}, {})]),
        ("query", []),
    ],
)
def test_every_result_round_trips(op: str, value: object) -> None:
    """What an engine returns is what the proxy's caller gets, vectors as raw floats."""
    assert wire.decode_result(op, wire.encode_result(op, value)) == value


def test_a_search_arrives_as_itself() -> None:
    """A Search argument, prefetches and filters included, arrives on the service side whole."""
    search = query.build(
        None, 3, [1, 0, 0], filter={"lang": "en"}, prefetch=[{"vector": [0, 1, 0], "limit": 5}]
    )
    _, _, args = wire.parse_request(wire.request("query", "r", info=_info(), search=search))
    assert wire.decode_args("query", args)["search"] == search


def test_a_failure_comes_back_as_its_own_error_class() -> None:
    """vecq's errors are raised again as themselves; anything else as a VecqError naming it."""
    with pytest.raises(IndexNotLoadedError, match="no such index"):
        wire.decode_result("count", wire.failure(IndexNotLoadedError("no such index")))
    with pytest.raises(VecqError, match="KeyError"):
        wire.decode_result("count", wire.failure(KeyError("boom")))


def test_an_engines_own_error_names_the_engine_it_came_from() -> None:
    """A service started with an unreachable Qdrant says which one, not only 'refused'."""
    where = "Qdrant server at http://qdrant.internal:6333"
    with pytest.raises(VecqError, match=rf"ConnectionRefusedError: {re.escape(where)}: refused"):
        wire.decode_result("count", wire.failure(ConnectionRefusedError("refused"), where))
    with pytest.raises(IndexNotLoadedError, match=r"^no such index$"):  # vecq's own: as is
        wire.decode_result("count", wire.failure(IndexNotLoadedError("no such index"), where))
