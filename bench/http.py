"""HTTP API enqueue throughput: binary and JSON bodies against the library's own upsert.

    .venv/bin/python -m bench.http --n 100000 --dim 768

In alternating rounds, the same vectors are enqueued (``wait=False``, no worker running,
a private Redis) four ways: the library's ``index.upsert(ids, vectors)``; ``POST
/vectors`` with an ``.npy`` body (ids from ``?id_start``); the same with an Arrow IPC body;
and ``POST /upsert`` with JSON in the seed's format (on ``--json-n`` vectors only: JSON
numbers are slow by nature). Each request carries ``--chunk`` vectors. The server is a
``vecq serve --no-auth`` process of its own; the bodies are encoded before the clock
starts (a real client is another machine, and its encoding is its own cost), but client
and server share this machine's two cores. The goal: an ``.npy`` body within 0.6x of the
library's rate (the body crosses a socket and is parsed once more).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator

import httpx
import numpy as np
import pyarrow as pa

from bench.common import arguments, broker, data, name, redis_url, verdict
from tests.support.services import free_port
from vecq import Client

GOAL = 0.6


def _npy(ids: np.ndarray, vectors: np.ndarray) -> tuple[bytes, str, dict[str, int]]:
    body = io.BytesIO()
    np.save(body, vectors)
    return body.getvalue(), "application/x-npy", {"id_start": int(ids[0])}


def _arrow(ids: np.ndarray, vectors: np.ndarray) -> tuple[bytes, str, dict[str, int]]:
    column = pa.FixedSizeListArray.from_arrays(pa.array(vectors.reshape(-1)), vectors.shape[1])
    table = pa.table({"id": ids, "vector": column})
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes(), "application/vnd.apache.arrow.stream", {}


def _json(ids: np.ndarray, vectors: np.ndarray) -> tuple[bytes, str, dict[str, int]]:
    items = [{"id": int(i), "vector": v} for i, v in zip(ids, vectors.tolist(), strict=True)]
    return json.dumps({"items": items}).encode(), "application/json", {}


ENCODERS: dict[str, Callable[[np.ndarray, np.ndarray], tuple[bytes, str, dict[str, int]]]] = {
    "npy": _npy,
    "arrow": _arrow,
    "json": _json,
}


@contextlib.contextmanager
def _server(url: str) -> Iterator[str]:
    """``vecq serve --no-auth`` in its own process on ``url``'s Redis, no worker; its base URL."""
    port = free_port()
    with tempfile.TemporaryDirectory() as data:
        env = {
            **os.environ,
            "VECQ_REDIS_URL": url,
            "VECQ_BROKER_URL": broker(url),
            "VECQ_DATA_DIR": data,
            "VECQ_MAX_INFLIGHT_BYTES": str(2**40),
            "VECQ_LIVE_MAX_VECTORS": "0",
        }
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "vecq.api.cli",
                "serve",
                "--no-auth",
                "--port",
                str(port),
                "--max-body-mb",
                "2048",
                "--log-level",
                "WARNING",
            ],
            env=env,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 60
            while True:
                with contextlib.suppress(httpx.TransportError):
                    if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                        break
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("vecq serve did not start")
                time.sleep(0.2)
            yield base
        finally:
            proc.terminate()
            proc.wait(30)


def _library(client: Client, ids: np.ndarray, vectors: np.ndarray, chunk: int) -> float:
    index = client.create_index(name("bh"), client.generate_key(), dimension=vectors.shape[1])
    start = time.perf_counter()
    for lo in range(0, len(ids), chunk):
        index.upsert(ids[lo : lo + chunk], vectors[lo : lo + chunk], wait=False)
    return time.perf_counter() - start


def _http(
    client: Client, base: str, kind: str, ids: np.ndarray, vectors: np.ndarray, chunk: int
) -> float:
    key = client.generate_key()
    index = client.create_index(name("bh"), key, dimension=vectors.shape[1])
    route = "upsert" if kind == "json" else "vectors"
    # Bodies are made before the clock starts: a real client is another machine, and its
    # encoding is its own cost, not the server's.
    bodies = [
        ENCODERS[kind](ids[lo : lo + chunk], vectors[lo : lo + chunk])
        for lo in range(0, len(ids), chunk)
    ]
    with httpx.Client(base_url=base, headers={"X-Index-Key": key.hex()}, timeout=300) as http:
        start = time.perf_counter()
        for body, content_type, params in bodies:
            got = http.post(
                f"/v1/indexes/{index.name}/{route}",
                content=body,
                params=params,
                headers={"Content-Type": content_type},
            )
            if got.status_code != 202:
                raise RuntimeError(f"{kind}: {got.status_code} {got.text[:200]}")
        return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print each path's rate and the goal's verdict."""
    parser = arguments(__doc__, n=100_000, rounds=3)
    parser.add_argument("--chunk", type=int, default=10_000, help="vectors per request (10,000)")
    parser.add_argument("--json-n", type=int, default=5_000, help="vectors sent as JSON (5,000)")
    args = parser.parse_args(argv)
    ids, vectors = data(args.n, args.dim)
    ids = np.arange(len(ids), dtype=np.int64)  # consecutive, so .npy bodies can use id_start
    json_n = min(args.json_n, args.n)
    best: dict[str, float] = {}
    with (
        redis_url(args.redis, private=True) as url,
        Client(
            redis_url=url,
            broker_url=broker(url),
            worker=False,
            max_inflight_bytes=2**40,
            live_max_vectors=0,
        ) as client,
        _server(url) as base,
    ):
        for _ in range(args.rounds):
            runs = {
                "library": _library(client, ids, vectors, args.chunk),
                "npy": _http(client, base, "npy", ids, vectors, args.chunk),
                "arrow": _http(client, base, "arrow", ids, vectors, args.chunk),
            }
            json_rate = _http(
                client, base, "json", ids[:json_n], vectors[:json_n], min(args.chunk, 1_000)
            )
            for path, seconds in runs.items():
                best[path] = min(best.get(path, float("inf")), seconds)
            best["json"] = min(best.get("json", float("inf")), json_rate)
    print(
        f"command: python -m bench.http --n {args.n} --dim {args.dim} --rounds {args.rounds} "
        f"--chunk {args.chunk} --json-n {args.json_n}"
    )
    rates = {p: (json_n if p == "json" else args.n) / s for p, s in best.items()}
    print(f"library upsert: {rates['library']:10,.0f} vectors/s")
    print(f"HTTP .npy:      {rates['npy']:10,.0f} vectors/s ({args.chunk:,} per request)")
    print(f"HTTP Arrow:     {rates['arrow']:10,.0f} vectors/s")
    print(
        f"HTTP JSON:      {rates['json']:10,.0f} vectors/s ({min(args.chunk, 1000):,} per "
        f"request, {json_n:,} vectors)"
    )
    ratio = rates["npy"] / rates["library"]
    print(f"ratio .npy/library: {ratio:.2f} (goal >= {GOAL}: {verdict(ratio >= GOAL)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
