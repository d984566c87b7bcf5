"""Dead letters do not stay for ever: a retention period, a cap, removal with their index,
and a word (status, metric) when they hold back an index's marks."""

from __future__ import annotations

import time
import uuid

import redis

from vecq import Client
from vecq.api.cli.status import render
from vecq.shared import keys
from vecq.shared.state import deadletters, stats

DAY = 86400.0


def _letter(r: redis.Redis, index: str, seq: int, age_days: float) -> str:
    """A batch dead letter of ``index`` dated ``age_days`` ago, with its kept blob."""
    millis = int((time.time() - age_days * DAY) * 1000)
    fields = {
        "kind": "batch",
        "index": index,
        "seq": str(seq),
        "shard": "0",
        "n": "1",
        "size": "8",
        "reason": "test",
        "failures": "[]",
    }
    entry = r.xadd(keys.dlq(), fields, id=f"{millis}-{seq}")  # type: ignore[arg-type]
    r.set(keys.dlq_blob(index, seq), b"blob")
    r.zadd(keys.held_seqs(index), {f"b:{seq}": seq})
    return entry.decode() if isinstance(entry, bytes) else str(entry)


def _clean(r: redis.Redis) -> None:
    r.delete(keys.dlq())


def test_letters_past_their_retention_are_purged_with_their_blobs(r: redis.Redis) -> None:
    """Older than the retention: gone, blob and hold included; younger ones stay."""
    _clean(r)
    name = f"dl-{uuid.uuid4().hex[:8]}"
    _letter(r, name, 1, age_days=20)
    _letter(r, name, 2, age_days=15)
    kept = _letter(r, name, 3, age_days=1)
    assert deadletters.expire(r, 14 * DAY, 100_000) == 2
    assert [e.entry_id for e in deadletters.entries(r)] == [kept]
    assert not r.exists(keys.dlq_blob(name, 1)) and r.exists(keys.dlq_blob(name, 3))
    assert r.zrange(keys.held_seqs(name), 0, -1) == [b"b:3"]
    assert deadletters.expire(r, 0, 100_000) == 0  # 0: kept for ever


def test_the_oldest_beyond_the_cap_are_purged(r: redis.Redis) -> None:
    _clean(r)
    name = f"dl-{uuid.uuid4().hex[:8]}"
    for seq in range(1, 6):
        _letter(r, name, seq, age_days=1 - seq / 100)
    assert deadletters.expire(r, 14 * DAY, 2) == 3
    assert [e.seq for e in deadletters.entries(r)] == [4, 5]


def test_deleting_an_index_purges_its_dead_letters(
    r: redis.Redis, client: Client, key: bytes
) -> None:
    """delete_index leaves no dead letter (nor blob) of the index; another index's stay."""
    _clean(r)
    name = f"dl-{uuid.uuid4().hex[:8]}"
    client.create_index(name, key, dimension=3)
    _letter(r, name, 7, age_days=0)
    other = _letter(r, "someone-else", 8, age_days=0)
    client.delete_index(name, key)
    assert [e.entry_id for e in deadletters.entries(r)] == [other]
    assert not r.exists(keys.dlq_blob(name, 7))


def test_status_says_which_dead_letters_hold_back_marks(r: redis.Redis) -> None:
    """An index with dead letters and kept tombstones: a status line and a metric say so."""
    _clean(r)
    name = f"dl-{uuid.uuid4().hex[:8]}"
    r.sadd(keys.index_set(), name)
    r.hset(keys.index(name), mapping={"name": name})
    _letter(r, name, 4, age_days=0)
    r.hset(keys.tombstones(name), mapping={"1": "9", "2": "9"})
    snapshot = stats.read(r, jobs=0)
    assert snapshot.held_marks[name] == (1, 2)
    assert f"{name}: 1 dead letter(s) hold back 2 marks" in render(snapshot)
    gauges = {g[0]: g[3] for g in stats.gauges(snapshot)}
    assert gauges["vecq_marks_held_by_dead_letters"] == [((name,), 2.0)]
    r.srem(keys.index_set(), name)
