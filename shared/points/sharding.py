"""Which shard an id belongs to: jump consistent hash over splitmix64, vectorised.

``shard_of(id, n)`` is defined as::

    key = splitmix64(id)                # the finaliser of Vigna's splitmix64, mod 2**64
    b, j = -1, 0
    while j < n:                        # Lamping & Veach, "A Fast, Minimal Memory,
        b = j                           # Consistent Hash Algorithm" (2014)
        key = key * 2862933555777941757 + 1            (mod 2**64)
        j = floor((b + 1) * 2**31 / ((key >> 33) + 1))
    return b

splitmix64 spreads sequential ids evenly before the jump hash; jump hash moves only
``1/(n+1)`` of the ids when a shard is added. The function is recorded by name
(``vecq.shared.keys.SHARD_FUNCTION``) in every index's registry entry and never changes silently.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
_JUMP_MUL = np.uint64(2862933555777941757)
_ONE = np.uint64(1)


def splitmix64(ids: npt.NDArray[np.integer]) -> npt.NDArray[np.uint64]:
    """Mix 64-bit ids into well-spread 64-bit keys (arithmetic wraps mod 2**64)."""
    z = ids.astype(np.uint64, copy=True)
    z += _GOLDEN
    z ^= z >> np.uint64(30)
    z *= _MIX1
    z ^= z >> np.uint64(27)
    z *= _MIX2
    z ^= z >> np.uint64(31)
    return z


def shard_of(ids: npt.NDArray[np.integer], shards: int) -> npt.NDArray[np.int64]:
    """Return the shard (``0 <= s < shards``) of every id, as an int64 array."""
    if shards < 1:
        raise ValueError(f"shards must be >= 1, got {shards}")
    n = ids.shape[0]
    result = np.zeros(n, dtype=np.int64)
    if shards == 1 or n == 0:
        return result
    keys = splitmix64(ids)
    # Every id starts active at bucket 0; each round advances the still-active ones.
    active = np.arange(n)
    b = np.zeros(n, dtype=np.int64)
    j = np.zeros(n, dtype=np.int64)
    while active.size:
        b_act = j[active]
        b[active] = b_act
        k = keys[active] * _JUMP_MUL + _ONE
        keys[active] = k
        # Same operation order as the scalar reference (tests/support/sharding.py), so both
        # round identically.
        jump = (b_act + 1).astype(np.float64) * (
            float(1 << 31) / ((k >> np.uint64(33)).astype(np.float64) + 1.0)
        )
        j_new = np.floor(jump).astype(np.int64)
        j[active] = j_new
        active = active[j_new < shards]
    result[:] = b
    return result
