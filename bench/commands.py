"""Wall time of embedded ``vecq`` commands, this code against a checkout of older code.

    git worktree add /tmp/vecq-before 36b338b
    .venv/bin/python -m bench.commands --before /tmp/vecq-before --rounds 3

Each command runs as a user runs it (a new ``python -m vecq.api.cli`` process, no VECQ_REDIS_URL,
a fresh data directory per way), alternating between the two checkouts (the older one
through ``PYTHONPATH`` with this virtual environment). Measured: ``vecq --help``, ``vecq
index list`` and ``vecq status``, and ``vecq ingest`` of 20,000 x 384 float32 from Parquet
into an index that exists. "cold": no embedded service is running (this code starts one;
older code always started a private Redis and worker, and stopped them on exit); "warm":
the service is already running (older code has none, so warm is the same as cold there).
The median of the rounds; each round's numbers are printed too.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent.parent
ROWS, DIM = 20_000, 384


def _env(checkout: Path, data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VECQ_")}
    env["VECQ_DATA_DIR"] = str(data_dir)
    env["PYTHONPATH"] = str(checkout)
    return env


def _vecq(checkout: Path, data_dir: Path, *args: str) -> float:
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "vecq.api.cli", *args],
        cwd=checkout,
        env=_env(checkout, data_dir),
        capture_output=True,
        text=True,
    )
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"vecq {' '.join(args)} failed in {checkout}: {done.stderr[-2000:]}")
    return elapsed


def _down(checkout: Path, data_dir: Path) -> None:
    if (checkout / "api" / "cli" / "service.py").exists():
        _vecq(checkout, data_dir, "down")


def _parquet(path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    vectors = np.random.default_rng(7).standard_normal((ROWS, DIM), dtype=np.float32)
    column = pa.FixedSizeListArray.from_arrays(pa.array(vectors.ravel()), DIM)
    pq.write_table(pa.table({"id": np.arange(ROWS), "vector": column}), path)


def _round(checkout: Path, folder: Path, source: Path) -> dict[str, float]:
    data_dir, key = folder / "data", folder / "k.key"
    times: dict[str, float] = {}
    times["--help"] = _vecq(checkout, data_dir, "--help")
    times["index list, cold"] = _vecq(checkout, data_dir, "index", "list")
    times["index list, warm"] = _vecq(checkout, data_dir, "index", "list")
    times["status, warm"] = _vecq(checkout, data_dir, "status")
    _vecq(
        checkout, data_dir, "index", "create", "b", "--dimension", str(DIM), "--key-file", str(key)
    )
    times["ingest 20,000 x 384, warm"] = _vecq(
        checkout, data_dir, "ingest", str(source), "--index", "b", "--key-file", str(key)
    )
    _down(checkout, data_dir)
    times["ingest 20,000 x 384, cold"] = _vecq(
        checkout,
        data_dir,
        "ingest",
        str(source),
        "--index",
        "b",
        "--key-file",
        str(key),
        "--restart",
    )
    _down(checkout, data_dir)
    return times


def main(argv: list[str] | None = None) -> int:
    raw = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=raw)
    parser.add_argument("--before", type=Path, required=True, help="checkout of older code")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    ways = {"before": args.before.resolve(), "now": HERE}
    runs: dict[str, list[dict[str, float]]] = {w: [] for w in ways}
    with tempfile.TemporaryDirectory(prefix="bench-commands-") as tmp:
        source = Path(tmp) / "v.parquet"
        _parquet(source)
        for r in range(args.rounds):
            for way, checkout in ways.items():
                folder = Path(tmp) / f"{way}{r}"
                folder.mkdir()
                runs[way].append(_round(checkout, folder, source))
                print(
                    f"round {r + 1} {way}: "
                    + ", ".join(f"{k} {v:.2f}s" for k, v in runs[way][-1].items()),
                    flush=True,
                )
    print(f"command: python -m bench.commands --before {args.before} --rounds {args.rounds}")
    print(f"{'median wall time (s)':<28} {'before':>8} {'now':>8}")
    for name in runs["now"][0]:
        before = statistics.median(x[name] for x in runs["before"])
        now = statistics.median(x[name] for x in runs["now"])
        print(f"{name:<28} {before:8.2f} {now:8.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
