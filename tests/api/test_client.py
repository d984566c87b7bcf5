"""Creating, loading, listing and deleting indexes; the key check; the public surface."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
import redis

import vecq
from tests.support.engines import ENGINES, collection_exists
from vecq import Client, Index, IndexExistsError, IndexNotLoadedError, InvalidKeyError
from vecq.shared import keys

pytestmark = pytest.mark.engines(*ENGINES)


def unique_name() -> str:
    return f"life-{uuid.uuid4().hex[:10]}"


def test_public_surface_is_pinned() -> None:
    """vecq.__all__ is exactly the documented public surface."""
    assert sorted(vecq.__all__) == sorted(
        [
            "BackpressureTimeout",
            "BrokerUnavailable",
            "Client",
            "CorruptBlobError",
            "DimensionMismatchError",
            "EnqueueInterrupted",
            "Failure",
            "Index",
            "IndexExistsError",
            "IndexNotLoadedError",
            "InvalidIndexError",
            "InvalidInputError",
            "InvalidKeyError",
            "InvalidQueryError",
            "InvalidVectorError",
            "MirrorRefused",
            "PointsNotFoundError",
            "Progress",
            "ServiceError",
            "Settings",
            "SourceError",
            "SourceUnreachable",
            "SparseSpec",
            "Stage",
            "StorageLocked",
            "UpsertError",
            "UpsertJob",
            "VecqError",
            "VectorSpec",
            "WaitTimeout",
            "generate_key",
        ]
    )
    for name in vecq.__all__:
        assert getattr(vecq, name) is not None


def test_generate_key_is_32_random_bytes(client: Client) -> None:
    """Keys are 32 bytes and never repeat."""
    a, b = client.generate_key(), client.generate_key()
    assert len(a) == len(b) == 32
    assert a != b


def test_load_with_wrong_key_raises(client: Client, key: bytes) -> None:
    """load_index with another key raises InvalidKeyError."""
    name = unique_name()
    client.create_index(name, index_key=key, dimension=3)
    with pytest.raises(InvalidKeyError, match=name):
        client.load_index(index_name=name, index_key=client.generate_key())


def test_key_of_wrong_length_raises(client: Client) -> None:
    """A key that is not 32 bytes is rejected before any lookup."""
    with pytest.raises(InvalidKeyError, match="32 bytes"):
        client.create_index(unique_name(), index_key=b"short", dimension=3)


def test_one_key_format_everywhere(client: Client, key: bytes, tmp_path: Path) -> None:
    """The key works as 32 bytes, as the key file's hex text (str or bytes, with its newline)
    and as key_file=; giving both, or text that is not the key, is an InvalidKeyError."""
    name = unique_name()
    key_file = tmp_path / "k.key"
    key_file.write_text(key.hex() + "\n")
    client.create_index(name, key_file=key_file, dimension=3)
    for given in (key, key.hex(), key.hex().upper() + "\n", key_file.read_bytes()):
        assert client.load_index(name, given).name == name
    assert client.load_index(name, key_file=str(key_file)).name == name
    with pytest.raises(InvalidKeyError, match="not both"):
        client.load_index(name, key, key_file=key_file)
    with pytest.raises(InvalidKeyError, match="64 digits"):
        client.load_index(name, "zz" * 32)
    with pytest.raises(InvalidKeyError, match="does not match"):
        client.load_index(name, client.generate_key().hex())
    client.delete_index(name, key_file=key_file)
    assert name not in client.list_indexes()


def test_load_never_created_index_raises(client: Client, key: bytes) -> None:
    """Loading a name that was never created raises IndexNotLoadedError."""
    with pytest.raises(IndexNotLoadedError, match="does not exist"):
        client.load_index(index_name=unique_name(), index_key=key)


def test_create_existing_raises(client: Client, key: bytes) -> None:
    """A second create_index of the same name raises IndexExistsError."""
    name = unique_name()
    client.create_index(name, index_key=key, dimension=3)
    with pytest.raises(IndexExistsError):
        client.create_index(name, index_key=key, dimension=3)


@pytest.mark.parametrize(
    ("name", "dimension", "shards", "metric"),
    [
        ("a__b", 3, 1, "dot"),
        ("-x", 3, 1, "dot"),
        ("ok", 0, 1, "dot"),
        ("ok", 3, 0, "dot"),
        ("ok", 3, 1, "hamming"),
        ("x" * 64, 3, 1, "dot"),
    ],
)
def test_bad_index_parameters_raise_value_error(
    client: Client, key: bytes, name: str, dimension: int, shards: int, metric: str
) -> None:
    """Invalid names, dimensions, shard counts and metrics are rejected with ValueError."""
    with pytest.raises(ValueError, match=r"must|invalid"):
        client.create_index(name, index_key=key, dimension=dimension, shards=shards, metric=metric)


def test_deleted_index_rejects_upsert_get_and_count(
    client: Client, key: bytes, make_index: Callable[..., Index]
) -> None:
    """After delete_index every operation on the old handle raises IndexNotLoadedError."""
    index = make_index(dimension=3)
    index.upsert([(1, [1.0, 2.0, 3.0])])
    client.delete_index(index.name, index_key=key)
    for operation in (
        lambda: index.upsert([(2, [1.0, 2.0, 3.0])]),
        lambda: index.get([1]),
        index.count,
    ):
        with pytest.raises(IndexNotLoadedError):
            operation()
    with pytest.raises(IndexNotLoadedError):
        client.load_index(index_name=index.name, index_key=key)


def test_delete_drops_the_collection_and_registry(
    client: Client, key: bytes, make_index: Callable[..., Index], r: redis.Redis
) -> None:
    """delete_index removes the index's collection and the registry entry."""
    index = make_index(dimension=3, shards=3)
    index.upsert([(i, [1.0, 2.0, 3.0]) for i in range(30)])
    assert collection_exists(client.engine, index.info)
    client.delete_index(index.name, index_key=key)
    assert not collection_exists(client.engine, index.info)
    assert r.get(keys.index(index.name)) is None
    assert index.name not in client.list_indexes()


