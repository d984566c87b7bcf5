"""String ids: the documented UUID, the shard key, and the id rules."""

from __future__ import annotations

import uuid

import numpy as np
import pytest

from tests.support.sharding import shard_of_one
from vecq.shared.errors import InvalidVectorError
from vecq.shared.points import ids
from vecq.shared.points.ids import check_id_array
from vecq.shared.points.sharding import shard_of
from vecq.shared.points.validation import deletions


def test_a_string_id_lives_under_uuid5_of_the_documented_namespace() -> None:
    """Anyone can compute a string id's point id with the standard library alone."""
    documented = uuid.UUID("724cdcbb-be4a-521f-9bef-3aa8ca6eab94")
    assert documented == uuid.uuid5(uuid.NAMESPACE_DNS, "ids.vecq")
    assert ids.point_uuid("doc-42") == str(uuid.uuid5(documented, "doc-42"))


def test_a_string_key_is_the_uuid_prefix_and_shards_like_an_integer() -> None:
    """The key is the UUID's first 8 bytes with the top bit cleared; the shard hash takes it."""
    key = ids.string_key("doc-42")
    raw = uuid.UUID(ids.point_uuid("doc-42")).bytes
    assert key == int.from_bytes(raw[:8], "big") & (2**63 - 1)
    names = [f"doc-{i}" for i in range(2000)]
    keys = np.array([ids.string_key(n) for n in names], dtype=np.int64)
    shards = shard_of(keys, 8)
    assert [shard_of_one(int(k), 8) for k in keys[:50]] == shards[:50].tolist()
    assert np.bincount(shards, minlength=8).min() > 180  # spread evenly


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ("", "empty string"),
        ("\ud800", "lone surrogate"),
        ("é" * 257, "longer than 512"),
        (b"7", "ids must be integers or non-empty strings"),
        (None, "NoneType"),
    ],
)
def test_bad_string_ids_are_named(value: object, fragment: str) -> None:
    """Empty, unencodable, too long, or not a string at all: the row and why."""
    with pytest.raises(InvalidVectorError, match=fragment) as caught:
        ids.check_id(value, 4)
    assert caught.value.row == 4


def test_mixed_ids_keep_their_types() -> None:
    """A list mixing integers and strings stays mixed (NumPy would make them all strings);
    integer 7 and string "7" are different ids."""
    keys, names = check_id_array([7, "7", "a"])
    assert names == [None, "7", "a"] and int(keys[0]) == 7
    points = deletions([7, "7", 7, np.str_("a")])
    assert points.caller_ids() == ["7", 7, "a"]
