"""Against the peer on a real Qdrant server: vecq end to end vs ``upload_collection``.

    .venv/bin/python -m bench.server --qdrant http://127.0.0.1:6333 --n 200000 --workers 1 2

For each W in ``--workers``: W ``vecq worker`` processes (``--pool``, one task at a time,
``VECQ_WRITE_CONCURRENCY`` requests in flight each) consume while this process runs
``Client(worker=False).upsert(ids, vectors)`` with ``wait=True``, timed from the call to
its return (every point acknowledged by Qdrant). The peer is qdrant-client's
``upload_collection(parallel=W, wait=True)`` over gRPC, at each of ``--batch-sizes``; the
best of them is the one to beat. Both write the same ids and vectors into a fresh
collection of ``--shards`` shards; rounds alternate, the best round of each is reported,
with CPU seconds per 100,000 vectors of the client side (this process, its children and
the workers) and of the Qdrant server (``--qdrant-pid``, else the process named qdrant).
Collections are deleted afterwards. Goal: vecq >= 1.0x the best peer, for each W.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psutil

from bench.common import arguments, broker, data, name, redis_url, verdict
from vecq import Client

GOAL = 1.0
READY_LINE = "vecq worker ready"


def _qdrant_process(pid: int | None) -> psutil.Process | None:
    if pid:
        return psutil.Process(pid)
    for proc in psutil.process_iter(["name"]):
        if proc.info["name"] == "qdrant":
            return proc
    return None


def _cpu(proc: psutil.Process | None) -> float:
    if proc is None:
        return 0.0
    times = proc.cpu_times()
    return float(times.user + times.system)


def _own_cpu() -> float:
    """CPU seconds of this process and of its reaped children (``upload_collection``'s pool)."""
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


@contextmanager
def worker_processes(count: int, env: dict[str, str], pool: str, logs: Path) -> Iterator[list[Any]]:
    """``count`` running ``vecq worker`` processes, ready to consume."""
    procs = []
    for i in range(count):
        log = open(logs / f"worker-{i}.log", "w")  # noqa: SIM115 (closed with the process)
        cmd = [sys.executable, "-m", "vecq.api.cli", "worker", "-c", "1", "-P", pool, "-l", "INFO"]
        procs.append((subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT), log))
    try:
        deadline = time.monotonic() + 60
        for i, (proc, _) in enumerate(procs):
            while READY_LINE not in (logs / f"worker-{i}.log").read_text():
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit((logs / f"worker-{i}.log").read_text()[-3000:])
                time.sleep(0.1)
        yield [psutil.Process(p.pid) for p, _ in procs]
    finally:
        for proc, _ in procs:
            proc.terminate()
        for proc, log in procs:
            proc.wait(30)
            log.close()


def _tree_cpu(procs: list[psutil.Process]) -> float:
    total = 0.0
    for proc in procs:
        for each in [proc, *proc.children(recursive=True)]:
            total += _cpu(each)
    return total


def _vecq(
    url: str,
    qdrant: str,
    args: argparse.Namespace,
    ids: Any,
    vectors: Any,
    workers: list[psutil.Process],
    server: psutil.Process | None,
) -> tuple[float, float, float]:
    with Client(
        redis_url=url,
        broker_url=broker(url),
        qdrant_url=qdrant,
        worker=False,
        max_inflight_bytes=2**31,
    ) as client:
        key = client.generate_key()
        index = client.create_index(
            name("bs"), index_key=key, dimension=args.dim, shards=args.shards, metric="dot"
        )
        cpu0, wcpu0, scpu0 = _own_cpu(), _tree_cpu(workers), _cpu(server)
        start = time.perf_counter()
        index.upsert(ids, vectors)
        elapsed = time.perf_counter() - start
        client_cpu = _own_cpu() - cpu0 + _tree_cpu(workers) - wcpu0
        server_cpu = _cpu(server) - scpu0
        count = index.count()
        client.delete_index(index.name, index_key=key)
    if count != len(ids):
        raise SystemExit(f"vecq stored {count} of {len(ids)} points")
    return elapsed, client_cpu, server_cpu


