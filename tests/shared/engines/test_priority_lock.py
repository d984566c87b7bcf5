"""The lock that serialises local-mode Qdrant calls, with urgent callers first."""

from __future__ import annotations

import threading
import time

from vecq.shared.engines.priority_lock import PriorityLock, Serialized, urgent


def _wait_until(predicate, timeout: float = 5.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


def test_urgent_waiter_goes_before_an_ordinary_one_that_waited_longer() -> None:
    """When the holder releases, a thread inside urgent() gets the lock before earlier waiters."""
    lock = PriorityLock()
    order: list[str] = []
    waiting: list[str] = []

    def take(name: str, is_urgent: bool) -> None:
        waiting.append(name)
        if is_urgent:
            with urgent(), lock:
                order.append(name)
        else:
            with lock:
                order.append(name)

    with lock:
        bulk = threading.Thread(target=take, args=("bulk", False))
        bulk.start()
        _wait_until(lambda: "bulk" in waiting)
        time.sleep(0.05)
        live = threading.Thread(target=take, args=("live", True))
        live.start()
        _wait_until(lambda: "live" in waiting)
        time.sleep(0.05)
    bulk.join(5)
    live.join(5)
    assert order == ["live", "bulk"]


def test_the_lock_is_reentrant_and_serialises_calls() -> None:
    """Nested acquisition by the holder works; two threads never run proxied calls at once."""
    lock = PriorityLock()
    with lock, lock:
        pass
    inside = [0]
    overlaps = [0]

    class Target:
        def work(self) -> None:
            inside[0] += 1
            if inside[0] > 1:
                overlaps[0] += 1
            time.sleep(0.001)
            inside[0] -= 1

    proxy = Serialized(Target(), lock)
    threads = [threading.Thread(target=lambda: [proxy.work() for _ in range(30)]) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert overlaps[0] == 0
