"""Serialise every call into an object that is not thread-safe (Qdrant local mode is not)."""

from __future__ import annotations

import functools
import threading
from typing import Any


class Serialized:
    """Proxy running each method call of the wrapped object under one re-entrant lock."""

    def __init__(self, target: Any, lock: threading.RLock | None = None) -> None:
        self._target = target
        self._lock = lock or threading.RLock()

    @property
    def target(self) -> Any:
        """The wrapped object (call it only while holding :attr:`lock`)."""
        return self._target

    @property
    def lock(self) -> threading.RLock:
        """The lock every proxied call takes."""
        return self._lock

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._target, name)
        if not callable(attr):
            return attr

        @functools.wraps(attr)
        def locked(*args: Any, **kwargs: Any) -> Any:
            with self._lock:
                return attr(*args, **kwargs)

        return locked
