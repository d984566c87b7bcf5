"""Worker throughput: one vecq worker draining queued batches, against a direct upsert loop.

    .venv/bin/python -m bench.worker --n 50000 --dim 768
    .venv/bin/python -m bench.worker --qdrant http://qdrant-node:6333   # against a server

With ``--qdrant`` (API key from ``VECQ_QDRANT_API_KEY``) both sides write to that server
(gRPC when it answers) instead of in-memory local mode, one request per batch as vecq's sink
sends them to a server, and the collections are deleted afterwards: the per-worker rate
against a real node, for the capacity model in deploy/README.md.

The producer enqueues ``n`` vectors first (not timed). Then, in alternating rounds, one
in-process worker with default settings (one Celery thread, as vecq runs local mode)
drains them into an in-memory local-mode Qdrant, and a direct loop calls
``QdrantClient.upsert`` on the same decoded batches into another
in-memory Qdrant, three ways: "same" sends exactly the requests vecq's sink sends (the
same points per request, the ``_vecq_seq`` payload, the conditional ``update_filter``);
"plain" drops payload and condition (what vecq's ordering guarantee costs); "whole" is
plain with one request per batch. The goal compares with "same". The best round of each
is reported, with the worker's per-stage profile: fetch, decode, validate and ledger are
vecq's own work; encode (building qdrant-client's request objects) and sink (the upsert
calls) are what the direct loop does too.
"""

from __future__ import annotations

import sys
import time

import numpy as np
from qdrant_client import QdrantClient, models

from api import Client
from bench.common import arguments, broker, data, name, redis_url, verdict
from shared import keys, ledger
from shared.codec import Batch, decode
from shared.qdrant import open_qdrant
from shared.settings import Settings
from workers.sink import LOCAL_REQUEST_POINTS, newer_only
from workers.stage_clock import STAGES
from workers.thread_worker import ThreadWorker

GOAL = 0.9
OWN_STAGES = ("fetch", "decode", "validate", "ledger")
OWN_GOAL = 0.10


def _enqueue(
    url: str, ids: np.ndarray, vectors: np.ndarray, shards: int
) -> tuple[str, list[Batch]]:
    """Enqueue the data with no worker running; return the job id and the batches as stored."""
    import redis

    with Client(redis_url=url, broker_url=broker(url), worker=False,
                max_inflight_bytes=2 * vectors.nbytes + 2**30) as client:  # fmt: skip
        index = client.create_index(name("bw"), index_key=client.generate_key(),
                                    dimension=vectors.shape[1], shards=shards,
                                    metric="dot")  # fmt: skip
        job = index.upsert(ids, vectors, wait=False)
    r = redis.Redis.from_url(url)
    blobs = [r.get(k) for k in sorted(r.scan_iter(f"{keys.PREFIX}:blob:{index.name}:*"))]
    r.close()
    return job.job_id, [decode(b) for b in blobs if b is not None]


def _vecq(url: str, job_id: str, qdrant_url: str | None) -> tuple[float, dict[str, float]]:
    """Start one worker, time it until the job is settled; return seconds and its stage profile."""
    import redis

    settings = Settings.from_env(
        redis_url=url,
        broker_url=broker(url),
        qdrant_url=qdrant_url,
        qdrant_path=None if qdrant_url else ":memory:",
    )
    r = redis.Redis.from_url(url)
    worker = ThreadWorker(settings)
    start = time.perf_counter()
    worker.start()
    try:
        while True:
            state = ledger.read(r, job_id)
            if state is not None and state.settled == state.batches:
                break
            # Polling often would steal the GIL from the worker thread and halve its rate.
            time.sleep(0.05)
        elapsed = time.perf_counter() - start
        profile = worker.app.vecq_context().clock.snapshot()
    finally:
        worker.stop()
        r.close()
    return elapsed, profile


def _qdrant(qdrant_url: str | None) -> QdrantClient:
    if qdrant_url is None:
        return QdrantClient(location=":memory:")
    return open_qdrant(Settings.from_env(qdrant_url=qdrant_url))  # type: ignore[no-any-return]


