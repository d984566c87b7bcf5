"""Bulk mode on real Redis, a real in-process worker and local-mode Qdrant."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest
import redis

from api import Client, Index
from shared import keys


class Recording:
    """The worker's real Qdrant client, recording the indexing threshold of every update."""

    def __init__(self, real: Any) -> None:
        self.real = real
        self.thresholds: list[tuple[str, int]] = []

    def update_collection(self, name: str, **kwargs: Any) -> Any:
        self.thresholds.append((name, kwargs["optimizers_config"].indexing_threshold))
        return self.real.update_collection(name, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)


@pytest.fixture
def recording(client: Client) -> Iterator[Recording]:
    """The client's Qdrant, recording indexing-threshold changes for one test."""
    real = client.qdrant
    wrapper = Recording(real)
    client._qdrant = wrapper
    yield wrapper
    client._qdrant = real


def test_bulk_turns_indexing_off_and_restores_it_after_the_load(
    client: Client, make_index: Callable[..., Index], recording: Recording, r: redis.Redis
) -> None:
    """Inside the block every shard has threshold 0; after it, all is written and restored."""
    index = make_index(dimension=8, shards=2)
    with index.bulk(timeout=60):
        assert sorted(recording.thresholds) == sorted((c, 0) for c in index.info.collections())
        assert r.exists(keys.bulk(index.name))
        vectors = np.random.default_rng(1).standard_normal((3_000, 8), dtype=np.float32)
        index.upsert(np.arange(3_000), vectors, wait=False)
    assert index.count() == 3_000  # the exit waited for the load
    restored = recording.thresholds[2:]
    assert sorted(name for name, _ in restored) == sorted(index.info.collections())
    assert all(threshold > 0 for _, threshold in restored)
    assert not r.exists(keys.bulk(index.name))


def test_a_bulk_block_cut_short_is_finished_by_the_next(
    client: Client, make_index: Callable[..., Index], recording: Recording, r: redis.Redis
) -> None:
    """A crash inside the block leaves the saved thresholds; the next block restores them."""
    index = make_index(dimension=4, shards=1)
    (collection,) = index.info.collections()
    r.hset(keys.bulk(index.name), collection, 12_345)  # what a crashed block left behind
    with index.bulk(timeout=30):
        pass
    assert recording.thresholds == [(collection, 0), (collection, 12_345)]


def test_an_error_inside_the_block_still_restores_indexing(
    client: Client, make_index: Callable[..., Index], recording: Recording
) -> None:
    """An exception in the block restores thresholds without waiting, and propagates."""
    index = make_index(dimension=4, shards=1)
    with pytest.raises(RuntimeError, match="boom"), index.bulk():
        raise RuntimeError("boom")
    assert [t for _, t in recording.thresholds][-1] > 0