def _peer(
    qdrant: str,
    args: argparse.Namespace,
    ids: Any,
    vectors: Any,
    workers: int,
    batch: int,
    server: psutil.Process | None,
) -> tuple[float, float, float]:
    from qdrant_client import QdrantClient, models

    client = QdrantClient(
        url=qdrant,
        prefer_grpc=True,
        api_key=os.environ.get("VECQ_QDRANT_API_KEY"),
        check_compatibility=False,
    )
    collection = name("peer")
    client.create_collection(
        collection,
        shard_number=args.shards,
        vectors_config=models.VectorParams(size=args.dim, distance=models.Distance.DOT),
    )
    cpu0, scpu0 = _own_cpu(), _cpu(server)
    start = time.perf_counter()
    client.upload_collection(
        collection, vectors=vectors, ids=ids, batch_size=batch, parallel=workers, wait=True
    )
    elapsed = time.perf_counter() - start
    client_cpu, server_cpu = _own_cpu() - cpu0, _cpu(server) - scpu0
    count = client.count(collection, exact=True).count
    client.delete_collection(collection)
    client.close()
    if count != len(ids):
        raise SystemExit(f"upload_collection stored {count} of {len(ids)} points")
    return elapsed, client_cpu, server_cpu


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print each side's rate, CPU, the ratio and the verdict per W."""
    parser = arguments(__doc__, n=200_000, rounds=2, shards=4)
    parser.add_argument("--qdrant", required=True, help="the Qdrant server's URL")
    parser.add_argument("--qdrant-pid", type=int, default=None, help="its pid, for its CPU")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="W values")
    parser.add_argument(
        "--batch-sizes",
        type=int,
        nargs="+",
        default=[64, 256, 1024, 2048],
        help="upload_collection batch sizes to try",
    )
    parser.add_argument("--pool", default="threads", help="vecq worker pool (threads)")
    parser.add_argument(
        "--write-concurrency",
        type=int,
        default=None,
        help="VECQ_WRITE_CONCURRENCY for the workers (default: theirs)",
    )
    parser.add_argument(
        "--request-points",
        type=int,
        default=None,
        help="VECQ_REQUEST_POINTS for the workers (default: theirs)",
    )
    args = parser.parse_args(argv)
    ids, vectors = data(args.n, args.dim)
    id_list = ids.tolist()
    server = _qdrant_process(args.qdrant_pid)
    per = 100_000 / args.n
    extra = ""
    with redis_url(args.redis) as url, tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        env = {
            **os.environ,
            "VECQ_REDIS_URL": url,
            "VECQ_BROKER_URL": broker(url),
            "VECQ_QDRANT_URL": args.qdrant,
        }
        for option in ("write_concurrency", "request_points"):
            if getattr(args, option) is not None:
                env[f"VECQ_{option.upper()}"] = str(getattr(args, option))
                extra += f" --{option.replace('_', '-')} {getattr(args, option)}"
        print(
            f"command: python -m bench.server --qdrant {args.qdrant} --n {args.n} "
            f"--dim {args.dim} --shards {args.shards} --rounds {args.rounds} --workers "
            f"{' '.join(map(str, args.workers))} --batch-sizes "
            f"{' '.join(map(str, args.batch_sizes))} --pool {args.pool}{extra}",
            flush=True,
        )
        for w in args.workers:
            vecq_runs, peer_runs = [], {b: [] for b in args.batch_sizes}
            with worker_processes(w, env, args.pool, Path(tmp)) as procs:
                for _ in range(args.rounds):
                    vecq_runs.append(_vecq(url, args.qdrant, args, ids, vectors, procs, server))
                    for b in args.batch_sizes:
                        peer_runs[b].append(
                            _peer(args.qdrant, args, id_list, vectors, w, b, server)
                        )
            best = {b: min(runs) for b, runs in peer_runs.items()}
            vecq = min(vecq_runs)
            for b, (t, ccpu, scpu) in best.items():
                print(
                    f"W={w} upload_collection(parallel={w}, batch_size={b}): "
                    f"{args.n / t:8,.0f} vectors/s, client CPU {ccpu * per:5.1f} s, "
                    f"Qdrant CPU {scpu * per:5.1f} s per 100k"
                )
            t, ccpu, scpu = vecq
            print(
                f"W={w} vecq ({w} worker process(es), {args.pool}): {args.n / t:8,.0f} "
                f"vectors/s, client CPU {ccpu * per:5.1f} s, "
                f"Qdrant CPU {scpu * per:5.1f} s per 100k"
            )
            top = min(best.values())[0]
            ratio = top / t
            print(
                f"W={w} ratio vecq/best peer: {ratio:.2f} (goal >= {GOAL}: "
                f"{verdict(ratio >= GOAL)})",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
