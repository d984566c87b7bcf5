"""The shard function: matches its scalar definition, is balanced, stable and consistent."""

from __future__ import annotations

import numpy as np
import pytest

from tests.support.sharding import shard_of_one
from vecq.shared.points.sharding import shard_of


@pytest.mark.parametrize("shards", [1, 2, 3, 8, 17, 256])
def test_vectorised_matches_scalar_definition(shards: int) -> None:
    """The NumPy implementation equals the scalar reference for random and edge ids."""
    rng = np.random.default_rng(1)
    ids = np.concatenate(
        [rng.integers(0, 2**63, 3000, dtype=np.int64), np.array([0, 1, 2**63 - 1], dtype=np.int64)]
    )
    got = shard_of(ids, shards)
    assert [shard_of_one(int(i), shards) for i in ids] == got.tolist()


def test_pinned_values_never_change() -> None:
    """A change to the function would move stored data: these values are part of the format."""
    ids = np.array([0, 1, 42, 123456789, 2**62], dtype=np.int64)
    assert shard_of(ids, 8).tolist() == [shard_of_one(int(i), 8) for i in ids]
    assert shard_of(ids, 8).tolist() == PINNED_8


PINNED_8 = [7, 3, 0, 4, 7]  # computed once from the definition; never edit


def test_sequential_ids_are_balanced() -> None:
    """100,000 sequential ids over 8 shards: every shard within 3% of the mean."""
    counts = np.bincount(shard_of(np.arange(100_000), 8), minlength=8)
    assert counts.min() > 0.97 * 12_500 and counts.max() < 1.03 * 12_500


def test_adding_a_shard_moves_about_one_in_n_plus_one() -> None:
    """Going from 8 to 9 shards moves ~1/9 of the ids, all of them to the new shard."""
    ids = np.arange(90_000)
    before, after = shard_of(ids, 8), shard_of(ids, 9)
    moved = before != after
    assert abs(moved.mean() - 1 / 9) < 0.01
    assert set(after[moved].tolist()) == {8}


def test_bad_shard_count_raises() -> None:
    """Zero shards is a ValueError."""
    with pytest.raises(ValueError, match="shards"):
        shard_of(np.arange(3), 0)
