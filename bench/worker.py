"""Worker throughput: one vecq worker draining queued batches, against a direct upsert loop.

    .venv/bin/python -m bench.worker --n 100000 --dim 768                 # Qdrant Edge
    .venv/bin/python -m bench.worker --engine local --n 50000 --dim 768   # local mode
    .venv/bin/python -m bench.worker --qdrant http://qdrant-node:6333     # against a server

The engine is Qdrant Edge by default (a fresh shard folder each round), or qdrant-client's
in-memory local mode (``--engine local``). With ``--qdrant`` (API key from
``VECQ_QDRANT_API_KEY``) both sides write to that server (gRPC when it answers), and the
collections are deleted afterwards: the per-worker rate against a real node, for the
capacity model in deploy/README.md.

The producer enqueues ``n`` vectors first (not timed). Then, in alternating rounds, one
in-process worker with default settings (one Celery thread, as vecq runs an in-process
engine) drains them into the engine, and a direct loop writes the same decoded batches
into a fresh collection of the same engine, three ways: "same" sends exactly the requests
vecq's sink sends (the same points per request, the ``_vecq_seq`` payload, the conditional
update); "plain" drops payload and condition (what vecq's ordering guarantee costs);
"whole" is plain with one request per batch. Both sides build their points the fastest way
known here (Edge: a memoryview per row). The goal compares with "same". The best round of
each is reported, with the worker's per-stage profile: fetch, decode, validate and ledger
are vecq's own work; encode (building the requests) and sink (the engine's calls) are what
the direct loop does too.
"""

from __future__ import annotations

import sys
import tempfile
import time
from typing import Any

import numpy as np

from bench.common import arguments, broker, data, name, redis_url, verdict
from vecq import Client
from vecq.shared import keys
from vecq.shared.config.settings import Settings
from vecq.shared.engines import open_engine
from vecq.shared.state import job_state
from vecq.shared.state.registry import IndexInfo
from vecq.shared.wire.codec import Batch, decode
from vecq.workers.stage_clock import STAGES
from vecq.workers.thread_worker import ThreadWorker

GOAL = 0.9
OWN_STAGES = ("fetch", "decode", "validate", "ledger")
OWN_GOAL = 0.10


def _enqueue(
    url: str, ids: np.ndarray, vectors: np.ndarray, shards: int
) -> tuple[str, list[Batch]]:
    """Enqueue the data with no worker running; return the job id and the batches as stored."""
    import redis

    with Client(
        redis_url=url,
        broker_url=broker(url),
        worker=False,
        max_inflight_bytes=2 * vectors.nbytes + 2**30,
    ) as client:
        index = client.create_index(
            name("bw"),
            index_key=client.generate_key(),
            dimension=vectors.shape[1],
            shards=shards,
            metric="dot",
        )
        job = index.upsert(ids, vectors, wait=False)
    r = redis.Redis.from_url(url)
    blobs = [r.get(k) for k in sorted(r.scan_iter(f"{keys.PREFIX}:blob:{index.name}:*"))]
    r.close()
    return job.job_id, [decode(b) for b in blobs if b is not None]


def _settings(url: str, engine: str, qdrant_url: str | None, data_dir: str) -> Settings:
    where: dict[str, Any] = {"data_dir": data_dir}
    if qdrant_url:
        where = {"qdrant_url": qdrant_url}
    elif engine == "local":
        where = {"qdrant_path": ":memory:"}
    return Settings.from_env(redis_url=url, broker_url=broker(url), **where)


def _vecq(url: str, job_id: str, settings: Settings) -> tuple[float, dict[str, float]]:
    """Start one worker, time it until the job is settled; return seconds and its stage profile."""
    import redis

    r = redis.Redis.from_url(url)
    worker = ThreadWorker(settings)
    start = time.perf_counter()
    worker.start()
    try:
        while True:
            state = job_state.read(r, job_id)
            if state is not None and state.settled == state.batches:
                break
            # Polling often would steal the GIL from the worker thread and halve its rate.
            time.sleep(0.05)
        elapsed = time.perf_counter() - start
        profile = worker.context.clock.snapshot()
    finally:
        worker.stop()
        r.close()
    return elapsed, profile


def _direct(batches: list[Batch], dim: int, mode: str, settings: Settings) -> float:
    """The same batches upserted by a plain loop, as ``same``, ``plain`` or ``whole`` (above)."""
    engine = open_engine(settings)
    info = IndexInfo(
        name=name("direct"),
        uid="0" * 32,
        dimension=dim,
        shards=1,
        metric="dot",
        shard_function=keys.SHARD_FUNCTION,
        key_check="",
        created_at=0.0,
    )
    engine.create(info)
    write = (
        _edge_write(engine, info, mode)
        if engine.kind == "edge"
        else _client_write(engine, info, mode)
    )
    size = engine.request_points(dim, 32)
    start = time.perf_counter()
    for batch in batches:
        step = len(batch) if mode == "whole" else size
        for lo in range(0, len(batch), step):
            part = slice(lo, lo + step)
            write(batch.ids[part].tolist(), batch.vectors[part], batch.seq)
    elapsed = time.perf_counter() - start
    engine.drop(info)
    engine.close()
    return elapsed


