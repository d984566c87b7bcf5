"""Against the peer: vecq end to end versus qdrant-client's ``upload_collection``.

    .venv/bin/python -m bench.peer --n 50000 --dim 768

vecq: ``index.upsert(ids, vectors)`` (``wait=True``) through Redis and one in-process
worker (one thread) into an in-memory local-mode Qdrant: validation, sharding, blobs,
Celery messages, the conditional writes and the ledger, producer and worker overlapping.
The peer: ``QdrantClient(":memory:").upload_collection`` of the same ids and vectors into
one collection, with its defaults (what a user would pick instead). Same process, same
kind of sink, alternating rounds; the best of each. Goal: vecq >= 1.0x.
"""

from __future__ import annotations

import sys
import time

from qdrant_client import QdrantClient, models

from bench.common import arguments, broker, data, name, redis_url, verdict
from vecq import Client

GOAL = 1.0


def _vecq(url: str, ids: object, vectors: object, dim: int, shards: int) -> float:
    with Client(
        redis_url=url, broker_url=broker(url), qdrant_path=":memory:", worker=True
    ) as client:
        index = client.create_index(
            name("bp"), index_key=client.generate_key(), dimension=dim, shards=shards, metric="dot"
        )
        start = time.perf_counter()
        index.upsert(ids, vectors)
        elapsed = time.perf_counter() - start
        assert index.count() == len(ids)  # type: ignore[arg-type]
    return elapsed


def _peer(ids: object, vectors: object, dim: int) -> float:
    qdrant = QdrantClient(location=":memory:")
    params = models.VectorParams(size=dim, distance=models.Distance.DOT)
    qdrant.create_collection("peer", vectors_config=params)
    start = time.perf_counter()
    qdrant.upload_collection("peer", vectors=vectors, ids=ids, wait=True)  # type: ignore[arg-type]
    elapsed = time.perf_counter() - start
    assert qdrant.count("peer").count == len(ids)  # type: ignore[arg-type]
    qdrant.close()
    return elapsed


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print both rates, the ratio and whether the goal is met."""
    args = arguments(__doc__, n=50_000, rounds=2, shards=4).parse_args(argv)
    ids, vectors = data(args.n, args.dim)
    id_list = ids.tolist()  # upload_collection takes any iterable of ids
    vecq_times, peer_times = [], []
    with redis_url(args.redis) as url:
        for _ in range(args.rounds):
            vecq_times.append(_vecq(url, ids, vectors, args.dim, args.shards))
            peer_times.append(_peer(id_list, vectors, args.dim))
    vecq, peer = min(vecq_times), min(peer_times)
    print(
        f"command: python -m bench.peer --n {args.n} --dim {args.dim} --shards {args.shards} "
        f"--rounds {args.rounds}"
    )
    print(f"vecq upsert (end to end): {args.n / vecq:9,.0f} vectors/s (1 worker thread)")
    print(f"upload_collection:        {args.n / peer:9,.0f} vectors/s (defaults)")
    ratio = peer / vecq
    print(f"ratio vecq/peer: {ratio:.2f} (goal >= {GOAL}: {verdict(ratio >= GOAL)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
