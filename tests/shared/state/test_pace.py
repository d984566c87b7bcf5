"""The fleet's shared pace in Redis: slots, AIMD, the write budget and the optimizer look."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Iterator

import pytest
import redis

from vecq.shared import keys
from vecq.shared.state import pace

POLICY = pace.Aimd(
    lowest=1.0, highest=8.0, initial=2.0, decrease=0.5, latency_factor=3.0, cooldown=10.0
)


@pytest.fixture
def index(r: redis.Redis) -> Iterator[str]:
    """A fresh index name, its pace keys removed afterwards."""
    name = f"pace-{uuid.uuid4().hex[:8]}"
    yield name
    r.delete(keys.pace(name), keys.pace_slots(name), keys.pace_probe(name))


def _take(r: redis.Redis, index: str, now: float = 100.0, lease: float = 60.0) -> tuple[bool, str]:
    token = uuid.uuid4().hex
    taken, _ = pace.acquire(r, index, token, now, lease, POLICY.initial)
    return taken, token


def test_slots_are_handed_out_up_to_the_limit_and_no_further(r: redis.Redis, index: str) -> None:
    """A new index starts at the initial limit: two slots, then a refusal."""
    assert _take(r, index)[0] and _take(r, index)[0]
    assert not _take(r, index)[0]
    state = pace.read(r, index, now=100.0)
    assert state is not None and state.limit == 2.0 and state.in_flight == 2


def test_a_released_slot_can_be_taken_again(r: redis.Redis, index: str) -> None:
    """Giving a slot back (with no signal) makes room for the next request."""
    _, first = _take(r, index)
    _take(r, index)
    pace.release(r, index, first, 101.0, "error", None, POLICY)
    assert _take(r, index)[0]


def test_a_dead_workers_slot_frees_when_its_lease_ends(r: redis.Redis, index: str) -> None:
    """Slots never given back (a killed worker) stop counting once their lease is over."""
    _take(r, index, now=100.0, lease=5.0)
    _take(r, index, now=100.0, lease=5.0)
    assert not _take(r, index, now=104.0)[0]
    assert _take(r, index, now=106.0)[0]


def test_a_throttle_halves_the_limit_once_per_cooldown(r: redis.Redis, index: str) -> None:
    """Many workers throttled at once cost one cut; after the cooldown another throttle cuts."""
    r.hset(keys.pace(index), "limit", 8)
    tokens = [_take(r, index)[1] for _ in range(4)]
    limits = [
        pace.release(r, index, t, 100.0 + i * 0.1, "throttled", None, POLICY)
        for i, t in enumerate(tokens)
    ]
    assert limits == [4.0, 4.0, 4.0, 4.0]
    _, token = _take(r, index, now=111.0)
    assert pace.release(r, index, token, 111.0, "throttled", None, POLICY) == 2.0
    state = pace.read(r, index, now=111.0)
    assert state is not None and state.throttles == 5 and state.cuts == 2


def test_the_limit_never_falls_below_the_lowest(r: redis.Redis, index: str) -> None:
    """Cuts stop at one request in flight: the fleet always makes progress."""
    for i in range(5):
        _, token = _take(r, index, now=100.0 + 20 * i)
        limit = pace.release(r, index, token, 100.0 + 20 * i, "throttled", None, POLICY)
    assert limit == POLICY.lowest


def test_good_requests_grow_the_limit_by_about_one_per_window(r: redis.Redis, index: str) -> None:
    """Additive increase: limit + 1/limit per good request, up to the highest."""
    limits = []
    for _ in range(40):
        _, token = _take(r, index)
        limits.append(pace.release(r, index, token, 100.0, "ok", 0.1, POLICY))
    assert limits[0] == pytest.approx(2.5)
    assert limits[1] == pytest.approx(2.9)
    assert all(b >= a for a, b in itertools.pairwise(limits))
    assert limits[-1] == POLICY.highest


def test_latency_far_above_its_floor_cuts_the_limit(r: redis.Redis, index: str) -> None:
    """A server slowing down (latency per point 10x its floor) is an overload, like a 429."""
    r.hset(keys.pace(index), "limit", 8)
    for _ in range(5):
        _, token = _take(r, index)
        pace.release(r, index, token, 100.0, "ok", 0.1, POLICY)
    before = pace.read(r, index, now=100.0)
    assert before is not None and before.limit == 8.0
    limit = before.limit
    for i in range(10):
        _, token = _take(r, index, now=101.0 + i)
        limit = pace.release(r, index, token, 101.0 + i, "ok", 1.0, POLICY)
    assert limit == 4.0
    after = pace.read(r, index, now=110.0)
    assert after is not None and after.latency_ms is not None and after.latency_ms > 0.3


def test_a_growing_optimizer_backlog_cuts_and_holds_the_limit(r: redis.Redis, index: str) -> None:
    """Backlog rising while the collection is not green: one cut, and no growth until it stops."""
    r.hset(keys.pace(index), "limit", 8)
    assert pace.record_backlog(r, index, 1000, "yellow", 100.0, POLICY) == 8.0  # first look
    assert pace.record_backlog(r, index, 5000, "yellow", 105.0, POLICY) == 4.0
    _, token = _take(r, index, now=106.0)
    assert pace.release(r, index, token, 106.0, "ok", 0.1, POLICY) == 4.0  # held
    assert pace.record_backlog(r, index, 3000, "yellow", 120.0, POLICY) == 4.0  # shrinking
    _, token = _take(r, index, now=121.0)
    assert pace.release(r, index, token, 121.0, "ok", 0.1, POLICY) == pytest.approx(4.25)
    state = pace.read(r, index, now=121.0)
    assert state is not None and state.backlog == 3000 and state.status == "yellow"


def test_a_green_collection_is_never_behind(r: redis.Redis, index: str) -> None:
    """A larger backlog in a green collection (nothing to optimize yet) is no reason to cut."""
    r.hset(keys.pace(index), "limit", 8)
    pace.record_backlog(r, index, 0, "green", 100.0, POLICY)
    assert pace.record_backlog(r, index, 900, "green", 105.0, POLICY) == 8.0


def test_without_a_write_rate_nobody_waits(r: redis.Redis, index: str) -> None:
    """No max_write_rate: every reservation is free."""
    assert pace.reserve(r, index, 10_000, 100.0, burst=1.0) == 0.0


def test_the_write_budget_is_served_in_turn(r: redis.Redis, index: str) -> None:
    """1,000 points/s: a second's burst passes, then each reservation waits for its share."""
    pace.set_max_write_rate(r, index, 1000)
    assert pace.reserve(r, index, 1000, 100.0, burst=1.0) == 0.0
    assert pace.reserve(r, index, 500, 100.0, burst=1.0) == pytest.approx(0.5)
    assert pace.reserve(r, index, 500, 100.0, burst=1.0) == pytest.approx(1.0)
    assert pace.reserve(r, index, 500, 102.0, burst=1.0) == pytest.approx(0.0)
    state = pace.read(r, index, now=102.0)
    assert state is not None and state.max_write_rate == 1000.0


