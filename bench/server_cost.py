"""Where a Qdrant server's CPU goes for vecq's writes, and the server's own limit.

    .venv/bin/python -m bench.server_cost --qdrant http://127.0.0.1:6333 --n 100000 --dim 768

The same ids and vectors over gRPC, every ``UpsertPoints`` request encoded before the clock
starts and sent raw (vecq's own encoder and channel, no client work in the timed part),
``wait=true``, at each pair of ``--request-points`` (0: the size vecq's server engine picks
for the dimension) and ``--concurrency`` (requests in flight). Each form writes into a
fresh collection of ``--shards`` shards, rounds alternate:

- ``plain``: vectors only (what ``upload_collection`` sends for ids and vectors);
- ``seq``: each point's payload ``{"_vecq_seq": s}``, one ``s`` a request;
- ``seq+index``: the same, with the integer payload index vecq makes on ``_vecq_seq``;
- ``vecq``: the same, written on the condition vecq sends (``update_filter``:
  ``_vecq_seq < s``), which is what a vecq worker asks of the server.

Printed per form and setting: vectors/s (the best round) and the server's CPU seconds per
100,000 points (psutil, ``--qdrant-pid`` or the process named ``qdrant``), with the ratio to
``plain`` at the same setting; then each form's best: the server's raw limit on this box.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from bench.common import arguments, data, name
from bench.server import _cpu, _qdrant_process
from vecq.shared import keys
from vecq.shared.config.settings import Settings
from vecq.shared.engines import grpc_wire
from vecq.shared.engines.grpc_channel import UpsertChannel
from vecq.shared.engines.server import (
    GRPC_BYTES_PER_FLOAT,
    MAX_REQUEST_BYTES,
    POINT_OVERHEAD,
    SERVER_REQUEST_POINTS,
)

FORMS = ("plain", "seq", "seq+index", "vecq")


def _requests(
    form: str, collection: str, ids: np.ndarray, vectors: np.ndarray, size: int
) -> list[bytes]:
    """Every request of one form, encoded."""
    from qdrant_client import models
    from qdrant_client.conversions.conversion import RestToGrpc

    out = []
    for seq, lo in enumerate(range(0, len(ids), size), start=1):
        part = ids[lo : lo + size].tolist()
        payloads: list[dict[str, Any]] = (
            [{}] * len(part) if form == "plain" else [{keys.PAYLOAD_SEQ: seq}] * len(part)
        )
        condition = None
        if form == "vecq":
            older = models.FieldCondition(key=keys.PAYLOAD_SEQ, range=models.Range(lt=seq))
            condition = RestToGrpc.convert_filter(models.Filter(must=[older]))
        body = grpc_wire.upsert_request(
            collection, part, vectors[lo : lo + size], payloads, condition
        )
        out.append(body)
    return out


def _send(channel: UpsertChannel, bodies: list[bytes], concurrency: int) -> float:
    """Send every request with ``concurrency`` in flight; the seconds it took."""
    lock = threading.Lock()
    pending = iter(bodies)

    def run() -> None:
        while True:
            with lock:
                body = next(pending, None)
            if body is None:
                return
            channel.upsert(body)

    threads = [threading.Thread(target=run) for _ in range(concurrency)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - start


def _round(
    form: str,
    client: Any,
    channel: UpsertChannel,
    args: Any,
    setting: tuple[int, int],
    ids: np.ndarray,
    vectors: np.ndarray,
    server_cpu: Callable[[], float],
) -> tuple[float, float]:
    """One form into a fresh collection: (vectors/s, server CPU s per 100,000 points)."""
    from qdrant_client import models

    collection = name(f"cost-{form.replace('+', '-')}")
    client.create_collection(
        collection,
        vectors_config=models.VectorParams(size=args.dim, distance=models.Distance.COSINE),
        shard_number=args.shards,
    )
    try:
        if form in ("seq+index", "vecq"):
            client.create_payload_index(
                collection, keys.PAYLOAD_SEQ, models.PayloadSchemaType.INTEGER, wait=True
            )
        size, concurrency = setting
        bodies = _requests(form, collection, ids, vectors, size)
        cpu = server_cpu()
        seconds = _send(channel, bodies, concurrency)
        used = server_cpu() - cpu
        assert client.count(collection, exact=True).count == len(ids)
    finally:
        client.delete_collection(collection)
    return len(ids) / seconds, used / len(ids) * 100_000


def main(argv: list[str] | None = None) -> int:
    from qdrant_client import QdrantClient

    parser = arguments(__doc__, n=100_000, rounds=2, shards=4)
    parser.add_argument("--qdrant", required=True, help="the Qdrant server's URL")
    parser.add_argument("--qdrant-pid", type=int, default=None, help="its pid, for its CPU")
    parser.add_argument("--grpc-port", type=int, default=None, help="its gRPC port (REST + 1)")
    parser.add_argument(
        "--concurrency", type=int, nargs="+", default=[4], help="requests in flight (4)"
    )
    parser.add_argument(
        "--request-points", type=int, nargs="+", default=[0], help="0: vecq's own size"
    )
    args = parser.parse_args(argv)
    per_point = args.dim * GRPC_BYTES_PER_FLOAT + POINT_OVERHEAD + 16
    own = max(1, min(SERVER_REQUEST_POINTS, MAX_REQUEST_BYTES // per_point))
    sizes = [size if size > 0 else own for size in args.request_points]
    settings_grid = [(size, c) for size in sizes for c in args.concurrency]
    port = args.grpc_port or int(args.qdrant.rsplit(":", 1)[1]) + 1
    settings = Settings(qdrant_url=args.qdrant, qdrant_grpc_port=port)
    channel = UpsertChannel(settings, channels=max(args.concurrency))
    client = QdrantClient(
        url=args.qdrant, prefer_grpc=False, timeout=120, check_compatibility=False
    )
    server = _qdrant_process(args.qdrant_pid)
    ids, vectors = data(args.n, args.dim)
    runs: dict[tuple[str, int, int], list[tuple[float, float]]] = {}
    for _ in range(args.rounds):
        for setting in settings_grid:
            for form in FORMS:
                done = _round(
                    form, client, channel, args, setting, ids, vectors, lambda: _cpu(server)
                )
                runs.setdefault((form, *setting), []).append(done)
    channel.close()
    print(
        f"command: python -m bench.server_cost --qdrant {args.qdrant} --n {args.n} --dim "
        f"{args.dim} --shards {args.shards} --rounds {args.rounds} --concurrency "
        f"{' '.join(map(str, args.concurrency))} --request-points {' '.join(map(str, sizes))}"
    )
    best = {k: max(r[0] for r in rounds) for k, rounds in runs.items()}
    cpu = {k: min(r[1] for r in rounds) for k, rounds in runs.items()}
    print(
        f"{'form':<10} {'points':>6} {'inflight':>8} {'vectors/s':>10} {'CPU s/100k':>11} "
        f"{'vs plain':>9}"
    )
    for size, c in settings_grid:
        for form in FORMS:
            k = (form, size, c)
            ratio = cpu[k] / cpu[("plain", size, c)]
            print(f"{form:<10} {size:>6} {c:>8} {best[k]:>10,.0f} {cpu[k]:>11.2f} {ratio:>8.2f}x")
    for form in FORMS:
        top = max((k for k in best if k[0] == form), key=best.__getitem__)
        print(f"best {form}: {best[top]:,.0f} vectors/s at {top[1]} points x {top[2]} in flight")
    if server is None:
        print("(no qdrant process found on this machine: server CPU not measured)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
