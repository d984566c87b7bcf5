"""How Redis spends memory on vecq's values, and how it says it has none left."""

from __future__ import annotations

import redis


def out_of_memory(exc: BaseException) -> bool:
    """True if Redis refused a write for ``maxmemory``: directly, or inside one of our scripts.

    A command refused for memory raises ``OutOfMemoryError``; the same refusal of a write
    inside a Lua script comes back as a plain ``ResponseError`` ("Error running script ...
    -OOM command not allowed ..."). Scripts here make their first write before anything
    else, so a refused script has written nothing.
    """
    if isinstance(exc, redis.OutOfMemoryError):
        return True
    return isinstance(exc, redis.ResponseError) and "OOM command not allowed" in str(exc)


def footprint(nbytes: int) -> int:
    """The memory Redis spends on a value of ``nbytes``: its allocator's size class.

    jemalloc (Redis's allocator) has four size classes per doubling, so a large value is
    rounded up to the next quarter step: a 6.02 MiB blob takes 7 MiB. In-flight bytes are
    counted this way, so that ``max_inflight_bytes`` bounds Redis's actual memory.
    """
    if nbytes <= 16:
        return 16
    step = 1 << max(3, (nbytes - 1).bit_length() - 3)
    return -(-nbytes // step) * step
