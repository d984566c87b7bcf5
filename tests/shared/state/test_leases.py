"""Leases on a real Redis: one holder at a time, renewed while held, taken over from a
holder on this host whose process is gone, never from a live one or one on another host."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import uuid

import pytest
import redis

from vecq.shared.state import leases
from vecq.shared.state.leases import Lease, LeaseHeld


def _key() -> str:
    return f"vecq:test-lease:{uuid.uuid4().hex}"


def test_one_holder_at_a_time_and_the_refusal_says_who(r: redis.Redis) -> None:
    key = _key()
    with Lease(r, key, "the job", "wait for it"):
        with pytest.raises(LeaseHeld, match=r"the job is already running \(pid \d+ on .*, since "):
            Lease(r, key, "the job", "wait for it").__enter__()
        with (
            pytest.raises(LeaseHeld, match=r"; wait for it$"),
            Lease(r, key, "the job", "wait for it"),
        ):
            pass
    assert r.get(key) is None  # given back
    with Lease(r, key, "the job"):
        assert r.get(key) is not None


def test_a_lease_is_renewed_while_held(r: redis.Redis, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(leases, "LEASE_SECONDS", 0.6)
    key = _key()
    with Lease(r, key, "the job"):
        for _ in range(6):  # three times its length
            time.sleep(0.3)
            assert r.pttl(key) > 0
    assert r.get(key) is None


def test_a_dead_holder_on_this_host_is_taken_over_a_live_or_remote_one_is_not(
    r: redis.Redis,
) -> None:
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    key = _key()
    host = socket.gethostname()
    r.set(key, json.dumps({"pid": gone.pid, "host": host, "since": time.time()}), px=30_000)
    with Lease(r, key, "the job"):
        assert json.loads(r.get(key) or b"{}")["pid"] != gone.pid
    elsewhere = {"pid": gone.pid, "host": f"not-{host}", "since": time.time()}
    r.set(key, json.dumps(elsewhere), px=30_000)
    with pytest.raises(LeaseHeld, match=f"pid {gone.pid} on not-{host}"):
        Lease(r, key, "the job").__enter__()
    assert json.loads(r.get(key) or b"{}") == elsewhere  # left to run out by itself
    r.delete(key)
