"""Producer throughput: ``index.upsert(ids, vectors, wait=False)`` against raw redis-py SETs.

    .venv/bin/python -m bench.producer --n 1000000 --dim 768

Both sides write the same float32 bytes in the same batch sizes to the same Redis, in
alternating rounds (this machine is shared and noisy: only a ratio measured side by side
means anything); the best round of each is reported. The raw side is the floor of any
claim-check design: one SET per batch of vector bytes, nothing else, on a client built as
vecq builds its own (redis-py's Python command packer, which sends a blob as it is; with
hiredis installed redis-py would otherwise copy it twice first). vecq also validates,
shards, encodes with a checksum, writes the ledger and publishes one Celery message per
batch. No worker runs, so the in-flight limit is raised above the whole input.
"""

from __future__ import annotations

import resource
import sys
import time
import uuid
from collections.abc import Callable

import numpy as np
import redis

from bench.common import arguments, broker, redis_url
from vecq import Client
from vecq.api.producer import fit_size_class
from vecq.shared.config.redis_client import connect
from vecq.shared.config.settings import Settings

GOAL = 0.8


def _raw(r: redis.Redis, vectors: np.ndarray, batch: int) -> float:
    start = time.perf_counter()
    for i, lo in enumerate(range(0, len(vectors), batch)):
        r.set(f"bench:raw:{i}", vectors[lo : lo + batch].tobytes())
    return time.perf_counter() - start


def _vecq(client: Client, ids: np.ndarray, vectors: np.ndarray, dim: int) -> float:
    index = client.create_index(
        f"bench-{uuid.uuid4().hex[:8]}", index_key=client.generate_key(), dimension=dim, shards=8
    )
    start = time.perf_counter()
    index.upsert(ids, vectors, wait=False)
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the rates, the ratio and whether the goal is met."""
    args = arguments(__doc__, n=1_000_000, rounds=3).parse_args(argv)
    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((args.n, args.dim), dtype=np.float32)
    ids = rng.choice(2**62, size=args.n, replace=False)
    raw_times, vecq_times = [], []
    with redis_url(args.redis) as url:
        r = connect(Settings(redis_url=url))
        options = {"max_inflight_bytes": 2 * vectors.nbytes + 2**30, "worker": False}
        with Client(redis_url=url, broker_url=broker(url), **options) as client:  # type: ignore[arg-type]
            # The rows vecq puts in a full batch (sized to fill a Redis allocation class).
            row = 8 + 4 * args.dim
            limit = min(client.settings.batch_size, client.settings.batch_max_bytes // row)
            batch = fit_size_class(limit, row)
            for _ in range(args.rounds):
                r.flushdb()
                raw_times.append(_cpu(r, lambda: _raw(r, vectors, batch)))
                r.flushdb()
                vecq_times.append(_cpu(r, lambda: _vecq(client, ids, vectors, args.dim)))
            r.flushdb()
        r.close()
    (raw, raw_cpu, raw_redis), (vecq, vecq_cpu, vecq_redis) = min(raw_times), min(vecq_times)
    ratio = raw / vecq
    command = f"python -m bench.producer --n {args.n} --dim {args.dim} --rounds {args.rounds}"
    print(f"command: {command}")
    mib_s = vectors.nbytes / raw / 2**20
    print(f"raw SET:      {args.n / raw:12,.0f} vectors/s  ({mib_s:,.0f} MiB/s)")
    print(f"vecq upsert:  {args.n / vecq:12,.0f} vectors/s  (wait=False, {batch} per batch)")
    verdict = "met" if ratio >= GOAL else "MISSED"
    print(f"ratio vecq/raw: {ratio:.2f} (goal >= {GOAL}: {verdict})")
    print(
        f"CPU seconds, this process / Redis: raw {raw_cpu:.2f} / {raw_redis:.2f}, "
        f"vecq {vecq_cpu:.2f} / {vecq_redis:.2f} (wall {raw:.2f} / {vecq:.2f})"
    )
    return 0


def _cpu(r: redis.Redis, run: Callable[[], float]) -> tuple[float, float, float]:
    """Run, returning (wall seconds, this process's CPU seconds, the Redis server's)."""
    before = _cpu_now(r)
    wall = run()
    after = _cpu_now(r)
    return wall, after[0] - before[0], after[1] - before[1]


def _cpu_now(r: redis.Redis) -> tuple[float, float]:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    info = r.info("cpu")
    return usage.ru_utime + usage.ru_stime, info["used_cpu_user"] + info["used_cpu_sys"]


if __name__ == "__main__":
    sys.exit(main())