def _edge_write(engine: Any, info: IndexInfo, mode: str) -> Any:
    """A direct Edge write: the shard's own update, points built from memoryview rows."""
    from qdrant_edge import FieldCondition, Filter, Point, RangeFloat, UpdateOperation

    shard = engine.shard(info)

    def write(ids: list[int], vectors: np.ndarray, seq: int) -> None:
        if mode == "same":
            payload = {keys.PAYLOAD_SEQ: seq}
            points = [
                Point(i, memoryview(v), dict(payload)) for i, v in zip(ids, vectors, strict=True)
            ]
            older = Filter(must=[FieldCondition(key=keys.PAYLOAD_SEQ, range=RangeFloat(lt=seq))])
            shard.update(UpdateOperation.upsert_points(points, condition=older))
        else:
            points = [Point(i, memoryview(v)) for i, v in zip(ids, vectors, strict=True)]
            shard.update(UpdateOperation.upsert_points(points))

    return write


def _client_write(engine: Any, info: IndexInfo, mode: str) -> Any:
    """A direct qdrant-client write of the same requests."""
    from qdrant_client import models

    def write(ids: list[int], vectors: np.ndarray, seq: int) -> None:
        same = mode == "same"
        payloads = [{keys.PAYLOAD_SEQ: seq}] * len(ids) if same else None
        older = models.Filter(
            must=[models.FieldCondition(key=keys.PAYLOAD_SEQ, range=models.Range(lt=seq))]
        )
        engine.client.upsert(
            info.collection,
            models.Batch(ids=ids, vectors=vectors.tolist(), payloads=payloads),
            wait=True,
            update_filter=older if same else None,
        )

    return write


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print rates, ratio, profile and whether the goals are met."""
    parser = arguments(__doc__, n=100_000, rounds=3, shards=4)
    parser.add_argument(
        "--engine",
        choices=["edge", "local"],
        default="edge",
        help="Qdrant Edge (default) or local mode in memory",
    )
    parser.add_argument("--qdrant", default=None, help="a Qdrant server URL instead")
    args = parser.parse_args(argv)
    ids, vectors = data(args.n, args.dim)
    vecq_runs: list[tuple[float, dict[str, float]]] = []
    direct_runs: dict[str, list[float]] = {"same": [], "plain": [], "whole": []}
    with redis_url(args.redis) as url, tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        for round_ in range(args.rounds):
            settings = _settings(url, args.engine, args.qdrant, f"{tmp}/{round_}")
            job_id, batches = _enqueue(url, ids, vectors, args.shards)
            vecq_runs.append(_vecq(url, job_id, settings))
            for mode, runs in direct_runs.items():
                runs.append(_direct(batches, args.dim, mode, settings))
            _drop_vecq_indexes(settings)
    vecq, profile = min(vecq_runs, key=lambda run: run[0])
    direct, plain, whole = (min(direct_runs[m]) for m in ("same", "plain", "whole"))
    target = f" --qdrant {args.qdrant}" if args.qdrant else f" --engine {args.engine}"
    print(
        f"command: python -m bench.worker --n {args.n} --dim {args.dim} "
        f"--shards {args.shards} --rounds {args.rounds}{target}"
    )
    where = args.qdrant or {"edge": "Qdrant Edge", "local": "in-memory local mode"}[args.engine]
    print(f"vecq worker:  {args.n / vecq:10,.0f} vectors/s (1 worker, {where})")
    print(f"direct same:  {args.n / direct:10,.0f} vectors/s (the sink's requests, conditional)")
    print(f"direct plain: {args.n / plain:10,.0f} vectors/s (same sizes, no payload or condition)")
    print(f"direct whole: {args.n / whole:10,.0f} vectors/s (plain, one request per batch)")
    ratio = direct / vecq
    print(f"ratio vecq/direct: {ratio:.2f} (goal >= {GOAL}: {verdict(ratio >= GOAL)})")
    total = sum(profile.values())
    print(f"worker time by stage (sum {total:.2f}s of {vecq:.2f}s wall):")
    for stage in STAGES:
        print(f"  {stage:9s} {profile[stage]:7.2f}s {profile[stage] / total:6.1%}")
    own = sum(profile[s] for s in OWN_STAGES) / total
    print(
        f"vecq's own stages ({', '.join(OWN_STAGES)}): {own:.1%} "
        f"(goal <= {OWN_GOAL:.0%}: {verdict(own <= OWN_GOAL)})"
    )
    return 0


def _drop_vecq_indexes(settings: Settings) -> None:
    """Delete what the vecq rounds wrote on a server (bench indexes are ``bw-*``)."""
    if settings.engine != "server":
        return
    engine = open_engine(settings)
    for c in engine.client.get_collections().collections:  # type: ignore[attr-defined]
        if c.name.startswith("bw-"):
            engine.client.delete_collection(c.name)  # type: ignore[attr-defined]
    engine.close()


if __name__ == "__main__":
    sys.exit(main())
