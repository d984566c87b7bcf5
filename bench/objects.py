"""Object storage as a source: ``vecq ingest`` of a Parquet object vs the same local file.

    .venv/bin/python -m bench.objects --n 1000000 --dim 384

One Parquet file of ``n`` rows (``id``, ``vector`` of ``dim`` float32; row groups of
``--row-group`` rows) is written once (kept in the temporary folder for the next run) and
uploaded to a local S3-compatible server: moto's server mode, in its own process on
loopback. Side by side in alternating rounds, each a ``vecq ingest`` process (embedded:
the service is started before the clock, and each run loads a fresh index), until every
row is written:

1. ``vecq ingest /tmp/....parquet``;
2. ``vecq ingest s3://bench/....parquet`` (pyarrow's S3 filesystem, ranged reads, the endpoint
   from ``AWS_ENDPOINT_URL``; s3fs lists it).

Goals: the object's rows/s >= 0.8x the file's; the ingest process's peak RSS below 500 MB
(both measured, from the kernel's accounting of that process alone: ``wait4``).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.common import arguments, verdict
from vecq import Client
from vecq.api import launcher

GOAL_RATIO = 0.8
GOAL_RSS_MB = 500
BUCKET = "bench"


def parquet_file(n: int, dim: int, row_group: int) -> Path:
    """The bench file, written once per size."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = Path(tempfile.gettempdir()) / f"vecq-bench-objects-{n}-{dim}-{row_group}.parquet"
    if path.exists():
        return path
    print(f"writing {path} ...", flush=True)
    rng = np.random.default_rng(0)
    with pq.ParquetWriter(
        path.with_suffix(".part"),
        pa.schema([("id", pa.int64()), ("vector", pa.list_(pa.float32(), dim))]),
    ) as writer:
        for start in range(0, n, row_group):
            rows = min(row_group, n - start)
            flat = pa.array(rng.standard_normal(rows * dim, dtype=np.float32))
            writer.write_table(
                pa.table(
                    {
                        "id": np.arange(start, start + rows),
                        "vector": pa.FixedSizeListArray.from_arrays(flat, dim),
                    }
                )
            )
    path.with_suffix(".part").rename(path)
    return path


def s3_server(env: dict[str, str]) -> tuple[subprocess.Popen[bytes], str]:
    """moto's S3 server in its own process on a free loopback port."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    endpoint = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return process, endpoint
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def ingest_run(
    source: str, dim: int, data_dir: str, env: dict[str, str], n: int
) -> tuple[float, float]:
    """Rows/s and peak RSS (MB) of one ``vecq ingest`` process loading ``source``."""
    with Client(data_dir=data_dir) as client:
        key = client.generate_key()
        index = client.create_index(f"obj-{time.monotonic_ns()}", index_key=key, dimension=dim)
    key_file = Path(data_dir) / "bench.key"
    key_file.write_text(key.hex())
    command = [
        sys.executable,
        "-m",
        "vecq.api.cli",
        "ingest",
        source,
        "--index",
        index.name,
        "--key-file",
        str(key_file),
    ]
    start = time.perf_counter()
    process = subprocess.Popen(
        command,
        env={**env, "VECQ_DATA_DIR": data_dir},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - start
    if status != 0:
        err = process.stderr.read().decode() if process.stderr else ""
        raise RuntimeError(f"vecq ingest {source} failed: {err[-2000:]}")
    with Client(data_dir=data_dir) as client:
        loaded = client.load_index(index.name, key)
        assert loaded.count() == n, (loaded.count(), n)
        client.delete_index(index.name, key)
    return n / seconds, usage.ru_maxrss / 1024  # Linux: kilobytes


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = arguments(__doc__, n=1_000_000, rounds=1)
    parser.set_defaults(dim=384)
    parser.add_argument(
        "--row-group", type=int, default=50_000, help="rows per Parquet row group (default 50,000)"
    )
    args = parser.parse_args(argv)
    path = parquet_file(args.n, args.dim, args.row_group)
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    server, endpoint = s3_server(env)
    env["AWS_ENDPOINT_URL"] = endpoint
    best: dict[str, float] = {}
    peak: dict[str, float] = {}
    try:
        import boto3

        s3 = boto3.client(
            "s3",
            endpoint_url=endpoint,
            region_name="us-east-1",
            aws_access_key_id="bench",
            aws_secret_access_key="bench",
        )
        s3.create_bucket(Bucket=BUCKET)
        s3.upload_file(str(path), BUCKET, path.name)
        url = f"s3://{BUCKET}/{path.name}"
        with tempfile.TemporaryDirectory() as data_dir:
            try:
                for round_ in range(args.rounds):
                    for label, source in (("local file", str(path)), ("s3 object", url)):
                        rate, rss = ingest_run(source, args.dim, data_dir, env, args.n)
                        best[label] = max(best.get(label, 0.0), rate)
                        peak[label] = max(peak.get(label, 0.0), rss)
                        print(
                            f"round {round_ + 1}: {label}: {rate:,.0f} rows/s, peak RSS "
                            f"{rss:,.0f} MB",
                            flush=True,
                        )
            finally:
                launcher.stop(data_dir)
    finally:
        server.terminate()
        server.wait(10)
    ratio = best["s3 object"] / best["local file"]
    rss = max(peak.values())
    print(
        f"\ncommand: python -m bench.objects --n {args.n} --dim {args.dim} --rounds "
        f"{args.rounds} --row-group {args.row_group} ({path.stat().st_size / 2**20:,.0f} MiB)"
    )
    for label in best:
        print(f"  {label:12} {best[label]:>10,.0f} rows/s   peak RSS {peak[label]:,.0f} MB")
    print(f"  s3 vs local: {ratio:.2f}x (goal >= {GOAL_RATIO}: {verdict(ratio >= GOAL_RATIO)})")
    print(
        f"  peak RSS of the ingest process: {rss:,.0f} MB (goal < {GOAL_RSS_MB} MB: "
        f"{verdict(rss < GOAL_RSS_MB)})"
    )
    return {"ratio": ratio, "rss_mb": rss, **best}


if __name__ == "__main__":
    main(sys.argv[1:])