def _direct(
    batches: list[Batch], dim: int, shards: int, mode: str, qdrant_url: str | None
) -> float:
    """The same batches upserted by a plain loop, as ``same``, ``plain`` or ``whole`` (above)."""
    qdrant = _qdrant(qdrant_url)
    params = models.VectorParams(size=dim, distance=models.Distance.DOT)
    for shard in range(shards):
        if qdrant.collection_exists(f"direct{shard}"):
            qdrant.delete_collection(f"direct{shard}")
        qdrant.create_collection(f"direct{shard}", vectors_config=params)
    start = time.perf_counter()
    for batch in batches:
        whole = mode == "whole" or qdrant_url is not None
        size = len(batch) if whole else LOCAL_REQUEST_POINTS
        condition = newer_only(batch.seq) if mode == "same" else None
        for lo in range(0, len(batch), size):
            part = slice(lo, lo + size)
            qdrant.upsert(
                f"direct{batch.shard}",
                models.Batch(
                    ids=batch.ids[part].tolist(),
                    vectors=batch.vectors[part].tolist(),
                    payloads=[{keys.PAYLOAD_SEQ: batch.seq}] * len(batch.ids[part])
                    if mode == "same"
                    else None,
                ),
                wait=True,
                update_filter=condition,
            )
    elapsed = time.perf_counter() - start
    if qdrant_url is not None:
        for shard in range(shards):
            qdrant.delete_collection(f"direct{shard}")
    qdrant.close()
    return elapsed


def _drop_vecq_collections(qdrant_url: str | None, shards: int) -> None:
    """Delete the server collections the vecq rounds wrote (bench indexes are ``bw-*``)."""
    if qdrant_url is None:
        return
    qdrant = _qdrant(qdrant_url)
    for c in qdrant.get_collections().collections:
        if c.name.startswith(f"{keys.PREFIX}__bw-"):
            qdrant.delete_collection(c.name)
    qdrant.close()


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print rates, ratio, profile and whether the goals are met."""
    parser = arguments(__doc__, n=50_000, rounds=3, shards=4)
    parser.add_argument("--qdrant", default=None, help="a Qdrant server URL (default: in memory)")
    args = parser.parse_args(argv)
    ids, vectors = data(args.n, args.dim)
    vecq_runs: list[tuple[float, dict[str, float]]] = []
    direct_runs: dict[str, list[float]] = {"same": [], "plain": [], "whole": []}
    with redis_url(args.redis) as url:
        for _ in range(args.rounds):
            job_id, batches = _enqueue(url, ids, vectors, args.shards)
            vecq_runs.append(_vecq(url, job_id, args.qdrant))
            for mode, runs in direct_runs.items():
                runs.append(_direct(batches, args.dim, args.shards, mode, args.qdrant))
            _drop_vecq_collections(args.qdrant, args.shards)
    vecq, profile = min(vecq_runs, key=lambda run: run[0])
    direct, plain, whole = (min(direct_runs[m]) for m in ("same", "plain", "whole"))
    server = f" --qdrant {args.qdrant}" if args.qdrant else ""
    print(f"command: python -m bench.worker --n {args.n} --dim {args.dim} "
          f"--shards {args.shards} --rounds {args.rounds}{server}")  # fmt: skip
    target = args.qdrant or "in-memory Qdrant"
    print(f"vecq worker:  {args.n / vecq:10,.0f} vectors/s (1 worker, {target})")
    print(f"direct same:  {args.n / direct:10,.0f} vectors/s (the sink's requests, conditional)")
    print(f"direct plain: {args.n / plain:10,.0f} vectors/s ({LOCAL_REQUEST_POINTS} per request, "
          "no payload or condition)")  # fmt: skip
    print(f"direct whole: {args.n / whole:10,.0f} vectors/s (plain, one request per batch)")
    ratio = direct / vecq
    print(f"ratio vecq/direct: {ratio:.2f} (goal >= {GOAL}: {verdict(ratio >= GOAL)})")
    total = sum(profile.values())
    print(f"worker time by stage (sum {total:.2f}s of {vecq:.2f}s wall):")
    for stage in STAGES:
        print(f"  {stage:9s} {profile[stage]:7.2f}s {profile[stage] / total:6.1%}")
    own = sum(profile[s] for s in OWN_STAGES) / total
    print(f"vecq's own stages ({', '.join(OWN_STAGES)}): {own:.1%} "
          f"(goal <= {OWN_GOAL:.0%}: {verdict(own <= OWN_GOAL)})")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
