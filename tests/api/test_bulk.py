"""Bulk mode on real Redis, a real in-process worker and real engines (Edge, local mode)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import redis

from tests.support.engines import ENGINES
from vecq import Client, Index
from vecq.api.session import Session
from vecq.shared import keys
from vecq.shared.state.registry import IndexInfo

pytestmark = pytest.mark.engines(*ENGINES)


class Recording:
    """The client's real engine, recording what bulk mode asks of it."""

    def __init__(self, real: Any) -> None:
        self.real = real
        self.calls: list[tuple[str, int]] = []
        self.indexed_after: list[int] = []
        """Points the index held each time indexing was resumed (the load had drained)."""

    def pause_indexing(self, info: IndexInfo) -> int:
        saved = self.real.pause_indexing(info)
        self.calls.append(("pause", saved))
        return int(saved)

    def resume_indexing(self, info: IndexInfo, saved: int, timeout: float | None) -> None:
        self.calls.append(("resume", saved))
        self.indexed_after.append(self.real.count(info))
        self.real.resume_indexing(info, saved, timeout)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)


@pytest.fixture
def recording(client: Client, monkeypatch: pytest.MonkeyPatch) -> Recording:
    """The client's engine (its session's), recording bulk mode's calls for one test."""
    wrapper = Recording(client.engine)
    monkeypatch.setattr(Session, "engine", property(lambda _: wrapper))
    return wrapper


class Thresholds:
    """A real qdrant-client, recording the indexing threshold of every collection update (what
    a server would be told; local mode accepts it and builds no index)."""

    def __init__(self, real: Any) -> None:
        self.real = real
        self.set: list[int] = []

    def update_collection(self, name: str, **kwargs: Any) -> Any:
        self.set.append(kwargs["optimizers_config"].indexing_threshold)
        return self.real.update_collection(name, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)


def test_bulk_turns_indexing_off_and_restores_it_after_the_load(
    client: Client,
    make_index: Callable[..., Index],
    recording: Recording,
    r: redis.Redis,
    engine: str,
) -> None:
    """Inside the block indexing is off; after it, everything is written, then indexed."""
    index = make_index(dimension=8, shards=2)
    if engine == "local":
        thresholds = Thresholds(recording.real.client)
        recording.real.client = thresholds
    with index.bulk(timeout=60):
        assert recording.calls[0][0] == "pause" and r.exists(keys.bulk(index.name))
        if engine == "local":
            assert thresholds.set == [0]
        vectors = np.random.default_rng(1).standard_normal((3_000, 8), dtype=np.float32)
        index.upsert(np.arange(3_000), vectors, wait=False)
    assert index.count() == 3_000
    assert recording.indexed_after == [3_000]  # indexing came back after the load drained
    (_, saved), (_, restored) = recording.calls
    assert restored == saved
    if engine == "local":
        recording.real.client = thresholds.real
        assert thresholds.set == [0, saved] and saved > 0
    assert not r.exists(keys.bulk(index.name))


def test_a_bulk_block_cut_short_is_finished_by_the_next(
    client: Client, make_index: Callable[..., Index], recording: Recording, r: redis.Redis
) -> None:
    """A crash inside the block leaves the saved threshold; the next block restores it."""
    index = make_index(dimension=4, shards=1)
    r.hset(keys.bulk(index.name), "indexing_threshold", 12_345)  # what a crashed block left
    with index.bulk(timeout=30):
        pass
    assert recording.calls[-1] == ("resume", 12_345)


def test_an_error_inside_the_block_still_restores_indexing(
    client: Client, make_index: Callable[..., Index], recording: Recording
) -> None:
    """An exception in the block restores indexing without waiting for a load, and propagates."""
    index = make_index(dimension=4, shards=1)
    with pytest.raises(RuntimeError, match="boom"), index.bulk():
        raise RuntimeError("boom")
    assert [name for name, _ in recording.calls] == ["pause", "resume"]


@pytest.mark.engines("edge")
def test_edge_builds_its_hnsw_index_when_the_bulk_load_ends(
    client: Client, make_index: Callable[..., Index]
) -> None:
    """Edge indexes only in optimize(): none during the load, the whole graph on leaving."""
    index = make_index(dimension=256, shards=2)
    vectors = np.random.default_rng(2).standard_normal((15_000, 256), dtype=np.float32)
    with index.bulk(timeout=120):
        index.upsert(np.arange(15_000), vectors, wait=False).wait(60)
        shard = client.engine.shard(index.info)  # type: ignore[attr-defined]  # an EdgeEngine
        assert shard.info().indexed_vectors_count == 0
    assert shard.info().indexed_vectors_count == 15_000
    assert index.count() == 15_000
