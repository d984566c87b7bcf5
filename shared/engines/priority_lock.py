"""Serialise every call into an object that is not thread-safe (Qdrant local mode is not).

Calls made inside :func:`urgent` go ahead of the queue: the live lane's one-vector writes
wait for the call in progress, never for the backlog of bulk writes behind it.
"""

from __future__ import annotations

import contextlib
import functools
import threading
import warnings
from collections.abc import Iterator
from typing import Any

_flags = threading.local()


@contextlib.contextmanager
def urgent() -> Iterator[None]:
    """Within this block, this thread's serialised calls take the lock before other threads'."""
    before = getattr(_flags, "urgent", False)
    _flags.urgent = True
    try:
        yield
    finally:
        _flags.urgent = before


class PriorityLock:
    """A re-entrant lock that hands over to urgent waiters before ordinary ones."""

    def __init__(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._owner: int | None = None
        self._depth = 0
        self._urgent_waiting = 0

    def __enter__(self) -> None:
        me = threading.get_ident()
        with self._cond:
            if self._owner == me:
                self._depth += 1
                return
            if getattr(_flags, "urgent", False):
                self._urgent_waiting += 1
                try:
                    self._cond.wait_for(lambda: self._owner is None)
                finally:
                    self._urgent_waiting -= 1
            else:
                self._cond.wait_for(lambda: self._owner is None and not self._urgent_waiting)
            self._owner, self._depth = me, 1

    def __exit__(self, *exc: object) -> None:
        with self._cond:
            self._depth -= 1
            if self._depth == 0:
                self._owner = None
                self._cond.notify_all()


class Serialized:
    """Proxy running each method call of the wrapped object under one priority lock."""

    def __init__(
        self, target: Any, lock: PriorityLock | None = None, quiet: tuple[str, ...] = ()
    ) -> None:
        self._target = target
        self._lock = lock or PriorityLock()
        self._quiet = quiet
        """Warning messages (regex prefixes) silenced during calls; the lock makes that safe."""

    @property
    def target(self) -> Any:
        """The wrapped object (call it only while holding :attr:`lock`)."""
        return self._target

    @property
    def lock(self) -> PriorityLock:
        """The lock every proxied call takes."""
        return self._lock

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._target, name)
        if not callable(attr):
            return attr

        @functools.wraps(attr)
        def locked(*args: Any, **kwargs: Any) -> Any:
            with self._lock:
                if not self._quiet:
                    return attr(*args, **kwargs)
                with warnings.catch_warnings():
                    for message in self._quiet:
                        warnings.filterwarnings("ignore", message=message)
                    return attr(*args, **kwargs)

        return locked
