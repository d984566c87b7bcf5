"""Soak: produce, consume and kill workers at random for a while, then count what went wrong.

    .venv/bin/python -m bench.soak --minutes 10

Runs a private redis-server (AOF, fsync always), one `vecq worker` process at a time on a
persisted Qdrant Edge folder (or local mode, ``--engine local``; either admits one process),
and a producer that
sends overlapping random id sets with ``wait=False``: upserts (with metadata), deletes and
metadata updates. At random moments the worker is
killed with SIGKILL (or stopped with SIGTERM) and another started. At the end every job
is waited for and a set check compares what the producer was told with what Qdrant
holds, every call applied in call order. Prints lost / stale / phantom / resurrected /
misreported (an update's not-found report) / duplicated counts; exits 1 unless all are zero.
"""

from __future__ import annotations

import argparse
import random
import signal
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import redis

from tests.support.services import RedisServer
from tests.support.tracked import DIM, Tracked, check_stored, producer
from tests.support.workers import Workers
from vecq import UpsertJob, WaitTimeout
from vecq.shared import keys
from vecq.shared.state import deadletters, heartbeats, job_state, pending


def soak(
    seconds: float,
    *,
    seed: int = 0,
    universe: int = 50_000,
    workdir: Path,
    engine: str = "edge",
    settle_timeout: float = 600.0,
) -> int:
    """Run the soak for ``seconds``; print the report; return the process exit status.

    Every job must settle within ``settle_timeout`` seconds of the last call; if one does not,
    the unsettled batches are printed and ``WaitTimeout`` raised.
    """
    rng = random.Random(seed)
    ids_rng = np.random.default_rng(seed)
    server = RedisServer(workdir / "redis").start()
    (workdir / "logs").mkdir()
    pool = Workers(server, workdir / "data", workdir / "logs", engine)
    kills = terms = calls = vectors = deletes = updates = 0
    try:
        # A small in-flight window keeps the producer at the workers' pace (and exercises
        # backpressure across worker deaths) instead of queueing minutes of work.
        options = {
            "batch_size": 512,
            "max_inflight_bytes": 1_000_000,
            "backpressure_timeout": 120.0,
        }
        with producer(server.url, server.broker_url, **options, **pool.location) as client:
            index = client.create_index(
                "soak", index_key=client.generate_key(), dimension=DIM, shards=4, metric="dot"
            )
            tracked = Tracked(index)
            worker = pool.start()
            deadline = time.monotonic() + seconds
            next_kill = time.monotonic() + rng.uniform(2, 6)
            while time.monotonic() < deadline:
                kind = rng.choices(["upsert", "delete", "update"], weights=[6, 2, 2])[0]
                size = rng.choice([1, 10, 200, 1_000, 3_000] if kind == "upsert" else [1, 50, 500])
                ids = ids_rng.choice(universe, size=size, replace=False).astype(np.int64)
                if kind == "upsert":
                    tracked.upsert(ids, metadata=True)
                    vectors += size
                elif kind == "delete":
                    tracked.delete(ids)
                    deletes += size
                else:
                    tracked.update(ids, rng.choice([{"u": calls}, {"w": calls}, {"u": None}]))
                    updates += size
                calls += 1
                time.sleep(rng.uniform(0, 0.05))
                if time.monotonic() >= next_kill:
                    if rng.random() < 0.75:
                        worker.send_signal(signal.SIGKILL)
                        kills += 1
                    else:
                        worker.send_signal(signal.SIGTERM)
                        terms += 1
                    worker.wait(60)
                    time.sleep(rng.uniform(0, 2))
                    worker = pool.start()
                    next_kill = time.monotonic() + rng.uniform(2, 8)
                    print(
                        f"  t={seconds - (deadline - time.monotonic()):6.0f}s calls {calls} "
                        f"vectors {vectors} deletes {deletes} updates {updates} kills {kills} "
                        f"stops {terms}",
                        flush=True,
                    )
            jobs = [job for _, job, _ in tracked.pending]
            settle_started = time.monotonic()
            try:
                tracked.settle_all(timeout=settle_timeout)
            except WaitTimeout:
                _diagnose(client.redis, jobs)
                raise
            settle_seconds = time.monotonic() - settle_started
            overcounted = 0
            for job in jobs:
                state = job.state()
                if state.written + state.failed > state.total or state.settled > state.batches:
                    overcounted += 1
            letters = len(deadletters.entries(client.redis, index=index.name))
            inflight = job_state.inflight(client.redis, index.name)
        pool.stop_all()
        report = check_stored(pool.engine, pool.data_dir, tracked)
        logs = [p.read_text(errors="replace") for p in (workdir / "logs").glob("*.log")]
        reaped = sum(text.count("published it again") for text in logs)
        requeued = sum(text.count("goes back to the queue") for text in logs)
    finally:
        pool.stop_all(kill=True)
        server.stop(kill=True)
    print(
        f"soak {seconds:g}s seed {seed}: {calls} calls, {vectors} vectors upserted, {deletes} "
        f"ids deleted, {updates} ids updated, {kills} SIGKILLs, {terms} SIGTERMs, "
        f"{tracked.interrupted} interrupted calls; drained in {settle_seconds:.0f}s after the "
        "last kill"
    )
    print(
        f"lost {len(report.lost)}  stale {len(report.stale)}  phantom {len(report.phantom)}  "
        f"resurrected {len(report.resurrected)}  misreported {len(report.misreported)}  "
        f"duplicated {len(report.duplicated) + overcounted}  dead-lettered {letters}  "
        f"in-flight bytes left {inflight}  (ids checked {report.checked})"
    )
    print(
        f"recovered by the reaper (messages the broker lost): {reaped}; "
        f"requeued after a task error: {requeued}"
    )
    return 0 if report.ok and overcounted == 0 and letters == 0 and inflight == 0 else 1


