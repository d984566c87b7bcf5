"""Named and sparse vectors, embedded: a hybrid backfill against a direct Edge loop and
qdrant-client's ``upload_points``, the cost of a second named vector, and the producer.

    .venv/bin/python -m bench.hybrid --n 200000 --dim 768 --nnz 100

Side by side in alternating rounds (the best of each):

1. Hybrid backfill: ``n`` points of a ``dim``-d dense vector ("text") and a sparse vector of
   ``nnz`` nonzeros ("bm25"). vecq: ``Client()`` (the data directory's service, started
   before the clock), ``index.upsert(ids, {"text": ..., "bm25": csr-like list})``,
   ``wait=True``. The direct loop: the same points in the same shard batches and requests,
   written straight into a fresh Edge shard with the same ``_vecq_seq`` payload and
   condition (a memoryview per dense row, Edge's SparseVector per sparse one). Goal: vecq
   >= 0.6x the direct loop. Also qdrant-client's ``upload_points`` of the same points into
   local mode (a smaller ``--local-n``: local mode is a test stand-in, slow by design).
2. A second named vector: vecq end to end with "text" alone vs "text" + "image" (512-d).
3. The producer with sparse vectors: ``upsert(wait=False)`` with no worker, against raw
   ``SET`` of the same bytes (indices as uint32, values as float32, offsets) in the same
   batch sizes. Goal >= 0.6x.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np

from bench.common import arguments, broker, redis_url, verdict
from vecq import Client, SparseSpec, VectorSpec
from vecq.api import launcher
from vecq.api.producer import plan
from vecq.shared import keys
from vecq.shared.config.redis_client import connect
from vecq.shared.config.settings import Settings
from vecq.shared.engines.edge import EdgeEngine
from vecq.shared.points.validation import from_arrays
from vecq.shared.points.vector_schema import Schema
from vecq.shared.state.registry import IndexInfo

GOAL_HYBRID = 0.6
GOAL_PRODUCER = 0.6


def sparse_rows(n: int, nnz: int, seed: int = 1) -> list[tuple[np.ndarray, np.ndarray]]:
    """``n`` sparse vectors of ``nnz`` distinct, sorted indices below 30,000 (a vocabulary):
    one random index in each of ``nnz`` equal buckets."""
    rng = np.random.default_rng(seed)
    stride = 30_000 // nnz
    indices = (np.arange(nnz) * stride + rng.integers(0, stride, (n, nnz))).astype(np.uint32)
    values = rng.random((n, nnz), dtype=np.float32)
    return [(indices[i], values[i]) for i in range(n)]


def _csr(rows: list[tuple[np.ndarray, np.ndarray]]) -> Any:
    from scipy.sparse import csr_matrix

    indptr = np.cumsum([0] + [len(r[0]) for r in rows])
    data = np.concatenate([r[1] for r in rows])
    indices = np.concatenate([r[0] for r in rows]).astype(np.int32)
    return csr_matrix((data, indices, indptr), shape=(len(rows), 30_000))


def _schema(dim: int, image: bool = False) -> dict[str, Any]:
    dense = {"text": VectorSpec(dim, "dot")}
    if image:
        dense["image"] = VectorSpec(512, "dot")
    return {"vectors": dense, "sparse_vectors": {"bm25": SparseSpec()} if not image else None}


def _vecq(
    ids: np.ndarray, columns: dict[str, Any], schema: dict[str, Any], data_dir: Path
) -> float:
    with Client(data_dir=str(data_dir)) as client:
        index = client.create_index("bh", client.generate_key(), shards=4, **schema)
        start = time.perf_counter()
        index.upsert(ids, columns)
        elapsed = time.perf_counter() - start
        assert index.count() == len(ids)
    launcher.stop(data_dir)
    return elapsed


def _direct(ids: np.ndarray, columns: dict[str, Any], dim: int, data_dir: Path) -> float:
    from qdrant_edge import FieldCondition, Filter, Point, RangeFloat, SparseVector, UpdateOperation

    engine = EdgeEngine(data_dir)
    dense, sparse = Schema({"text": VectorSpec(dim, "dot")}, {"bm25": SparseSpec()}).to_json()
    info = IndexInfo(
        name="bd",
        uid="0" * 32,
        dimension=0,
        shards=4,
        metric="dot",
        shard_function=keys.SHARD_FUNCTION,
        key_check="",
        created_at=0.0,
        vectors=dense,
        sparse_vectors=sparse,
    )
    engine.create(info)
    shard = engine.shard(info)
    assert shard is not None
    start = time.perf_counter()
    schema = info.schema
    assert schema is not None
    points = from_arrays(ids, columns, 0, schema=schema)
    text, bm25 = columns["text"], columns["bm25"]
    step = engine.request_points(dim + 2 * len(bm25[0][0]), 0)
    for seq, (_, rows) in enumerate(plan(points, info, Settings()), start=1):
        batch_ids = ids[rows].tolist()
        condition = Filter(must=[FieldCondition(key=keys.PAYLOAD_SEQ, range=RangeFloat(lt=seq))])
        for lo in range(0, len(batch_ids), step):
            part = [
                Point(
                    batch_ids[j],
                    {
                        "text": memoryview(text[row]),  # type: ignore[dict-item]
                        "bm25": SparseVector(bm25[row][0].tolist(), bm25[row][1].tolist()),
                    },
                    {keys.PAYLOAD_SEQ: seq},
                )
                for j, row in enumerate(rows[lo : lo + step].tolist(), start=lo)
            ]
            shard.update(UpdateOperation.upsert_points(part, condition=condition))
    elapsed = time.perf_counter() - start
    engine.close()
    return elapsed


def _upload_points(ids: np.ndarray, columns: dict[str, Any], dim: int) -> float:
    from qdrant_client import QdrantClient, models

    client = QdrantClient(location=":memory:")
    client.create_collection(
        "u",
        vectors_config={"text": models.VectorParams(size=dim, distance=models.Distance.DOT)},
        sparse_vectors_config={"bm25": models.SparseVectorParams()},
    )
    text, bm25 = columns["text"], columns["bm25"]
    start = time.perf_counter()
    points = (
        models.PointStruct(
            id=int(ids[i]),
            payload={keys.PAYLOAD_SEQ: 1},
            vector={
                "text": text[i].tolist(),
                "bm25": models.SparseVector(
                    indices=bm25[i][0].tolist(), values=bm25[i][1].tolist()
                ),
            },
        )
        for i in range(len(ids))
    )
    client.upload_points("u", points, batch_size=256)
    elapsed = time.perf_counter() - start
    assert client.count("u").count == len(ids)
    client.close()
    return elapsed


def _producer(url: str, ids: np.ndarray, columns: dict[str, Any], dim: int) -> float:
    options: dict[str, Any] = {"max_inflight_bytes": 2**34, "worker": False}
    with Client(redis_url=url, broker_url=broker(url), **options) as client:
        index = client.create_index(
            f"bp-{uuid.uuid4().hex[:8]}", client.generate_key(), shards=8, **_schema(dim)
        )
        start = time.perf_counter()
        index.upsert(ids, columns, wait=False)
        elapsed = time.perf_counter() - start
        client.redis.flushdb()  # a bench database (db 14 or a private Redis), no worker
    return elapsed


def _raw(url: str, ids: np.ndarray, columns: dict[str, Any], batch: int) -> float:
    r = connect(Settings(redis_url=url))
    text, bm25 = columns["text"], columns["bm25"]
    start = time.perf_counter()
    for i, lo in enumerate(range(0, len(ids), batch)):
        rows = bm25[lo : lo + batch]
        offsets = np.cumsum([0] + [len(v[0]) for v in rows]).astype(np.int64)
        blob = b"".join(
            [
                ids[lo : lo + batch].tobytes(),
                text[lo : lo + batch].tobytes(),
                offsets.tobytes(),
                *(v[0].tobytes() for v in rows),
                *(v[1].tobytes() for v in rows),
            ]
        )
        r.set(f"bench:raw:{i}", blob)
    elapsed = time.perf_counter() - start
    r.delete(*[f"bench:raw:{i}" for i in range(-(-len(ids) // batch))])
    return elapsed


def main(argv: list[str] | None = None) -> int:
    """Run the three comparisons and print rates, ratios and the goals' verdicts."""
    parser = arguments(__doc__, n=200_000, rounds=2)
    parser.add_argument("--nnz", type=int, default=100, help="sparse nonzeros a point (100)")
    parser.add_argument(
        "--local-n",
        type=int,
        default=20_000,
        help="points for upload_points into local mode (20,000)",
    )
    args = parser.parse_args(argv)
    for var in ("VECQ_REDIS_URL", "VECQ_BROKER_URL", "VECQ_QDRANT_URL", "VECQ_QDRANT_PATH"):
        os.environ.pop(var, None)
    rng = np.random.default_rng(0)
    ids = rng.choice(2**62, size=args.n, replace=False)
    text = rng.standard_normal((args.n, args.dim), np.float32)
    image = rng.standard_normal((args.n, 512), np.float32)
    hybrid = {"text": text, "bm25": sparse_rows(args.n, args.nnz)}
    csr = _csr(hybrid["bm25"])
    kinds = ("vecq", "direct", "one", "two", "prod", "csr", "raw")
    runs: dict[str, list[float]] = {k: [] for k in kinds}
    with tempfile.TemporaryDirectory(prefix="bench-hybrid-") as tmp, redis_url(args.redis) as url:
        for round_ in range(args.rounds):
            where = Path(tmp) / str(round_)
            runs["vecq"].append(_vecq(ids, hybrid, _schema(args.dim), where / "v"))
            runs["direct"].append(_direct(ids, hybrid, args.dim, where / "d"))
            runs["one"].append(
                _vecq(
                    ids,
                    {"text": text},
                    {"vectors": {"text": VectorSpec(args.dim, "dot")}},
                    where / "1",
                )
            )
            runs["two"].append(
                _vecq(
                    ids, {"text": text, "image": image}, _schema(args.dim, image=True), where / "2"
                )
            )
            runs["prod"].append(_producer(url, ids, hybrid, args.dim))
            runs["csr"].append(_producer(url, ids, {"text": text, "bm25": csr}, args.dim))
            runs["raw"].append(_raw(url, ids, hybrid, 2048))
        local_n = min(args.local_n, args.n)
        subset = {"text": text[:local_n], "bm25": hybrid["bm25"][:local_n]}
        local = _upload_points(ids[:local_n], subset, args.dim)
    best = {k: min(v) for k, v in runs.items()}
    n = args.n
    print(
        f"command: python -m bench.hybrid --n {n} --dim {args.dim} --nnz {args.nnz} "
        f"--rounds {args.rounds} --local-n {args.local_n}"
    )
    ratio = best["direct"] / best["vecq"]
    print(
        f"hybrid vecq embedded:   {n / best['vecq']:10,.0f} points/s (dense {args.dim}-d + "
        f"sparse {args.nnz} nonzeros, upsert wait=True, the service)"
    )
    print(f"hybrid direct Edge:     {n / best['direct']:10,.0f} points/s")
    print(
        f"  ratio vecq/direct: {ratio:.2f} (goal >= {GOAL_HYBRID}: {verdict(ratio >= GOAL_HYBRID)})"
    )
    print(f"upload_points, local:   {local_n / local:10,.0f} points/s ({local_n:,} points)")
    print(f"one named vector:       {n / best['one']:10,.0f} points/s ({args.dim}-d)")
    print(
        f"two named vectors:      {n / best['two']:10,.0f} points/s ({args.dim}-d + 512-d; "
        f"{best['one'] / best['two']:.2f}x the rate of one)"
    )
    print(f"raw SET, same bytes:    {n / best['raw']:10,.0f} points/s")
    for kind, given in (("prod", "(indices, values) per row"), ("csr", "a SciPy CSR matrix")):
        ratio = best["raw"] / best[kind]
        print(
            f"producer, sparse as {given}: {n / best[kind]:,.0f} points/s (wait=False, no "
            f"worker): {ratio:.2f}x raw (goal >= {GOAL_PRODUCER}: "
            f"{verdict(ratio >= GOAL_PRODUCER)})"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
