"""Leases: one holder at a time of something named by a Redis key (one ``vecq ingest`` of a
source into an index), held while the holder lives.

A lease lasts :data:`LEASE_SECONDS` and its holder renews it from a thread, so a holder that
dies lets it go within that time; a holder on this host whose process is gone (killed) is
known at once and its lease taken over, so re-running a killed command never waits.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import threading
import time
from types import TracebackType
from typing import Any

import redis

from vecq.shared.config.processes import alive
from vecq.shared.errors import VecqError
from vecq.shared.state.scripts import Lua, Value

LEASE_SECONDS = 30.0
_TAKE = Lua("lease_take")
_KEEP = Lua("lease_keep")


class LeaseHeld(VecqError):
    """Someone else holds the lease; ``holder`` says who (pid, host, since)."""

    def __init__(self, message: str, holder: dict[str, Any]) -> None:
        super().__init__(message)
        self.holder = holder


class Lease:
    """``with Lease(r, key, what):`` holds ``key`` for the block, or raises :class:`LeaseHeld`
    saying who holds it (``what`` names the work in the message)."""

    def __init__(self, r: redis.Redis, key: str, what: str, advice: str = "") -> None:
        self._r = r
        self._key = key
        self._what = what
        self._advice = advice
        self._me = {"pid": os.getpid(), "host": socket.gethostname(), "since": time.time()}
        self._token = json.dumps(self._me, sort_keys=True)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> Lease:
        if not self._take(b""):
            held = self._held()
            holder = _holder(held)
            if holder is None or not self._gone(holder) or not self._take(held or b""):
                raise self._refusal(_holder(self._held()))
        self._thread = threading.Thread(target=self._renew, name="vecq-lease", daemon=True)
        self._thread.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
        with contextlib.suppress(redis.RedisError):  # Redis gone: the lease runs out by itself
            _KEEP(self._r, keys={"lease": self._key}, args={"token": self._token, "ms": 0})

    def _take(self, stale: bytes) -> bool:
        args: dict[str, Value] = {"token": self._token, "ms": _ms(), "stale": stale}
        return bool(_TAKE(self._r, keys={"lease": self._key}, args=args))

    def _held(self) -> bytes | None:
        held: bytes | None = self._r.get(self._key)  # type: ignore[assignment]  # redis-py types every reply as a union
        return held

    def _renew(self) -> None:
        while not self._stop.wait(LEASE_SECONDS / 3):
            with contextlib.suppress(redis.RedisError):  # the work itself meets an outage
                _KEEP(self._r, keys={"lease": self._key}, args={"token": self._token, "ms": _ms()})

    def _gone(self, holder: dict[str, Any]) -> bool:
        """True if the holder ran on this host and its process is gone."""
        return holder.get("host") == self._me["host"] and not alive(int(holder.get("pid", 0)))

    def _refusal(self, holder: dict[str, Any] | None) -> LeaseHeld:
        who = "another process"
        if holder is not None:
            started = time.strftime("%H:%M:%S", time.localtime(float(holder.get("since", 0))))
            who = f"pid {holder.get('pid')} on {holder.get('host')}, since {started}"
        advice = f"; {self._advice}" if self._advice else ""
        return LeaseHeld(f"{self._what} is already running ({who}){advice}", holder or {})


def _ms() -> int:
    return int(LEASE_SECONDS * 1000)


def _holder(raw: bytes | None) -> dict[str, Any] | None:
    try:
        holder = json.loads(raw) if raw else None
    except ValueError:
        return None
    return holder if isinstance(holder, dict) else None
