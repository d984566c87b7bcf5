"""Memory: the producer's peak RSS for a large upsert, and Redis's peak during a backfill.

    .venv/bin/python -m bench.memory --n 1000000 --dim 768

1. Producer: a child process makes ``n x dim`` float32 vectors and int64 ids, then calls
   ``index.upsert(ids, vectors, wait=False)`` with no worker (the in-flight limit raised
   above the input) on a private Redis. Its peak RSS (``ru_maxrss``) must stay within
   1.25x the input plus 150 MB (the interpreter and its libraries included).
2. Redis: a private Redis, one in-process worker (in-memory Qdrant) and a backfill of
   ``--backfill`` vectors, several times ``--window`` (``max_inflight_bytes``). Redis's
   ``used_memory_peak`` above its level before the backfill must stay within the window
   plus 10%.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

import numpy as np
import redis

from bench.common import broker, name, redis_url, verdict
from vecq import Client

MIB = 2**20


def _child(n: int, dim: int, url: str) -> None:
    """Run in the child: the upsert, then print the figures as JSON."""
    ids = np.arange(n, dtype=np.int64) * 7 + 1
    vectors = np.random.default_rng(0).standard_normal((n, dim), dtype=np.float32)
    before = _rss_now()
    with Client(
        redis_url=url,
        broker_url=broker(url),
        worker=False,
        max_inflight_bytes=2 * vectors.nbytes + 2**30,
    ) as client:
        index = client.create_index(
            name("bm"), index_key=client.generate_key(), dimension=dim, shards=8
        )
        start = time.perf_counter()
        index.upsert(ids, vectors, wait=False)
        seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(
        json.dumps(
            {
                "input": ids.nbytes + vectors.nbytes,
                "before": before,
                "peak": peak,
                "seconds": seconds,
            }
        )
    )


def _rss_now() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize()


def producer_rss(n: int, dim: int) -> dict[str, float]:
    """Run the producer child on a private Redis and return its figures."""
    with redis_url(private=True) as url:
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "bench.memory",
                "--child",
                "--n",
                str(n),
                "--dim",
                str(dim),
                "--redis",
                url,
            ],
            capture_output=True,
            text=True,
            check=True,
        )
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def redis_peak(n: int, dim: int, window: int) -> tuple[int, int]:
    """Backfill ``n`` vectors through a ``window``-byte in-flight limit; Redis peak growth."""
    vectors = np.random.default_rng(1).standard_normal((n, dim), dtype=np.float32)
    with redis_url(private=True) as url:
        r = redis.Redis.from_url(url)
        with Client(
            redis_url=url,
            broker_url=broker(url),
            qdrant_path=":memory:",
            worker=True,
            max_inflight_bytes=window,
        ) as client:
            index = client.create_index(
                name("bm"), index_key=client.generate_key(), dimension=dim, shards=4, metric="dot"
            )
            time.sleep(0.5)  # let the worker settle its connections
            base = int(r.info("memory")["used_memory"])
            index.upsert(np.arange(n), vectors)
            peak = int(r.info("memory")["used_memory_peak"])
        r.close()
    return peak - base, vectors.nbytes


def main(argv: list[str] | None = None) -> int:
    """Run both measures and print them against their goals."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--n", type=int, default=1_000_000, help="producer vectors (1,000,000)")
    parser.add_argument("--dim", type=int, default=768, help="dimension (default 768)")
    parser.add_argument("--backfill", type=int, default=60_000, help="backfill vectors (60,000)")
    parser.add_argument("--window", type=int, default=128, help="in-flight window, MiB (128)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--redis", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        _child(args.n, args.dim, args.redis)
        return 0
    print(
        f"command: python -m bench.memory --n {args.n} --dim {args.dim} "
        f"--backfill {args.backfill} --window {args.window}"
    )
    p = producer_rss(args.n, args.dim)
    limit = 1.25 * p["input"] + 150 * MIB
    print(
        f"producer: input {p['input'] / MIB:,.0f} MiB, RSS before upsert "
        f"{p['before'] / MIB:,.0f} MiB, peak {p['peak'] / MIB:,.0f} MiB "
        f"(upsert {p['seconds']:.1f}s)"
    )
    print(
        f"  peak / (1.25 x input + 150 MiB) = {p['peak'] / limit:.2f} "
        f"(goal <= 1: {verdict(p['peak'] <= limit)})"
    )
    window = args.window * MIB
    growth, size = redis_peak(args.backfill, args.dim, window)
    print(
        f"redis: backfill {size / MIB:,.0f} MiB through a {args.window} MiB window: "
        f"used_memory_peak grew {growth / MIB:,.1f} MiB"
    )
    print(
        f"  growth / (1.1 x window) = {growth / (1.1 * window):.2f} "
        f"(goal <= 1: {verdict(growth <= 1.1 * window)})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
