"""Bulk mode on a real Qdrant server: time to a searchable, optimized collection.

    .venv/bin/python -m bench.bulk --qdrant http://127.0.0.1:6333 --n 200000 --workers 2

The same load (``--n`` vectors, ``--workers`` ``vecq worker`` processes, ``wait=True``)
twice, alternating: once with indexing on as usual, then waiting until the collection
reports green (the optimizers done, HNSW built); once inside ``with index.bulk():``, which
turns indexing off for the load and on leaving restores it and waits for green itself.
Reported per way: the load's time, the time until green, the total, and the vectors
Qdrant says it indexed; then the ratio of the totals. Both collections are deleted.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import arguments, broker, data, name, redis_url
from bench.server import worker_processes
from vecq import Client

_POLL = 0.2


def _run(
    url: str, qdrant: str, ids: Any, vectors: Any, shards: int, bulk: bool
) -> tuple[float, float, int]:
    from qdrant_client import models

    with Client(
        redis_url=url,
        broker_url=broker(url),
        qdrant_url=qdrant,
        worker=False,
        max_inflight_bytes=2**31,
    ) as client:
        key = client.generate_key()
        index = client.create_index(name("bb"), key, vectors.shape[1], shards=shards, metric="dot")
        engine: Any = client.engine
        start = time.perf_counter()
        if bulk:
            with index.bulk():
                index.upsert(ids, vectors)
                loaded = time.perf_counter() - start
        else:
            index.upsert(ids, vectors)
            loaded = time.perf_counter() - start
        while engine.client.get_collection(index.name).status != models.CollectionStatus.GREEN:
            time.sleep(_POLL)
        total = time.perf_counter() - start
        indexed = engine.client.get_collection(index.name).indexed_vectors_count or 0
        assert index.count() == len(ids)
        client.delete_index(index.name, key)
    return loaded, total, int(indexed)


def main(argv: list[str] | None = None) -> int:
    """Run both ways and print their times and the ratio of the totals."""
    parser = arguments(__doc__, n=200_000, rounds=1, shards=4)
    parser.add_argument("--qdrant", required=True, help="the Qdrant server's URL")
    parser.add_argument("--workers", type=int, default=2, help="vecq worker processes")
    args = parser.parse_args(argv)
    ids, vectors = data(args.n, args.dim)
    runs: dict[bool, list[tuple[float, float, int]]] = {False: [], True: []}
    with redis_url(args.redis) as url, tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        env = {
            **os.environ,
            "VECQ_REDIS_URL": url,
            "VECQ_BROKER_URL": broker(url),
            "VECQ_QDRANT_URL": args.qdrant,
        }
        with worker_processes(args.workers, env, "threads", Path(tmp)):
            for _ in range(args.rounds):
                for bulk in (False, True):
                    runs[bulk].append(_run(url, args.qdrant, ids, vectors, args.shards, bulk))
    print(
        f"command: python -m bench.bulk --qdrant {args.qdrant} --n {args.n} --dim {args.dim} "
        f"--shards {args.shards} --rounds {args.rounds} --workers {args.workers}"
    )
    best = {bulk: min(r, key=lambda run: run[1]) for bulk, r in runs.items()}
    for bulk, (loaded, total, indexed) in best.items():
        way = "bulk()         " if bulk else "indexing on    "
        print(
            f"{way} load {loaded:6.1f}s ({args.n / loaded:8,.0f} vectors/s), green after "
            f"{total:6.1f}s, {indexed:,} vectors indexed"
        )
    print(f"ratio of totals, indexing on / bulk: {best[False][1] / best[True][1]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
