"""Latency: one-vector ``upsert(wait=True)``, idle and while a large backfill drains.

    .venv/bin/python -m bench.latency --calls 200 --backfill 200000 --dim 768
    .venv/bin/python -m bench.latency --engine local --backfill 60000   # local mode

A ``vecq worker`` runs in its own process (threads pool, Qdrant Edge in a fresh folder, or
in-memory local mode) on a private Redis. The producer times ``--calls`` one-vector upserts
with ``wait=True``, first with nothing else queued, then again after enqueuing a backfill of
``--backfill`` vectors that keeps the worker busy for the whole measurement (the script
checks). Small
calls take the live lane (``live_max_vectors``), so they are served ahead of the bulk
batches; for comparison, one more call is made with the live lane off, which queues
behind the rest of the backfill. Goals: p99 <= 20 ms idle, and p99 during the backfill
<= 3x idle.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import subprocess
import sys
import tempfile
import time
from typing import IO

import numpy as np

from bench.common import broker, name, redis_url, verdict
from vecq import Client, Index

IDLE_GOAL_MS = 20.0
LOADED_GOAL = 3.0


def _calls(index: Index, calls: int, dim: int, gap: float) -> np.ndarray:
    """Milliseconds of ``calls`` one-vector upserts, ``gap`` seconds apart."""
    vector = [0.5] * dim
    times = []
    for i in range(calls):
        start = time.perf_counter()
        index.upsert([(10**12 + i, vector)])
        times.append((time.perf_counter() - start) * 1e3)
        time.sleep(gap)
    return np.array(times)


def _worker(url: str, log: IO[bytes], engine: str, data_dir: str) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VECQ_")}
    env.update(VECQ_REDIS_URL=url, VECQ_BROKER_URL=broker(url), VECQ_DATA_DIR=data_dir)
    if engine == "local":
        env["VECQ_QDRANT_PATH"] = ":memory:"
    return subprocess.Popen(
        [sys.executable, "-m", "vecq.api.cli", "worker", "-l", "WARNING"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )


def _summary(label: str, ms: np.ndarray) -> str:
    p50, p99 = np.percentile(ms, 50), np.percentile(ms, 99)
    return f"{label}: p50 {p50:6.1f} ms  p99 {p99:6.1f} ms  max {ms.max():6.1f} ms"


def main(argv: list[str] | None = None) -> int:
    """Run both phases and print percentiles against the goals."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--calls", type=int, default=200, help="timed calls per phase (200)")
    parser.add_argument("--backfill", type=int, default=200_000, help="backfill vectors (200,000)")
    parser.add_argument("--dim", type=int, default=768, help="dimension (default 768)")
    parser.add_argument("--gap", type=float, default=0.01, help="seconds between calls (0.01)")
    parser.add_argument(
        "--engine",
        choices=["edge", "local"],
        default="edge",
        help="the worker's engine: Qdrant Edge (default), or local mode",
    )
    args = parser.parse_args(argv)
    with (
        redis_url(private=True) as url,
        tempfile.TemporaryFile() as log,
        tempfile.TemporaryDirectory(prefix="bench-latency-") as data_dir,
    ):
        worker = _worker(url, log, args.engine, data_dir)
        try:
            with Client(
                redis_url=url, broker_url=broker(url), worker=False, data_dir=data_dir
            ) as client:
                index = client.create_index(
                    name("bl"),
                    index_key=client.generate_key(),
                    dimension=args.dim,
                    shards=4,
                    metric="dot",
                )
                _calls(index, 20, args.dim, args.gap)  # warm up: collections, connections
                idle = _calls(index, args.calls, args.dim, args.gap)
                vectors = np.random.default_rng(0).standard_normal(
                    (args.backfill, args.dim), dtype=np.float32
                )
                backfill = index.upsert(np.arange(args.backfill), vectors, wait=False)
                loaded = _calls(index, args.calls, args.dim, args.gap)
                busy = backfill.status != "done"
                # The same call without the live lane queues behind what is left of the backfill.
                client.settings = dataclasses.replace(client.settings, live_max_vectors=0)
                start = time.perf_counter()
                index.upsert([(1, [0.5] * args.dim)])
                no_lane = time.perf_counter() - start
                backfill.wait(600)
        except BaseException:
            log.seek(0)
            print(log.read().decode(errors="replace")[-3000:], file=sys.stderr)
            raise
        finally:
            worker.terminate()
            worker.wait(30)
    print(
        f"command: python -m bench.latency --calls {args.calls} --backfill {args.backfill} "
        f"--dim {args.dim} --gap {args.gap} --engine {args.engine}"
    )
    print(_summary("idle           ", idle))
    print(_summary("during backfill", loaded))
    print(f"one call during the backfill without the live lane: {no_lane * 1e3:,.0f} ms")
    if not busy:
        print("WARNING: the backfill finished before the measurement did; raise --backfill")
    idle_p99, loaded_p99 = np.percentile(idle, 99), np.percentile(loaded, 99)
    print(
        f"idle p99 {idle_p99:.1f} ms (goal <= {IDLE_GOAL_MS:g} ms: "
        f"{verdict(idle_p99 <= IDLE_GOAL_MS)})"
    )
    ratio = loaded_p99 / idle_p99
    print(
        f"p99 during backfill / idle = {ratio:.1f} (goal <= {LOADED_GOAL:g}: "
        f"{verdict(ratio <= LOADED_GOAL and busy)})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
