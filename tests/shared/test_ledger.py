"""Ledger helpers that need no Redis: how in-flight bytes are counted."""

from __future__ import annotations

import pytest

from api.producer import _fit_size_class
from shared import ledger


@pytest.mark.parametrize(
    ("nbytes", "allocated"),
    [(100, 112), (4 * 2**20, 4 * 2**20), (6_307_872, 7 * 2**20), (5 * 2**20 + 1, 6 * 2**20)],
)
def test_footprint_rounds_to_redis_allocator_size_classes(nbytes: int, allocated: int) -> None:
    """In-flight bytes count what jemalloc allocates: four size classes per doubling."""
    assert ledger.footprint(nbytes) == allocated


@pytest.mark.parametrize("dim", [384, 768, 1024, 1536])
def test_planned_batches_fill_an_allocation_class(dim: int) -> None:
    """A full batch's vectors fit the size class below the one 2,048 rows would need."""
    row = 8 + 4 * dim
    rows = _fit_size_class(2048, row)
    assert 2048 * 3 // 4 <= rows <= 2048
    blob = rows * row + 512
    assert ledger.footprint(blob) - blob < ledger.footprint(2048 * row) - 2048 * row or rows == 2048