def test_delete_with_wrong_key_keeps_the_index(
    client: Client, make_index: Callable[..., Index]
) -> None:
    """delete_index with a wrong key raises and deletes nothing."""
    index = make_index()
    with pytest.raises(InvalidKeyError):
        client.delete_index(index.name, index_key=client.generate_key())
    assert index.name in client.list_indexes()


def test_recreated_index_does_not_accept_old_handle(
    client: Client, key: bytes, make_index: Callable[..., Index]
) -> None:
    """A handle from before delete+re-create cannot write into the new index."""
    old = make_index(dimension=3)
    client.delete_index(old.name, index_key=key)
    new = client.create_index(old.name, index_key=key, dimension=3)
    with pytest.raises(IndexNotLoadedError, match="load_index it again"):
        old.upsert([(1, [1.0, 1.0, 1.0])])
    new.upsert([(1, [1.0, 1.0, 1.0])])
    assert new.count() == 1


def test_list_indexes_shows_created(client: Client, make_index: Callable[..., Index]) -> None:
    """list_indexes includes a newly created index."""
    index = make_index()
    assert index.name in client.list_indexes()


def test_a_write_rate_set_at_creation_is_shared_and_can_be_changed(
    client: Client, key: bytes
) -> None:
    """``max_write_rate`` lands in the fleet's pace in Redis; ``set_max_write_rate`` moves it
    and ``None`` removes it; deleting the index removes its pace."""
    name = unique_name()
    index = client.create_index(name, key, 3, max_write_rate=1500)
    state = index.pace()
    assert state is not None and state.max_write_rate == 1500.0
    index.set_max_write_rate(40)
    assert index.pace().max_write_rate == 40.0  # type: ignore[union-attr]
    index.set_max_write_rate(None)
    assert index.pace() is None
    index.set_max_write_rate(10)
    client.delete_index(name, key)
    assert not client.redis.exists(keys.pace(name))


def test_a_negative_write_rate_creates_nothing(client: Client, key: bytes) -> None:
    """A negative cap is a ValueError before the index exists."""
    name = unique_name()
    with pytest.raises(ValueError, match="max_write_rate"):
        client.create_index(name, key, 3, max_write_rate=-1)
    assert name not in client.list_indexes()
