"""The shard function written from its definition, one id at a time: the reference the
vectorised ``shard_of`` is checked against."""

from __future__ import annotations


def shard_of_one(point_id: int, shards: int) -> int:
    """The shard of ``point_id`` among ``shards``: splitmix64, then jump consistent hash."""
    mask = (1 << 64) - 1
    z = (point_id + 0x9E3779B97F4A7C15) & mask
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & mask
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & mask
    key = z ^ (z >> 31)
    b, j = -1, 0
    while j < shards:
        b = j
        key = (key * 2862933555777941757 + 1) & mask
        j = int((b + 1) * (float(1 << 31) / float((key >> 33) + 1)))
    return b
