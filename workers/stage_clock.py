"""Where a worker's time goes: seconds per stage of processing a batch, summed over threads.

The stages are ``fetch`` (GET the blob), ``decode`` (parse and checksum it), ``validate``
(the worker's second look), ``encode`` (building qdrant-client's request objects),
``sink`` (the Qdrant calls themselves) and ``ledger`` (delivery counter and settlement).
``bench/worker.py`` prints them; everything but ``encode`` and ``sink`` is vecq's own cost.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator

STAGES = ("fetch", "decode", "validate", "encode", "sink", "ledger")


class StageClock:
    """Accumulates wall-clock seconds per stage; cheap enough to stay on in production."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._seconds = dict.fromkeys(STAGES, 0.0)

    @contextlib.contextmanager
    def stage(self, name: str) -> Iterator[None]:
        """Time the block as part of stage ``name``."""
        start = time.perf_counter()
        try:
            yield
        finally:
            elapsed = time.perf_counter() - start
            with self._lock:
                self._seconds[name] += elapsed

    def snapshot(self) -> dict[str, float]:
        """Seconds per stage so far."""
        with self._lock:
            return dict(self._seconds)

    def reset(self) -> None:
        """Start counting from zero."""
        with self._lock:
            self._seconds = dict.fromkeys(STAGES, 0.0)
