"""Why the live lane's p99 rises under a backfill in local mode: the engine's own stalls.

    .venv/bin/python -m bench.local_spikes --n 15008 --dim 768

Upserts ``n`` points into one in-memory local-mode collection, 32 per request (as vecq's
sink does), and prints the median request and the slowest ten with the collection size
at which each happened. Local mode keeps vectors in NumPy arrays that it grows by
doubling, copying everything so far; those requests hold the client's lock (and mostly the
GIL), and a live-lane write that arrives then waits for them.
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np
from qdrant_client import QdrantClient, models


def main(argv: list[str] | None = None) -> int:
    """Time every request and print the median and the ten slowest."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--n", type=int, default=15_008, help="points (default 15,008)")
    parser.add_argument("--dim", type=int, default=768, help="dimension (default 768)")
    args = parser.parse_args(argv)
    vectors = np.random.default_rng(0).standard_normal((args.n, args.dim), dtype=np.float32)
    qdrant = QdrantClient(location=":memory:")
    params = models.VectorParams(size=args.dim, distance=models.Distance.DOT)
    qdrant.create_collection("spikes", vectors_config=params)
    timings = []
    for lo in range(0, args.n, 32):
        ids = list(range(lo, min(lo + 32, args.n)))
        start = time.perf_counter()
        qdrant.upsert("spikes", models.Batch(ids=ids, vectors=vectors[lo : lo + 32].tolist()))
        timings.append((time.perf_counter() - start, lo))
    qdrant.close()
    print(f"command: python -m bench.local_spikes --n {args.n} --dim {args.dim}")
    print(f"median request: {np.median([t for t, _ in timings]) * 1e3:.1f} ms")
    slowest = sorted(timings, reverse=True)[:10]
    print(
        "slowest (ms @ points already stored): "
        + ", ".join(f"{t * 1e3:.0f} @ {at:,}" for t, at in slowest)
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
