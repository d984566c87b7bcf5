"""Redis memory helpers: how in-flight bytes are counted, and how Redis refusing memory is seen."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import redis

from tests.support.services import RedisServer
from vecq.api.producer import fit_size_class
from vecq.shared import keys
from vecq.shared.state import ledger
from vecq.shared.state.redis_memory import footprint, out_of_memory
from vecq.shared.wire.messages import BatchRef


@pytest.mark.parametrize(
    ("nbytes", "allocated"),
    [(100, 112), (4 * 2**20, 4 * 2**20), (6_307_872, 7 * 2**20), (5 * 2**20 + 1, 6 * 2**20)],
)
def test_footprint_rounds_to_redis_allocator_size_classes(nbytes: int, allocated: int) -> None:
    """In-flight bytes count what jemalloc allocates: four size classes per doubling."""
    assert footprint(nbytes) == allocated


@pytest.mark.parametrize("dim", [384, 768, 1024, 1536])
def test_planned_batches_fill_an_allocation_class(dim: int) -> None:
    """A full batch's vectors fit the size class below the one 2,048 rows would need."""
    row = 8 + 4 * dim
    rows = fit_size_class(2048, row)
    assert 2048 * 3 // 4 <= rows <= 2048
    blob = rows * row + 512
    assert footprint(blob) - blob < footprint(2048 * row) - 2048 * row or rows == 2048


def test_out_of_memory_is_recognised_from_a_command_and_from_a_script(
    redis_server: Callable[..., RedisServer],
) -> None:
    """maxmemory refusals: OutOfMemoryError from a SET, a ResponseError from the ledger script."""
    server = redis_server("--maxmemory-policy", "noeviction")
    r = redis.Redis.from_url(server.url)
    for i in range(20):
        r.set(f"fill:{i}", b"x" * 100_000)
    # Well below what is in use, so every write that may add memory is refused.
    r.config_set("maxmemory", int(r.info("memory")["used_memory"]) // 2)
    with pytest.raises(redis.OutOfMemoryError) as plain:
        r.set("one-more", b"x" * 100_000)
    assert out_of_memory(plain.value)
    pipe = r.pipeline(transaction=False)
    ledger.mark_stored(pipe, BatchRef("oom", 0, 1, "job", 10, 1_000))
    with pytest.raises(redis.ResponseError) as scripted:
        pipe.execute()
    assert not isinstance(scripted.value, redis.OutOfMemoryError)
    assert out_of_memory(scripted.value)
    assert not r.exists(keys.job_batches("job"))  # the refused script wrote nothing
    assert not out_of_memory(redis.ResponseError("WRONGTYPE Operation against a key"))
    r.close()
