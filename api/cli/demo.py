"""``vecq demo``: the whole pipeline on the embedded default, verified end to end."""

from __future__ import annotations

import argparse
import contextlib
import logging
import random
import sys
import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

from api.cli.options import Subparsers
from api.client import Client
from shared.errors import IndexNotLoadedError

INDEX = "demo"


def add_parser(sub: Subparsers) -> None:
    """Register ``vecq demo``."""
    p = sub.add_parser(
        "demo",
        help="run the whole pipeline on the embedded default and verify it",
        description="Creates index 'demo' in the data directory (./.vecq or VECQ_DATA_DIR), "
        "upserts random vectors with items and metadata through Redis and a Celery worker "
        "into Qdrant local mode, then checks the count and a random sample read back. "
        "Exits 1 if anything does not match.",
    )
    p.add_argument("-n", type=int, default=20_000, help="vectors to upsert (default 20000)")
    p.add_argument("--dimension", type=int, default=384, help="vector length (default 384)")
    p.add_argument("--shards", type=int, default=4, help="shard collections (default 4)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Run ``vecq demo``; 0 if everything read back matches."""
    logging.basicConfig(level=logging.WARNING)
    return demo(n=args.n, dimension=args.dimension, shards=args.shards)


def demo(n: int = 20_000, dimension: int = 384, shards: int = 4, samples: int = 200) -> int:
    """Upsert ``n`` random vectors with items and metadata, read a sample back; 0 if all match."""
    rng = np.random.default_rng()
    vectors = rng.standard_normal((n, dimension), dtype=np.float32)
    records = [
        {
            "id": i,
            "vector": vectors[i],
            "item": f"document {i}".encode(),
            "metadata": {"lang": ("en", "de", "fr")[i % 3], "position": i},
        }
        for i in range(n)
    ]
    with Client() as client:
        key = _fresh_index(client)
        index = client.create_index(INDEX, index_key=key, dimension=dimension, shards=shards)
        print(
            f"vecq demo: {n:,} x {dimension}-d vectors into {shards} shards, data in "
            f"{Path(client.settings.data_dir).resolve()}"
        )
        start = time.perf_counter()
        bar = tqdm(total=n, unit="vec", desc="written", smoothing=0.1)
        job = index.upsert(records, wait=False)
        while job.status not in {"done", "failed"}:
            bar.update(job.progress.settled - bar.n)
            time.sleep(0.2)
        bar.update(job.progress.settled - bar.n)
        bar.close()
        job.wait()
        elapsed = time.perf_counter() - start
        problems = _verify(index, vectors, n, samples)
        rate = n / elapsed
        print(f"{n:,} vectors written in {elapsed:.1f}s: {rate:,.0f} vectors/s end to end")
    if problems:
        for p in problems[:10]:
            print("MISMATCH:", p, file=sys.stderr)
        print(f"verification FAILED ({len(problems)} problems)", file=sys.stderr)
        return 1
    print(
        f"verified: count {n:,}, {samples} random points read back with vector, item and "
        "metadata intact"
    )
    print(f"collections vecq__{INDEX}__0..{shards - 1} are readable with plain qdrant-client")
    return 0


def _fresh_index(client: Client) -> bytes:
    """Drop the previous demo index (its key is kept beside the data) and return a new key."""
    key_file = Path(client.settings.data_dir) / "demo.key"
    if key_file.exists():
        with contextlib.suppress(IndexNotLoadedError):
            client.delete_index(INDEX, index_key=key_file.read_bytes())
    key = client.generate_key()
    key_file.write_bytes(key)
    key_file.chmod(0o600)
    return key


def _verify(index: object, vectors: np.ndarray, n: int, samples: int) -> list[str]:
    from api.index import Index

    assert isinstance(index, Index)
    problems = []
    stored = index.count()
    if stored != n:
        problems.append(f"count is {stored}, expected {n}")
    ids = random.sample(range(n), min(samples, n))
    points = {p["id"]: p for p in index.get(ids)}
    for i in ids:
        point = points.get(i)
        if point is None:
            problems.append(f"id {i} missing")
            continue
        # cosine: Qdrant stores the vector normalised
        expected = vectors[i] / np.linalg.norm(vectors[i])
        if not np.allclose(point["vector"], expected, atol=1e-5):
            problems.append(f"id {i}: vector differs")
        if point["item"] != f"document {i}".encode():
            problems.append(f"id {i}: item {point['item']!r}")
        if point["metadata"] != {"lang": ("en", "de", "fr")[i % 3], "position": i}:
            problems.append(f"id {i}: metadata {point['metadata']}")
    return problems