def _diagnose(r: redis.Redis, jobs: list[UpsertJob]) -> None:
    """Print every unsettled batch: its state, deliveries, holder, last sign of life, and where
    its blob and message are (queued, or unacknowledged and since when)."""
    holders = {ref.member: worker for ref, worker in pending.holders(r).items()}
    living = heartbeats.alive(r, holders.values())
    queued = b"\x00".join(r.lrange(keys.QUEUE_BULK, 0, -1) + r.lrange(keys.QUEUE_LIVE, 0, -1))
    unacked = {tag: raw for tag, raw in r.hgetall("unacked").items()}
    since = dict(r.zrange("unacked_index", 0, -1, withscores=True))
    now = time.time()
    refs = {(x.job, x.seq): x for x in pending.stale(r, -1e12, 1_000_000)}  # every pending batch
    for job in jobs:
        for seq, state in job_state.batch_states(r, job.job_id).items():
            if state in {"done", "failed"}:
                continue
            ref = refs.get((job.job_id, seq))
            holder = holders.get(ref.member) if ref else None
            score = r.zscore(keys.pending(), ref.member) if ref else None
            where = "queued" if ref and ref.describe().encode() in queued else "not queued"
            for tag, raw in unacked.items():
                if ref and ref.describe().encode() in raw:
                    where += f", unacked {now - since.get(tag, now):.0f}s"
            print(
                f"  unsettled: job {job.job_id} ({job.op}) seq {seq} state {state} "
                f"deliveries {r.hget(keys.job_attempts(job.job_id), str(seq))} "
                f"holder {holder} ({'alive' if holder in living else 'dead'}) "
                f"quiet {now - score if score else -1:.0f}s blob "
                f"{'present' if r.exists(keys.blob(job.index, seq)) else 'missing'}; {where}"
            )
    print(
        f"  queue {r.llen(keys.QUEUE_BULK)} live {r.llen(keys.QUEUE_LIVE)} unacked "
        f"{len(unacked)} live workers {sorted(heartbeats.live(r))}"
    )


def main(argv: list[str] | None = None) -> int:
    """Command line of the soak script."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--minutes", type=float, default=2.0, help="how long to produce and kill")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--universe", type=int, default=50_000, help="distinct ids drawn from")
    parser.add_argument(
        "--engine",
        choices=["edge", "local"],
        default="edge",
        help="Qdrant Edge (default) or qdrant-client's local mode",
    )
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="vecq-soak-") as tmp:
        return soak(
            args.minutes * 60,
            seed=args.seed,
            universe=args.universe,
            workdir=Path(tmp),
            engine=args.engine,
        )


if __name__ == "__main__":
    sys.exit(main())
