"""``vecq demo``: the whole pipeline on the embedded default, verified end to end."""

from __future__ import annotations

import argparse
import contextlib
import logging
import random
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from vecq.api import defaults
from vecq.api.cli.exits import ExitStatus
from vecq.api.cli.options import Subparsers

if TYPE_CHECKING:  # imported where used, so `vecq --help` stays quick
    import numpy as np

    from vecq.api.client import Client
    from vecq.api.index import Index
    from vecq.shared.config.settings import Settings

INDEX = "demo"
# Sized to show the speed in a few seconds of work on a small machine.
DEFAULT_N = 200_000


def add_parser(sub: Subparsers) -> None:
    """Register ``vecq demo``."""
    p = sub.add_parser(
        "demo",
        help="run the whole pipeline on the embedded default and verify it",
        description="Creates index 'demo' in the data directory (./.vecq or VECQ_DATA_DIR), "
        "upserts random vectors through Redis and a Celery worker into Qdrant Edge (or the "
        "engine VECQ_QDRANT_URL / VECQ_QDRANT_PATH select), reports the rate, checks the count "
        "and a random sample read back (vectors, items, metadata), then searches the data "
        "with Qdrant's own client. Exits 1 if anything does not match.",
    )
    p.add_argument(
        "-n", type=int, default=DEFAULT_N, help="vectors to upsert (default %(default)s)"
    )
    p.add_argument("--dimension", type=int, default=384, help="vector length (default %(default)s)")
    p.add_argument(
        "--shards", type=int, default=defaults.SHARDS, help="shards (default %(default)s)"
    )
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> ExitStatus:
    """Run ``vecq demo``; 0 if everything read back matches."""
    logging.basicConfig(level=logging.WARNING)
    return demo(n=args.n, dimension=args.dimension, shards=args.shards)


def demo(
    n: int = DEFAULT_N, dimension: int = 384, shards: int = 4, samples: int = 200
) -> ExitStatus:
    """Upsert ``n`` random vectors, then a sample with items and metadata; OK if all read back."""
    import numpy as np
    from tqdm import tqdm

    from vecq.api.client import Client

    rng = np.random.default_rng()
    vectors = rng.standard_normal((n, dimension), dtype=np.float32)
    samples = min(samples, n)
    from vecq.api import launcher
    from vecq.shared.config.settings import Settings

    ran_before = launcher.running(Settings.from_env().data_dir) is not None
    with Client() as client:
        key = _fresh_index(client)
        index = client.create_index(INDEX, index_key=key, dimension=dimension, shards=shards)
        settings = client.settings
        where = f"Qdrant {settings.engine} at {settings.engine_location}"
        print(
            f"vecq demo: {n:,} x {dimension}-d vectors in {shards} shards through Redis and "
            f"a Celery worker into {where}"
        )
        start = time.perf_counter()
        bar = tqdm(total=n, unit="vec", unit_scale=True, desc="written", smoothing=0.1)
        job = index.upsert(np.arange(n), vectors, wait=False)
        while job.status not in {"done", "failed"}:
            bar.update(job.progress.settled - bar.n)
            time.sleep(0.2)
        bar.update(job.progress.settled - bar.n)
        bar.close()
        job.wait()
        elapsed = time.perf_counter() - start
        print(f"{n:,} vectors written in {elapsed:.1f}s: {n / elapsed:,.0f} vectors/s end to end")
        # The list form of upsert, with items (encrypted) and metadata, for a sample of ids.
        chosen = random.sample(range(n), samples)
        index.upsert(
            [
                {"id": i, "vector": vectors[i], "item": _item(i), "metadata": _meta(i)}
                for i in chosen
            ]
        )
        problems = _verify(index, vectors, n, chosen)
    searched = not problems and (client.service is None or not ran_before)
    if searched:
        if client.service is not None:  # the demo started it: stop it, so Edge opens the shard
            launcher.stop(settings.data_dir)
        problems = _search(settings, vectors, chosen[0])
    if problems:
        for p in problems[:10]:
            print("MISMATCH:", p, file=sys.stderr)
        print(f"verification FAILED ({len(problems)} problems)", file=sys.stderr)
        return ExitStatus.FAILED
    found = "; a nearest-neighbour search finds its own vector" if searched else ""
    print(
        f"verified: count {n:,}; {samples} random points read back with vector, item and "
        f"metadata intact{found}"
    )
    print(_how_to_open(settings, dimension))
    return ExitStatus.OK


def _item(i: int) -> bytes:
    return f"document {i}".encode()


def _meta(i: int) -> dict[str, str | int]:
    return {"lang": ("en", "de", "fr")[i % 3], "position": i}


def _fresh_index(client: Client) -> bytes:
    """Drop the previous demo index (its key is kept beside the data) and return a new key."""
    from vecq.shared.errors import IndexNotLoadedError

    key_file = Path(client.settings.data_dir) / "demo.key"
    if key_file.exists():
        with contextlib.suppress(IndexNotLoadedError):
            client.delete_index(INDEX, index_key=key_file.read_bytes())
    key = client.generate_key()
    key_file.parent.mkdir(parents=True, exist_ok=True)
    key_file.write_bytes(key)
    key_file.chmod(0o600)
    return key


def _verify(index: Index, vectors: np.ndarray, n: int, chosen: list[int]) -> list[str]:
    import numpy as np

    problems = []
    stored = index.count()
    if stored != n:
        problems.append(f"count is {stored}, expected {n}")
    points = {p["id"]: p for p in index.get(chosen)}
    for i in chosen:
        point = points.get(i)
        if point is None:
            problems.append(f"id {i} missing")
            continue
        # cosine: Qdrant stores the vector normalised
        expected = vectors[i] / np.linalg.norm(vectors[i])
        if not np.allclose(point["vector"], expected, atol=1e-5):
            problems.append(f"id {i}: vector differs")
        if point["item"] != _item(i):
            problems.append(f"id {i}: item {point['item']!r}")
        if point["metadata"] != _meta(i):
            problems.append(f"id {i}: metadata {point['metadata']}")
    return problems


def _search(settings: Settings, vectors: np.ndarray, probe: int) -> list[str]:
    """Search the data with Qdrant's own Edge API (embedded), as any program could."""
    if settings.engine != "edge":
        return []
    from qdrant_edge import EdgeShard, Query, QueryRequest

    shard = EdgeShard.load(str(Path(settings.edge_path) / INDEX))
    try:
        hits = shard.query(QueryRequest(query=Query.Nearest(vectors[probe].tolist()), limit=3))
    finally:
        shard.close()
    if not hits or hits[0].id != probe:
        return [f"searching for id {probe}'s own vector found {[h.id for h in hits]}"]
    return []


def _how_to_open(settings: Settings, dimension: int) -> str:
    if settings.engine == "edge":
        path = (Path(settings.edge_path) / INDEX).resolve()
        return (
            f"the index is a Qdrant Edge shard at {path}; open it (with no vecq process using "
            "it) and search:\n"
            f"  python -c \"from qdrant_edge import *; s = EdgeShard.load('{path}'); "
            "print(s.count(CountRequest()), s.query(QueryRequest(query=Query.Nearest("
            f'[0.1] * {dimension}), limit=3)))"'
        )
    return (
        f"the index is the Qdrant collection {INDEX!r} ({settings.engine_location}): search it "
        "with qdrant-client's query_points"
    )