def test_clearing_the_write_rate_ends_the_waits(r: redis.Redis, index: str) -> None:
    """``set_max_write_rate(None)`` removes the budget and its debt."""
    pace.set_max_write_rate(r, index, 10)
    pace.reserve(r, index, 1000, 100.0, burst=1.0)
    pace.set_max_write_rate(r, index, None)
    assert pace.reserve(r, index, 1000, 100.0, burst=1.0) == 0.0


def test_a_negative_write_rate_is_refused(r: redis.Redis, index: str) -> None:
    """A rate below zero is a ValueError naming the rate."""
    with pytest.raises(ValueError, match="-5"):
        pace.set_max_write_rate(r, index, -5)


def test_one_worker_at_a_time_looks_at_the_optimizers(r: redis.Redis, index: str) -> None:
    """The probe claim is exclusive for its period."""
    assert pace.claim_probe(r, index, 5.0)
    assert not pace.claim_probe(r, index, 5.0)


def test_an_index_never_written_to_a_server_has_no_pace(r: redis.Redis, index: str) -> None:
    """``read`` says None rather than inventing a state."""
    assert pace.read(r, index, now=100.0) is None


def test_an_unknown_outcome_is_refused(r: redis.Redis, index: str) -> None:
    """Only ok, throttled and error move the limit."""
    with pytest.raises(ValueError, match="outcome"):
        pace.release(r, index, "t", 100.0, "maybe", None, POLICY)
